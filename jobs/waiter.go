package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// pollInterval is how often a waiter re-reads its job in case the pub/sub
// announcement was lost (pub/sub is at-most-once, e.g. across a reconnect).
const pollInterval = time.Second

// Waiter wakes callers when a job finishes. One Waiter per process holds a
// single subscription to the done channel and fans announcements out to the
// callers waiting in that process.
type Waiter struct {
	store  *Store
	rdb    redis.UniversalClient
	logger *slog.Logger

	mu      sync.Mutex
	waiting map[string]map[chan struct{}]struct{}

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewWaiter returns a Waiter reading jobs from store. A nil logger means
// slog.Default().
func NewWaiter(store *Store, logger *slog.Logger) *Waiter {
	if logger == nil {
		logger = slog.Default()
	}
	return &Waiter{
		store:   store,
		rdb:     store.rdb,
		logger:  logger,
		waiting: make(map[string]map[chan struct{}]struct{}),
		done:    make(chan struct{}),
	}
}

// Start subscribes to job announcements. It returns at once; the
// subscription reconnects by itself when Redis comes back.
func (w *Waiter) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	sub := w.rdb.Subscribe(ctx, doneChannel)
	go func() {
		defer close(w.done)
		defer sub.Close()
		ch := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				w.wake(msg.Payload)
			}
		}
	}()
}

// Stop ends the subscription. Callers still waiting fall back to polling.
// It is safe to call more than once.
func (w *Waiter) Stop() {
	w.stopOnce.Do(func() {
		if w.cancel != nil {
			w.cancel()
			<-w.done
		}
	})
}

func (w *Waiter) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.waiting[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (w *Waiter) register(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.waiting[id]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		w.waiting[id] = set
	}
	set[ch] = struct{}{}
	return ch
}

func (w *Waiter) unregister(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiting[id], ch)
	if len(w.waiting[id]) == 0 {
		delete(w.waiting, id)
	}
}

// Wait returns the tenant's job once it is terminal, or its latest state
// when ctx ends first. The job may be reported as non-terminal: that is the
// caller's signal to hand off (202) instead of answering with a result. An
// error means the job could not be read at all.
func (w *Waiter) Wait(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	// Register before the first read, so an announcement between the read
	// and the wait is not missed.
	ch := w.register(id)
	defer w.unregister(id, ch)

	job, err := w.store.Get(ctx, tenant, id)
	if err != nil || job.Status.Terminal() {
		return job, err
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return job, nil
		case <-ch:
		case <-poll.C:
		}
		next, err := w.store.Get(ctx, tenant, id)
		if ctx.Err() != nil {
			return job, nil
		}
		if errors.Is(err, reliapi.ErrNotFound) {
			// Deleted meanwhile: its enqueue failed, so nothing will run it.
			return nil, err
		}
		if err != nil {
			// Redis trouble while waiting: keep the last state we saw and try
			// again on the next tick, unless time is up.
			w.logger.Warn("reading job while waiting", "job_id", id, "error", err)
			continue
		}
		job = next
		if job.Status.Terminal() {
			return job, nil
		}
	}
}
