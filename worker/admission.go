package worker

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/reliability/breaker"
)

// admissionFresh is how long a breaker admission taken with a job's start
// stands in for the first attempt's own. An attempt that waited longer
// (for a pool key, a rate-limit slot) asks the breaker again: it may have
// opened meanwhile.
const admissionFresh = 50 * time.Millisecond

// admission is the breaker's answer for a job's first attempt, asked in
// the round trip that starts the job rather than one of its own.
type admission struct {
	target string
	read   func() (breaker.Ticket, error)
	at     time.Time
	// used: an attempt looked at it; consumed: an attempt took its ticket.
	used, consumed bool
}

// admitWith makes d's start carry the breaker admission of its target's
// first attempt; nil when the target is not configured here.
func (w *Worker) admitWith(d *lifecycle.Delivery) *admission {
	tg, ok := w.targets[d.Payload.Target]
	if !ok {
		return nil
	}
	a := &admission{target: d.Payload.Target}
	d.Admit = func(p redis.Pipeliner) {
		a.read, a.at = w.breakers.AllowIn(context.Background(), p, a.target, tg.breaker), time.Now()
	}
	return a
}

// take returns the admission for an attempt on target, when it is this
// job's first and the admission is fresh; ok is false otherwise (the
// attempt asks the breaker itself).
func (a *admission) take(target string) (t breaker.Ticket, err error, ok bool) {
	if a == nil || a.used || a.read == nil || a.target != target {
		return breaker.Ticket{}, nil, false
	}
	a.used = true
	if time.Since(a.at) > admissionFresh {
		return breaker.Ticket{}, nil, false
	}
	a.consumed = true
	t, err = a.read()
	return t, err, true
}

// discard gives back an admission no attempt used: a probe's lease
// (half-open) passes to the next caller; any other costs nothing.
func (w *Worker) discard(ctx context.Context, a *admission) {
	if a == nil || a.read == nil || a.consumed {
		return
	}
	t, err := a.read()
	if err != nil || !t.Probe {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := w.breakers.Record(rctx, t, breaker.Neutral, w.targets[a.target].breaker); err != nil {
		w.log.Warn("giving back an unused breaker probe", "target", a.target, "error", err)
	}
}
