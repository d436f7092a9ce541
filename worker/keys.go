package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/reliability/ratelimit"
)

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

// leaseKey leases a key of j's target's pool other than exclude, waiting
// for one to free up (in the worker, or from the queue: a positive later);
// the zero Lease when the target has no pool.
func (w *Worker) leaseKey(ctx context.Context, j *run, exclude []string) (keypool.Lease, time.Duration, error) {
	p := j.target.pool
	if p == nil {
		return keypool.Lease{}, 0, nil
	}
	for {
		lease, err := p.Pick(ctx, exclude...)
		if err == nil {
			return lease, 0, nil
		}
		if later, err := w.waitForKey(ctx, j, err); later > 0 || err != nil {
			return keypool.Lease{}, later, err
		}
	}
}

// waitForKey handles a pool with no key free now: wait for one (in the
// worker or by handing the job back), or fail when none will come.
func (w *Worker) waitForKey(ctx context.Context, j *run, err error) (time.Duration, error) {
	var nk *keypool.NoKeyError
	switch {
	case !errors.As(err, &nk):
		// Without the pool's state there is no key to call with, whatever
		// reliability.on_redis_error says.
		return 0, &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Key pool state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	case nk.Quarantined:
		return 0, &reliapi.Error{Code: reliapi.CodeNoUsableKey, Message: fmt.Sprintf("Every key of pool %s is quarantined (401/403)", j.target.pool.Name()), Source: reliapi.SourceReliAPI}
	}
	wait := nk.Wait
	if wait == 0 {
		wait = busyRetry
	}
	w.metrics.rateWaits.WithLabelValues("key_pool").Inc()
	return w.wait(ctx, j, wait, "key_pool")
}

// releaseKey gives a leased key back to its pool with what the call said
// about it.
func (w *Worker) releaseKey(ctx context.Context, j *run, lease keypool.Lease, o keypool.Outcome, retryAfter time.Duration) {
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
