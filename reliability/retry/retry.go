package retry

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	goretry "github.com/sethvargo/go-retry"

	"github.com/reliapi/reliapi"
)

// Backoff kinds.
const (
	BackoffExpJitter = "exp-jitter"
	BackoffExp       = "exp"
	BackoffLinear    = "linear"
	BackoffFixed     = "fixed"
)

// Policy is how one class of failure is retried.
type Policy struct {
	// Attempts is the total number of tries, the first included: 1 means
	// no retry.
	Attempts int
	// Backoff is one of the Backoff kinds; unknown kinds wait Base.
	Backoff string
	// Base is the first wait; Max caps every wait, Retry-After included.
	Base, Max time.Duration
}

// Delay is the wait after failure number n (1-based). A positive retryAfter
// from the upstream replaces the computed backoff.
func (p Policy) Delay(n int, retryAfter time.Duration) time.Duration {
	var d time.Duration
	switch {
	case retryAfter > 0:
		d = retryAfter
	case p.Backoff == BackoffExpJitter:
		d = exp(p.Base, n)
		d += time.Duration(rand.Int64N(int64(d)/10*3 + 1))
	case p.Backoff == BackoffExp:
		d = exp(p.Base, n)
	case p.Backoff == BackoffLinear:
		d = p.Base * time.Duration(n)
	default:
		d = p.Base
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	return d
}

// exp is base·2^(n-1), saturating instead of overflowing.
func exp(base time.Duration, n int) time.Duration {
	const maxShift = 32 // base·2^32 is beyond any sensible cap
	shift := min(max(n-1, 0), maxShift)
	if base > time.Duration(math.MaxInt64>>shift) {
		return time.Duration(math.MaxInt64 / 2)
	}
	return base << shift
}

// Matrix maps each retryable class to its policy. A class without a policy
// is not retried. The empty matrix means "try once".
type Matrix map[reliapi.Class]Policy

// Capped is m with at most maxRetries retries in any class: what a
// caller's tier allows, whatever the target's matrix would.
func (m Matrix) Capped(maxRetries int) Matrix {
	out := make(Matrix, len(m))
	for class, p := range m {
		p.Attempts = min(p.Attempts, max(maxRetries, 0)+1)
		out[class] = p
	}
	return out
}

// Func is one attempt; attempt counts from 1.
type Func func(ctx context.Context, attempt int) error

// Do calls fn until it succeeds, fails with a class the matrix does not
// retry, or runs out of attempts for the class of its latest failure (one
// attempt counter is shared by all classes). It returns the number of
// retries made and fn's last error.
func Do(ctx context.Context, m Matrix, fn Func) (retries int, err error) {
	attempt := 0
	var last error
	backoff := goretry.BackoffFunc(func() (time.Duration, bool) {
		p, ok := m[reliapi.Classify(last)]
		if !ok || attempt >= p.Attempts {
			return 0, true
		}
		var ra time.Duration
		var e *reliapi.Error
		if errors.As(last, &e) {
			ra = e.RetryAfter
		}
		d := p.Delay(attempt, ra)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return 0, true
		}
		return d, false
	})
	err = goretry.Do(ctx, backoff, func(ctx context.Context) error {
		attempt++
		last = fn(ctx, attempt)
		if last == nil {
			return nil
		}
		return goretry.RetryableError(last)
	})
	if err != nil && last != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The context ended during a wait: the upstream's answer says more
		// than "context canceled".
		err = last
	}
	return max(attempt-1, 0), err
}
