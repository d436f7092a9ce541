package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/reliability/ratelimit"
)

// maxInlineWait is the longest a job waits for its rate-limit slot inside
// the worker. Longer waits hand the job back to the queue to run at its
// slot, so no worker slot sleeps for more than this.
const maxInlineWait = time.Second

// busyRetry is how soon to look again for a key when every key is at its
// concurrency limit (one will free up as soon as a call ends).
const busyRetry = 20 * time.Millisecond

// pool is a target's key pool with the secrets, which only this process
// holds.
type pool struct {
	*keypool.Pool
	secrets     map[string]string
	keyRates    map[string]ratelimit.Bucket
	maxSwitches int
}

// rescheduleError asks the handler to run the job again after Wait.
type rescheduleError struct{ wait time.Duration }

func (e *rescheduleError) Error() string {
	return fmt.Sprintf("waiting %v for a rate-limit slot", e.wait)
}

// limited is one attempt's trip through the rate scheduler and key pool:
// pick a key (when the target has a pool), reserve the call's rate-limit
// slots (the key's, the key's under the caller's profile, the tenant's),
// wait for them, then call. A 429, 401 or 403 with a pooled key moves the
// call to another key within the same attempt, up to max_key_switches.
//
// A slot later than the job's deadline is RATE_LIMIT_RELIAPI (429); a slot
// more than maxInlineWait away hands the job back to the queue.
//
// credential renders the secret in use (the pool key's, else the
// target's) as the headers the upstream expects.
func (w *Worker) limited(ctx context.Context, j *run, credential func(secret string) map[string]string, call func(context.Context, httpx.Target) (*reliapi.HTTPResponse, error)) (*reliapi.HTTPResponse, error) {
	var exclude []string
	for switches := 0; ; {
		upstream := j.target.upstream
		if t := j.profile.DefaultTimeoutS; t > 0 {
			// The caller's profile sets the attempt's timeout.
			upstream.Timeout = time.Duration(t * float64(time.Second))
		}
		secret := j.target.secret
		var lease keypool.Lease
		if p := j.target.pool; p != nil {
			var err error
			if lease, err = p.Pick(ctx, exclude...); err != nil {
				if err := w.waitForKey(ctx, j, err); err != nil {
					return nil, err
				}
				continue
			}
			secret = p.secrets[lease.KeyID]
		}
		upstream.Headers = credential(secret)
		if err := w.waitForSlot(ctx, j, lease); err != nil {
			w.release(ctx, j, lease, keypool.Unused, 0)
			return nil, err
		}
		resp, err := call(ctx, upstream)
		if j.target.pool == nil {
			return resp, err
		}
		outcome, retryAfter := keyOutcome(resp, err)
		w.release(ctx, j, lease, outcome, retryAfter)
		if (outcome == keypool.RateLimited || outcome == keypool.Unauthorized) && switches < j.target.pool.maxSwitches {
			switches++
			exclude = append(exclude, lease.KeyID)
			w.metrics.keySwitches.WithLabelValues(j.target.pool.Name(), string(outcome)).Inc()
			w.log.Warn("switching key", append(j.tag, "key_id", lease.KeyID, "reason", string(outcome))...)
			continue
		}
		return resp, err
	}
}

// waitForKey handles a pool with no key free now: wait for one (in the
// worker or by handing the job back), or fail when none will come.
func (w *Worker) waitForKey(ctx context.Context, j *run, err error) error {
	var nk *keypool.NoKeyError
	switch {
	case !errors.As(err, &nk):
		// Without the pool's state there is no key to call with, whatever
		// reliability.on_redis_error says.
		return &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Key pool state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	case nk.Quarantined:
		return &reliapi.Error{Code: reliapi.CodeNoUsableKey, Message: fmt.Sprintf("Every key of pool %s is quarantined (401/403)", j.target.pool.Name()), Source: reliapi.SourceReliAPI}
	}
	wait := nk.Wait
	if wait == 0 {
		wait = busyRetry
	}
	w.metrics.rateWaits.WithLabelValues("key_pool").Inc()
	return w.wait(ctx, j, wait, "key_pool")
}

// waitForSlot reserves the call's rate-limit slots and waits for them.
func (w *Worker) waitForSlot(ctx context.Context, j *run, lease keypool.Lease) error {
	buckets := j.buckets(lease.KeyID)
	if len(buckets) == 0 {
		return nil
	}
	res, err := w.limiter.Reserve(ctx, buckets...)
	if err != nil {
		if w.redisFailOpen(ctx, "ratelimit", err) {
			return nil
		}
		return &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Rate limit state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	}
	if res.Wait == 0 {
		return nil
	}
	w.metrics.rateWaits.WithLabelValues(bucketKind(res.Limiting)).Inc()
	if err := w.wait(ctx, j, res.Wait, res.Limiting); err != nil {
		// Not going at this slot: give it (and the others) back.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if cerr := w.limiter.Cancel(cctx, res); cerr != nil {
			w.log.Warn("giving back rate-limit slots", append(j.tag, "error", cerr)...)
		}
		return err
	}
	return nil
}

// wait sleeps up to maxInlineWait, or asks to run the job again later, or
// fails with RATE_LIMIT_RELIAPI when the wait ends after the job's
// deadline.
func (w *Worker) wait(ctx context.Context, j *run, d time.Duration, bucket string) error {
	if time.Now().Add(d).After(j.deadline) {
		return slotAfterDeadline(bucket, d)
	}
	if d > maxInlineWait {
		return &rescheduleError{wait: d}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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

func (w *Worker) release(ctx context.Context, j *run, lease keypool.Lease, o keypool.Outcome, retryAfter time.Duration) {
	if j.target.pool == nil || lease.KeyID == "" {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	st, err := j.target.pool.Release(rctx, lease, o, retryAfter)
	switch {
	case err != nil:
		w.log.Warn("releasing a pool key", append(j.tag, "key_id", lease.KeyID, "error", err)...)
	case st == keypool.Quarantined && o == keypool.Unauthorized:
		w.log.Error("pool key quarantined after 401/403", append(j.tag, "key_id", lease.KeyID)...)
	}
}

// keyOutcome is what a call's answer says about the key it used. A good
// answer whose rate-limit headers report a window used up rests the key
// until it resets, so the next call goes to another key instead of
// drawing a 429.
func keyOutcome(resp *reliapi.HTTPResponse, err error) (keypool.Outcome, time.Duration) {
	if err == nil {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return keypool.Unauthorized, 0
		}
		if rest := httpx.RateLimitReset(resp.Header(), time.Now()); rest > 0 {
			return keypool.Exhausted, rest
		}
		return keypool.OK, 0
	}
	var e *reliapi.Error
	if errors.As(err, &e) && e.UpstreamStatus == http.StatusTooManyRequests {
		return keypool.RateLimited, e.RetryAfter
	}
	switch reliapi.Classify(err) {
	case reliapi.ClassPermanent, reliapi.ClassBreakerOpen:
		// No answer about the key: refused before the call, or a failure
		// of ours.
		return keypool.Unused, 0
	default:
		return keypool.Failed, 0
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

// newPool prepares a target's key pool: every key's secret must be set.
func newPool(w *Worker, name string, cfg *config.KeyPool, t *config.Target, getenv func(string) string) (*pool, error) {
	p := &pool{
		secrets:     map[string]string{},
		keyRates:    map[string]ratelimit.Bucket{},
		maxSwitches: cfg.MaxKeySwitches,
	}
	keys := make([]keypool.Key, len(cfg.Keys))
	for i, k := range cfg.Keys {
		secret, err := k.Secret(getenv)
		if err != nil {
			return nil, fmt.Errorf("worker: provider_key_pools.%s: %w", name, err)
		}
		p.secrets[k.ID] = secret
		qps, burst, concurrent := k.Rate()
		if qps > 0 {
			p.keyRates[k.ID] = ratelimit.Bucket{Name: "key:" + name + ":" + k.ID, Rate: qps, Burst: burst}
		}
		keys[i] = keypool.Key{ID: k.ID, MaxConcurrent: concurrent}
	}
	p.Pool = keypool.New(w.cfg.Redis, name, keys, keypool.Settings{
		Lease:           t.Timeout() + 10*time.Second,
		Cooldown:        time.Duration(cfg.CooldownS * float64(time.Second)),
		QuarantineProbe: time.Duration(cfg.QuarantineProbeS) * time.Second,
	})
	return p, nil
}

// parallelPoll is how often a job looks again for a free parallel slot of
// its profile while it waits in the worker.
const parallelPoll = 25 * time.Millisecond

// parallelRequeue is how much later a job that found no parallel slot for
// maxInlineWait runs again, from the queue.
const parallelRequeue = 500 * time.Millisecond

// withParallelSlot runs exec holding one of the tenant's
// max_parallel_requests slots under the caller's client profile. A job
// that finds them all taken waits for one (polling for up to
// maxInlineWait, then from the queue); it fails with RATE_LIMIT_RELIAPI
// only when no slot comes before its deadline.
func (w *Worker) withParallelSlot(ctx context.Context, j *run, exec execute) (*reliapi.Result, time.Duration) {
	limit := j.profile.MaxParallelRequests
	if limit <= 0 {
		return exec(ctx, j)
	}
	name := "profile:" + j.profileName + ":tenant:" + j.payload.Tenant + ":running"
	start := time.Now()
	for {
		// The hold outlives the job's deadline, so that a slot whose release
		// is lost with a crashed worker frees itself.
		held, err := w.quota.Hold(ctx, name, j.payload.JobID, limit, time.Until(j.deadline)+time.Minute)
		if err != nil && !w.redisFailOpen(ctx, "parallel", err) {
			return &reliapi.Result{Error: &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Parallel-request state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}}, 0
		}
		if held || err != nil {
			break
		}
		w.metrics.rateWaits.WithLabelValues("parallel").Inc()
		if time.Since(start) >= maxInlineWait {
			if time.Now().Add(parallelRequeue).After(j.deadline) {
				return &reliapi.Result{Error: slotAfterDeadline("parallel", parallelRequeue)}, 0
			}
			return nil, parallelRequeue
		}
		if err := w.wait(ctx, j, parallelPoll, "parallel"); err != nil {
			return &reliapi.Result{Error: asError(err)}, 0
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := w.quota.Release(rctx, name, j.payload.JobID); err != nil {
			w.log.Warn("releasing a parallel-request slot", append(j.tag, "error", err)...)
		}
	}()
	return exec(ctx, j)
}
