package worker

import (
	"context"
	"encoding/json"
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

// admission is the breaker's answer for a job's first attempt, read in
// the round trip that starts the job rather than one of its own. It admits
// only through a closed breaker (see breaker.AllowIn), so it never holds a
// probe: one nobody used costs nothing.
type admission struct {
	target string
	read   func() (breaker.Ticket, bool)
	at     time.Time
	used   bool
}

// admitWith makes d's start carry the breaker read of its target's first
// attempt; nil when the target is not configured here.
func (w *Worker) admitWith(d *lifecycle.Delivery) *admission {
	if _, ok := w.targets[d.Payload.Target]; !ok {
		return nil
	}
	a := &admission{target: d.Payload.Target}
	d.Admit = func(p redis.Pipeliner) {
		a.read, a.at = w.breakers.AllowIn(context.Background(), p, a.target), time.Now()
	}
	return a
}

// admissionRead is the admission of d's first attempt from the breaker
// read a lane push made with the job's start (lane.Start), as its script
// encoded it; nil when the target is not configured here. A read that
// does not decode leaves the attempt to ask the breaker itself.
func (w *Worker) admissionRead(d lifecycle.Delivery, read []byte) *admission {
	target := d.Payload.Target
	if _, ok := w.targets[target]; !ok {
		return nil
	}
	a := &admission{target: target, at: time.Now()}
	var f []any
	if json.Unmarshal(read, &f) == nil {
		for i, v := range f {
			if _, ok := v.(string); !ok {
				f[i] = nil // cjson writes an absent field as false
			}
		}
		a.read = func() (breaker.Ticket, bool) { return breaker.AllowRead(target, f) }
	}
	return a
}

// take returns the admission for an attempt on target starting at now,
// when it is this job's first, the admission is fresh and the breaker was
// closed; ok is false otherwise (the attempt asks the breaker itself).
func (a *admission) take(target string, now time.Time) (t breaker.Ticket, ok bool) {
	if a == nil || a.used || a.read == nil || a.target != target {
		return breaker.Ticket{}, false
	}
	a.used = true
	if now.Sub(a.at) > admissionFresh {
		return breaker.Ticket{}, false
	}
	return a.read()
}
