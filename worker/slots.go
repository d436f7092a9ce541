package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// slotPool runs work on long-lived runners, one per slot. Its slots bound
// what runs at once, whichever way work arrives: work handed over by a
// popper, which holds a slot for each piece it hands, or work that runs
// elsewhere and only takes a slot (a task asynq delivered). A runner is
// never started for a piece of work: a goroutine per job grew a fresh
// stack to a job's depth every time (runtime.morestack was 8 % of the
// worker's CPU).
type slotPool[T any] struct {
	slots   chan struct{}
	work    chan T
	runners sync.WaitGroup
}

func newSlotPool[T any](n int) *slotPool[T] {
	return &slotPool[T]{slots: make(chan struct{}, n), work: make(chan T)}
}

// acquire takes a slot, waiting for one to free up; release gives it back.
func (s *slotPool[T]) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// take waits for a free slot, then takes every other free one, up to
// limit in all; 0 when ctx ended first.
func (s *slotPool[T]) take(ctx context.Context, limit int) int {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	held := 1
	for held < limit {
		select {
		case s.slots <- struct{}{}:
			held++
		default:
			return held
		}
	}
	return held
}

// release gives back n slots taken and not used.
func (s *slotPool[T]) release(n int) {
	for range n {
		<-s.slots
	}
}

// startRunners starts the runners: each runs what it is handed, then gives back
// the slot it was handed with.
func (s *slotPool[T]) startRunners(run func(T)) {
	for range cap(s.slots) {
		s.runners.Go(func() {
			for t := range s.work {
				run(t)
				<-s.slots
			}
		})
	}
}

// hand gives t to a runner; the caller took a slot for it.
func (s *slotPool[T]) hand(t T) { s.work <- t }

// closeAndWait ends the hand-over, once nothing hands anything any more, and waits
// up to timeout for the runners; false when some still run.
func (s *slotPool[T]) closeAndWait(timeout time.Duration) bool {
	close(s.work)
	done := make(chan struct{})
	go func() {
		s.runners.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// poppers runs a runner's poppers, a goroutine each, until stopped.
type poppers[P interface{ Wake(context.Context) error }] struct {
	stop context.CancelFunc
	all  []P
	wg   sync.WaitGroup
}

// start runs pop with each of all until stopAll.
func (ps *poppers[P]) start(all []P, pop func(context.Context, P)) {
	ctx, stop := context.WithCancel(context.Background())
	ps.stop, ps.all = stop, all
	for _, p := range all {
		ps.wg.Go(func() { pop(ctx, p) })
	}
}

// stopAll ends the pops and waits for them, waking those that block:
// go-redis cannot interrupt a blocking read, and a shutdown would wait
// their wait out. It reports false, doing nothing, when they were not
// running (stopped already, or a worker whose Start failed).
func (ps *poppers[P]) stopAll(log *slog.Logger) bool {
	if ps.stop == nil {
		return false
	}
	ps.stop()
	ps.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	for _, p := range ps.all {
		if err := p.Wake(ctx); err != nil {
			log.Debug("waking a stopping popper; it stops after its wait", "error", err)
		}
	}
	ps.wg.Wait()
	return true
}
