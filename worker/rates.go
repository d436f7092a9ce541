package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/reliability/ratelimit"
)

// maxInlineWait is the longest a job waits for its rate-limit slot inside
// the worker. Longer waits hand the job back to the queue to run at its
// slot, so no worker slot sleeps for more than this.
const maxInlineWait = time.Second

// waitForSlot reserves the call's rate-limit slots and waits for them. A
// slot later than the job's deadline is RATE_LIMIT_RELIAPI (429); a slot
// more than maxInlineWait away is a positive later.
func (w *Worker) waitForSlot(ctx context.Context, j *run, lease keypool.Lease) (time.Duration, error) {
	buckets := j.buckets(lease.KeyID)
	if len(buckets) == 0 {
		return 0, nil
	}
	res, err := w.limiter.Reserve(ctx, buckets...)
	if err != nil {
		if w.redisFailOpen(ctx, "ratelimit", err) {
			return 0, nil
		}
		return 0, &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Rate limit state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	}
	if res.Wait == 0 {
		return 0, nil
	}
	w.metrics.rateWaits.WithLabelValues(bucketKind(res.Limiting)).Inc()
	later, err := w.wait(ctx, j, res.Wait, res.Limiting)
	if later > 0 || err != nil {
		// Not going at this slot: give it (and the others) back.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if cerr := w.limiter.Cancel(cctx, res); cerr != nil {
			w.log.Warn("giving back rate-limit slots", append(j.tag, "error", cerr)...)
		}
	}
	return later, err
}

// wait sleeps for d when it is at most maxInlineWait, else returns it as
// later (the job waits in the queue), or fails with RATE_LIMIT_RELIAPI
// when the wait ends after the job's deadline.
func (w *Worker) wait(ctx context.Context, j *run, d time.Duration, bucket string) (later time.Duration, err error) {
	if time.Now().Add(d).After(j.deadline) {
		return 0, slotAfterDeadline(bucket, d)
	}
	if d > maxInlineWait {
		return d, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// slotAfterDeadline is RATE_LIMIT_RELIAPI: the job's next slot in bucket,
// d from now, comes after its deadline.
func slotAfterDeadline(bucket string, d time.Duration) *reliapi.Error {
	return &reliapi.Error{
		Code:       reliapi.CodeRateLimited,
		Message:    fmt.Sprintf("Rate limit exceeded (%s): the next slot is after the job's deadline", bucketKind(bucket)),
		Retryable:  true,
		Source:     reliapi.SourceReliAPI,
		RetryAfter: d,
		Details:    map[string]any{"hint": "Upstream provider is being protected", "bucket": bucketKind(bucket)},
	}
}

// buckets are a call's rate limits: the key's own, the key's under the
// caller's profile, and the tenant's under the profile.
func (j *run) buckets(keyID string) []ratelimit.Bucket {
	var out []ratelimit.Bucket
	if p := j.target.pool; p != nil && keyID != "" {
		if b, ok := p.keyRates[keyID]; ok {
			out = append(out, b)
		}
		if q := j.profile.MaxQPSPerProviderKey; q > 0 {
			out = append(out, ratelimit.Bucket{Name: "key:" + p.Name() + ":" + keyID + ":profile:" + j.profileName, Rate: q, Burst: j.profile.BurstSize})
		}
	}
	if q := j.profile.MaxQPSPerTenant; q > 0 {
		out = append(out, ratelimit.Bucket{Name: "tenant:" + j.payload.Tenant + ":profile:" + j.profileName, Rate: q, Burst: j.profile.BurstSize})
	}
	return out
}

// bucketKind is a bucket's kind for metrics and messages: key, profile or
// tenant (never the key's id, which may be many).
func bucketKind(name string) string {
	switch {
	case name == "key_pool", name == "parallel":
		return name
	case strings.HasPrefix(name, "tenant:"):
		return "tenant"
	case strings.Contains(name, ":profile:"):
		return "profile"
	default:
		return "provider_key"
	}
}
