package worker

import (
	"context"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/reliability/retry"
)

// The attempt chain: every upstream call, HTTP, LLM or streamed, goes
// through the same steps, in this order:
//
//	retry matrix → key lease → rate-limit slot → breaker → send → outcome
//
// call runs the retries; attempt is one trip through the rest. What
// differs between kinds of call is only what an exchange says: which
// credential headers to send, how to send, and how to read the answer.

// An exchange is what one kind of call does inside the attempt chain.
type exchange struct {
	// credential renders the secret in use (a pool key's, else the
	// target's) as the headers the upstream expects.
	credential func(secret string) map[string]string
	// send makes one request and reads its answer. The response it returns
	// is what the key pool judges the key by (for a stream, its headers).
	send func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error)
	// read turns an attempt's answer into the attempt's error, keeping
	// what the caller needs of it: the error decides whether to retry.
	read func(resp *reliapi.HTTPResponse, err error) error
}

// outcome is how a call through the chain ended.
type outcome struct {
	// retries is the number of attempts after the first.
	retries int
	// later, when positive, asks to run the job again after that long: a
	// rate-limit slot or a pool key is further away than maxInlineWait,
	// and the wait costs no worker slot in the queue. No attempt was
	// counted for it.
	later time.Duration
	// err is the last attempt's error, as read.
	err error
}

// call runs x under matrix: attempts until one succeeds, fails in a way
// the matrix does not retry, or the attempts run out; or until the job
// must wait in the queue.
func (w *Worker) call(ctx context.Context, j *run, matrix retry.Matrix, x exchange) outcome {
	var later time.Duration
	retries, err := retry.Do(ctx, matrix, func(ctx context.Context, n int) error {
		resp, wait, err := w.attempt(ctx, j, x)
		if wait > 0 {
			later = wait
			return nil // ends the retries; not an attempt
		}
		err = x.read(resp, err)
		w.countAttempt(j, n, err)
		return err
	})
	if later > 0 {
		return outcome{later: later}
	}
	return outcome{retries: retries, err: err}
}

// attempt is one trip through the key pool, the rate scheduler and the
// breaker to the upstream: lease a key (when the target has a pool),
// reserve the call's rate-limit slots and wait for them, then send
// through the breaker. A 429, 401 or 403 with a pooled key moves the call
// to another key within the same attempt, up to max_key_switches. A
// positive later hands the job back to the queue.
func (w *Worker) attempt(ctx context.Context, j *run, x exchange) (resp *reliapi.HTTPResponse, later time.Duration, err error) {
	var exclude []string
	for switches := 0; ; {
		lease, later, err := w.leaseKey(ctx, j, exclude)
		if later > 0 || err != nil {
			return nil, later, err
		}
		if later, err := w.waitForSlot(ctx, j, lease); later > 0 || err != nil {
			w.releaseKey(ctx, j, lease, keypool.Unused, 0)
			return nil, later, err
		}
		upstream := j.upstream(x.credential(j.secret(lease)))
		resp, err := w.guarded(ctx, j, func(ctx context.Context) (*reliapi.HTTPResponse, error) {
			return x.send(ctx, upstream)
		})
		p := j.target.pool
		if p == nil {
			return resp, 0, err
		}
		o, retryAfter := keyOutcome(resp, err)
		w.releaseKey(ctx, j, lease, o, retryAfter)
		if switches < p.maxSwitches && switchable(o, len(exclude)+1, len(p.secrets)) {
			switches++
			exclude = append(exclude, lease.KeyID)
			w.metrics.keySwitches.WithLabelValues(p.Name(), string(o)).Inc()
			w.log.Warn("switching key", append(j.tag, "key_id", lease.KeyID, "reason", string(o))...)
			continue
		}
		return resp, 0, err
	}
}

// countAttempt records one upstream attempt in the metrics, and in the log
// when it failed.
func (w *Worker) countAttempt(j *run, attempt int, err error) {
	class := reliapi.Classify(err)
	w.metrics.attempts.WithLabelValues(j.payload.Target, outcomeLabel(err, string(class))).Inc()
	if err != nil {
		w.log.Warn("upstream attempt failed", append(j.tag, "attempt", attempt, "class", string(class), "error", err)...)
	}
}

// switchable reports whether an attempt whose key answered o moves to
// another key, tried keys of n having been tried in it. A 429 moves on
// only while a key remains untried: once every key is rate limited, the
// attempt ends with the 429 and the retry matrix waits, as Retry-After
// says. A 401 or 403 always moves on: when every key is quarantined the
// pool says so (NO_USABLE_KEY).
func switchable(o keypool.Outcome, tried, n int) bool {
	switch o {
	case keypool.Unauthorized:
		return true
	case keypool.RateLimited:
		return tried < n
	}
	return false
}
