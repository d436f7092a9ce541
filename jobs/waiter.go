package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// pollInterval is how often a waiter re-reads its job in case the pub/sub
// announcement was lost (pub/sub is at-most-once, e.g. across a reconnect).
const pollInterval = time.Second

// Waiter wakes callers when a job finishes. One Waiter per process holds a
// single subscription, to its own done channel and to the shared one, and
// fans announcements out to the callers waiting in that process. A job's
// end is announced on the channels its record names as watchers (Channel,
// written when the job is created for a waiting caller, or by the waiter's
// first read), so a replica receives only the ends its callers wait for.
// An announcement carries the finished record (unless its result is
// large), so a woken caller usually needs no further read.
type Waiter struct {
	store   *Store
	rdb     redis.UniversalClient
	logger  *slog.Logger
	channel string

	mu      sync.Mutex
	waiting map[string]map[*Watch]struct{}

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     <-chan struct{} // closed when the subscription has ended
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
		channel: doneChannel + ":" + rand.Text()[:16],
		waiting: make(map[string]map[*Watch]struct{}),
	}
}

// Channel is this waiter's done channel: a job created for a caller that
// waits in this process names it as its watcher (New.Watcher).
func (w *Waiter) Channel() string { return w.channel }

// Start subscribes to job announcements. It returns at once; the
// subscription reconnects by itself when Redis comes back.
func (w *Waiter) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.done = listen(ctx, w.rdb, w.wake, nil, w.channel, doneChannel)
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

// wake hands an announcement to the watches of its job.
func (w *Waiter) wake(payload string) {
	id, record, _ := strings.Cut(payload, "\n")
	w.deliver(id, func() *reliapi.Job { return decodeAnnouncement(record) })
}

// Announce hands a job's ended record to its watches in this process, as
// its announcement would: a job this process ran itself (see
// lifecycle.Delivery.Ended). The announcement that follows finds them
// woken already.
func (w *Waiter) Announce(job *reliapi.Job) {
	w.deliver(job.ID, func() *reliapi.Job { return job })
}

// deliver hands the job that read returns to the watches of job id.
func (w *Waiter) deliver(id string, read func() *reliapi.Job) {
	w.mu.Lock()
	watches := w.waiting[id]
	if len(watches) == 0 {
		w.mu.Unlock()
		return
	}
	list := make([]*Watch, 0, len(watches))
	for x := range watches {
		list = append(list, x)
	}
	w.mu.Unlock()

	job := read()
	for _, x := range list {
		select {
		case x.ch <- job:
		default: // already woken; it re-reads the job anyway
		}
	}
}

// decodeAnnouncement reads the record an announcement carries; nil when it
// carries none or cannot be read (the waiter then reads the job itself).
func decodeAnnouncement(record string) *reliapi.Job {
	if record == "" {
		return nil
	}
	j, err := jobFromRecord([]byte(record))
	if err != nil {
		return nil
	}
	return j
}

// Watch is one caller's interest in one job. Create it before the job can
// finish (before enqueueing it, or before Wait's first read), so that no
// announcement is missed.
type Watch struct {
	w  *Waiter
	id string
	ch chan *reliapi.Job
}

// Watch starts watching job id. Close the Watch when done.
func (w *Waiter) Watch(id string) *Watch {
	x := &Watch{w: w, id: id, ch: make(chan *reliapi.Job, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.waiting[id]
	if set == nil {
		set = make(map[*Watch]struct{})
		w.waiting[id] = set
	}
	set[x] = struct{}{}
	return x
}

// Close stops watching.
func (x *Watch) Close() {
	x.w.mu.Lock()
	defer x.w.mu.Unlock()
	delete(x.w.waiting[x.id], x)
	if len(x.w.waiting[x.id]) == 0 {
		delete(x.w.waiting, x.id)
	}
}

// Wait returns the tenant's job once it is terminal, or its latest state
// when ctx ends first. job is the state the caller already knows, if any;
// when nil, or when it does not name this waiter's channel among its
// watchers, the job is read first, naming it (Store.GetWatched). A
// non-terminal result is the caller's signal to hand off (202) instead of
// answering with a result. An error means the job could not be read at
// all, or no longer exists.
func (x *Watch) Wait(ctx context.Context, tenant string, job *reliapi.Job) (*reliapi.Job, error) {
	if job == nil || !job.Status.Terminal() && !slices.Contains(job.Watchers, x.w.channel) {
		var err error
		if job, err = x.w.store.GetWatched(ctx, tenant, x.id, x.w.channel); err != nil {
			return nil, err
		}
	}
	if job.Status.Terminal() {
		return job, nil
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		var announced *reliapi.Job
		select {
		case <-ctx.Done():
			return job, nil
		case announced = <-x.ch:
		case <-poll.C:
		}
		if announced != nil && announced.Tenant == tenant && announced.Status.Terminal() {
			return announced, nil
		}
		next, err := x.w.store.Get(ctx, tenant, x.id)
		switch {
		case ctx.Err() != nil:
			return job, nil
		case errors.Is(err, reliapi.ErrNotFound):
			// Deleted meanwhile: its enqueue failed, so nothing will run it.
			return nil, err
		case err != nil:
			// Redis trouble while waiting: keep the last state we saw and try
			// again on the next tick, unless time is up.
			x.w.logger.Warn("reading job while waiting", "job_id", x.id, "error", err)
			continue
		}
		job = next
		if job.Status.Terminal() {
			return job, nil
		}
	}
}

// Wait returns the tenant's job once it is terminal, or its latest state
// when ctx ends first; see Watch.Wait.
func (w *Waiter) Wait(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	x := w.Watch(id)
	defer x.Close()
	return x.Wait(ctx, tenant, nil)
}
