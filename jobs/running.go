package jobs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// TenantRunning is how many jobs of one tenant run now.
type TenantRunning struct {
	Tenant string
	// Tier is the tenant's tier when its jobs were submitted ("" for a job
	// of an older build, which did not record it).
	Tier string
	Jobs int
}

// PublishRunning records what a worker process runs now, per tenant, for
// ttl: a worker that dies stops counting once its record expires. An empty
// running removes the record. One round trip (a MULTI on one hash slot);
// the worker calls it at most once a period, and only while it runs jobs
// or just after its last one ended, so an idle worker writes nothing.
func (s *Store) PublishRunning(ctx context.Context, worker string, running []TenantRunning, ttl time.Duration) error {
	key := runningKey(worker)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if len(running) == 0 {
			p.SRem(ctx, runningIndexKey, worker)
			return nil
		}
		fields := make([]any, 0, 2*len(running))
		for _, r := range running {
			// "<jobs> <tier>": a tier has no space.
			fields = append(fields, r.Tenant, strconv.Itoa(r.Jobs)+" "+r.Tier)
		}
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, ttl)
		// The index lives as long as the latest record written: never less
		// than any live record.
		p.SAdd(ctx, runningIndexKey, worker)
		p.PExpire(ctx, runningIndexKey, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publishing running jobs: %w", err)
	}
	return nil
}

// Running sums, per tenant, the jobs every live worker process published
// as running (see PublishRunning), by tenant name. It forgets the workers
// whose record expired. Two round trips, three when it forgets some.
func (s *Store) Running(ctx context.Context) ([]TenantRunning, error) {
	workers, err := s.rdb.SMembers(ctx, runningIndexKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading running jobs: %w", err)
	}
	if len(workers) == 0 {
		return nil, nil
	}
	records := make([]*redis.MapStringStringCmd, len(workers))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, w := range workers {
			records[i] = p.HGetAll(ctx, runningKey(w))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading running jobs: %w", err)
	}
	sums := map[string]*TenantRunning{}
	var gone []any
	for i, rec := range records {
		if len(rec.Val()) == 0 {
			gone = append(gone, workers[i])
		}
		for tenant, v := range rec.Val() {
			n, tier, _ := strings.Cut(v, " ")
			jobs, _ := strconv.Atoi(n)
			sum := sums[tenant]
			if sum == nil {
				sum = &TenantRunning{Tenant: tenant}
				sums[tenant] = sum
			}
			sum.Jobs += jobs
			sum.Tier = cmp.Or(sum.Tier, tier)
		}
	}
	if len(gone) > 0 {
		// Best effort: a later read forgets them as well. A worker removed
		// just as it published again adds itself back at its next write.
		s.rdb.SRem(ctx, runningIndexKey, gone...)
	}
	out := make([]TenantRunning, 0, len(sums))
	for _, r := range sums {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b TenantRunning) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out, nil
}
