package lane

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Ready is how many jobs of a tenant wait in one lane.
type Ready struct {
	Tenant string
	Tier   string
	Jobs   int64
}

// Depth is what waits in the lane of one queue shard: every ready tenant's
// jobs, and the entries handed off to workers that have not taken them
// yet (whose tenants the lane does not keep).
type Depth struct {
	Queue     string
	Tenants   []Ready // by virtual start: the next served first
	HandedOff int64
}

// Stats reads the lanes of queues, two round trips each.
func Stats(ctx context.Context, rdb redis.UniversalClient, queues ...string) ([]Depth, error) {
	out := make([]Depth, 0, len(queues))
	for _, q := range queues {
		d, err := stats(ctx, rdb, q)
		if err != nil {
			return nil, fmt.Errorf("lane: reading %s: %w", q, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func stats(ctx context.Context, rdb redis.UniversalClient, queue string) (Depth, error) {
	k := keysOf(queue)
	var (
		tenants *redis.StringSliceCmd
		tiers   *redis.MapStringStringCmd
		handoff *redis.IntCmd
	)
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		tenants = p.ZRange(ctx, k.ready, 0, -1)
		tiers = p.HGetAll(ctx, k.tiers)
		handoff = p.LLen(ctx, k.handoff)
		return nil
	}); err != nil {
		return Depth{}, err
	}
	d := Depth{Queue: queue, HandedOff: handoff.Val()}
	lens := make([][3]*redis.IntCmd, len(tenants.Val()))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tenants.Val() {
			for rank := range 3 {
				lens[i][rank] = p.LLen(ctx, fmt.Sprintf("%s%s:%d", k.lists, t, rank))
			}
		}
		return nil
	}); err != nil {
		return Depth{}, err
	}
	for i, t := range tenants.Val() {
		r := Ready{Tenant: t, Tier: tiers.Val()[t]}
		for _, n := range lens[i] {
			r.Jobs += n.Val()
		}
		d.Tenants = append(d.Tenants, r)
	}
	return d, nil
}

// ReadyRead is whether a tenant has jobs ready in a lane, as HasReady
// reads it.
type ReadyRead struct{ cmd *redis.FloatCmd }

// HasReady adds to p the read of whether tenant has jobs waiting their
// turn in the lane of queue.
func HasReady(ctx context.Context, p redis.Pipeliner, queue, tenant string) ReadyRead {
	return ReadyRead{p.ZScore(ctx, keysOf(queue).ready, tenant)}
}

// Ready reports whether the tenant had jobs ready when read.
func (r ReadyRead) Ready() bool { return r.cmd.Err() == nil }
