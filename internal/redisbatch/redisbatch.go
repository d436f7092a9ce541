// Package redisbatch sends the pipelines of concurrent callers to Redis
// together, in one round trip: group commit.
//
// Under load much of Redis's CPU, and of its clients', goes to the round
// trips themselves — a read and a write system call on each side and a
// wake-up — not to the commands they carry. Thirty-two api handlers each
// creating a job, or sixty-four worker slots each recording an outcome,
// need not make thirty-two or sixty-four round trips: while the wire is
// full, the pipelines that arrive meanwhile wait, and then go as one batch.
//
// There is no goroutine of its own and no timer. A caller that finds fewer
// than a few round trips on the wire sends its pipeline at once, so a lone
// caller pays nothing and nobody waits for a batch to fill; otherwise it
// waits, and the caller whose batch returns hands the pipelines that arrived
// meanwhile to the first of them, which sends them all.
package redisbatch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batcher sends concurrent callers' pipelines in shared round trips.
type Batcher struct {
	rdb   redis.Cmdable
	limit int // round trips on the wire at once

	mu       sync.Mutex
	inFlight int         // round trips on the wire
	waiting  []*pipeline // the next batch
}

// pipeline is one caller's context and commands, and how a waiting caller
// learns what to do next: nil when its commands went in another caller's
// batch, or the batch it is to send (its own commands first).
type pipeline struct {
	ctx  context.Context
	cmds []redis.Cmder
	wake chan []*pipeline
}

// New returns a Batcher on rdb that keeps at most limit round trips on the
// wire (at least one). Pipelines wait only when limit are out: a higher
// limit costs callers at low concurrency no wait, a lower one makes larger
// batches under load.
func New(rdb redis.Cmdable, limit int) *Batcher {
	return &Batcher{rdb: rdb, limit: max(limit, 1)}
}

// Pipelined runs the commands fill adds as redis.Client.Pipelined does —
// in order, each with its own reply or error — possibly in one round trip
// with other callers' commands. It returns the commands and the first error
// among them. A caller whose ctx ends while it waits for the wire leaves
// the queue, its commands unsent; once they are on the wire, the round
// trip lasts until the latest deadline among its callers (or the client's
// timeouts): no one caller may cut short the others' commands.
func (b *Batcher) Pipelined(ctx context.Context, fill func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	p := b.rdb.Pipeline()
	if err := fill(p); err != nil {
		return nil, err
	}
	cmds := p.Cmds()
	if len(cmds) == 0 {
		return nil, nil
	}
	own := &pipeline{ctx: ctx, cmds: cmds}
	b.mu.Lock()
	if b.inFlight < b.limit {
		b.inFlight++
		b.mu.Unlock()
		b.send([]*pipeline{own})
		return cmds, firstErr(cmds)
	}
	own.wake = make(chan []*pipeline, 1)
	b.waiting = append(b.waiting, own)
	b.mu.Unlock()
	select {
	case batch := <-own.wake:
		if batch != nil {
			b.send(batch)
		}
	case <-ctx.Done():
		if b.withdraw(own) {
			for _, c := range cmds {
				c.SetErr(ctx.Err())
			}
			return cmds, ctx.Err()
		}
		// Taken into a batch meanwhile: its commands go.
		if batch := <-own.wake; batch != nil {
			b.send(batch)
		}
	}
	return cmds, firstErr(cmds)
}

// withdraw takes pl out of the queue, and reports whether it was still
// there (not yet taken into a batch).
func (b *Batcher) withdraw(pl *pipeline) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.waiting, pl)
	if i < 0 {
		return false
	}
	b.waiting = slices.Delete(b.waiting, i, i+1)
	return true
}

// send runs batch's commands in one pipeline and hands on its place on
// the wire. A panic in the client (a hook's, say) fails every command of
// the batch and still hands the place on, so that no caller waits forever
// behind it; the sender panics on.
func (b *Batcher) send(batch []*pipeline) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("redis pipeline panicked: %v", r)
			for _, pl := range batch {
				for _, c := range pl.cmds {
					c.SetErr(err)
				}
			}
			b.handOn(batch)
			panic(r)
		}
	}()
	ctx, cancel := batchContext(batch)
	defer cancel()
	p := b.rdb.Pipeline()
	for _, pl := range batch {
		_ = p.BatchProcess(ctx, pl.cmds...)
	}
	// Each command carries its own error; Exec's is the first of them.
	_, _ = p.Exec(ctx)
	b.handOn(batch)
}

// batchContext is the context of batch's round trip: the sender's values,
// no cancellation, and the latest deadline among its callers — none when
// one of them has none (the client's timeouts bound it then).
func batchContext(batch []*pipeline) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(batch[0].ctx)
	var latest time.Time
	for _, pl := range batch {
		d, ok := pl.ctx.Deadline()
		if !ok {
			return ctx, func() {}
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(ctx, latest)
}

// handOn wakes the callers whose commands rode along in batch, and hands
// its place on the wire to the first of the pipelines that arrived
// meanwhile, with all of them, or frees it.
func (b *Batcher) handOn(batch []*pipeline) {
	for _, pl := range batch[1:] {
		pl.wake <- nil
	}
	b.mu.Lock()
	next := b.waiting
	b.waiting = nil
	if len(next) == 0 {
		b.inFlight--
	}
	b.mu.Unlock()
	if len(next) > 0 {
		next[0].wake <- next
	}
}

// firstErr is the first error among cmds, as a pipeline returns it.
func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}
