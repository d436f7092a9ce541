package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
)

// pollInterval mirrors the Waiter's fallback poll. A wake-up well within it
// came from the done channel, not from polling.
const (
	pollInterval = time.Second
	wakeBound    = pollInterval / 2
)

// newWaiter returns a Waiter on b's store that is not started yet and is
// stopped when the test ends.
func (b *bundle) newWaiter(t *testing.T) *jobs.Waiter {
	t.Helper()
	w := jobs.NewWaiter(b.store, slog.New(slog.DiscardHandler))
	t.Cleanup(w.Stop)
	return w
}

// subscribers reads how many connections listen on the done channel.
func (b *bundle) subscribers(t *testing.T) int64 {
	t.Helper()
	n, err := b.rdb.PubSubNumSub(t.Context(), "reliapi:jobs:done").Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return n["reliapi:jobs:done"]
}

// startWaiter starts w and waits until its subscription is in place.
func (b *bundle) startWaiter(t *testing.T, w *jobs.Waiter) {
	t.Helper()
	w.Start(t.Context())
	waitFor(t, "the waiter to subscribe", func() bool { return b.subscribers(t) == 1 })
}

// reads reports how many job reads (HGETALL) Redis has served. Every Wait
// reads its job once before it blocks.
func (b *bundle) reads(t *testing.T) int {
	t.Helper()
	info, err := b.rdb.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(line, "cmdstat_hgetall:calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("INFO commandstats: %q", line)
		}
		return n
	}
	return 0
}

type waited struct {
	job *reliapi.Job
	err error
	at  time.Time
}

// wait runs Wait in a goroutine and returns where its result arrives.
func wait(ctx context.Context, w *jobs.Waiter, tenant, id string) <-chan waited {
	ch := make(chan waited, 1)
	go func() {
		j, err := w.Wait(ctx, tenant, id)
		ch <- waited{j, err, time.Now()}
	}()
	return ch
}

// wantAnnounced fails the test unless the Wait that returned r woke well
// within the fallback poll after end: from the job's announcement.
func wantAnnounced(t *testing.T, r waited, end time.Time) {
	t.Helper()
	if d := r.at.Sub(end); d >= wakeBound {
		t.Errorf("woke %v after the job ended, want well within the %v poll: by the announcement", d, pollInterval)
	}
}

// receive returns a Wait's result, failing the test after waitBound.
func receive(t *testing.T, ch <-chan waited) waited {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitBound):
		t.Fatalf("Wait did not return within %v", waitBound)
		return waited{}
	}
}

func TestWaitTerminalReturnsAtOnce(t *testing.T) {
	t.Parallel()

	for _, state := range []string{"succeeded", "failed", "canceled", "canceled-running"} {
		t.Run(state, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			w := b.newWaiter(t) // not started: nothing but the first read can answer
			id := b.reach(t, state)
			want := b.get(t, "acme", id)

			ctx, cancel := context.WithTimeout(t.Context(), waitBound)
			defer cancel()
			begin := time.Now()
			got, err := w.Wait(ctx, "acme", id)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("Wait = %+v, %v; want %+v", got, err, want)
			}
			if d := time.Since(begin); d >= wakeBound {
				t.Errorf("Wait on a %s job took %v, want it at once", state, d)
			}
		})
	}
}

// TestWaitWakesOnAnnouncement blocks waiters on a running job and ends the
// job from another goroutine: every waiter of that job wakes at once, a
// waiter of another job does not.
func TestWaitWakesOnAnnouncement(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		end        func(b *bundle, id string) error
		wantStatus reliapi.JobStatus
		wantResult *reliapi.Result
	}{
		{"finish succeeded", func(b *bundle, id string) error {
			_, err := b.store.Finish(context.Background(), id, jobs.Claim{TaskID: taskA}, reliapi.JobSucceeded, okResult, true, nil)
			return err
		}, reliapi.JobSucceeded, okResult},
		{"finish failed", func(b *bundle, id string) error {
			_, err := b.store.Finish(context.Background(), id, jobs.Claim{TaskID: taskA}, reliapi.JobFailed, failResult, true, nil)
			return err
		}, reliapi.JobFailed, failResult},
		{"finish without the record (an async job's)", func(b *bundle, id string) error {
			_, err := b.store.Finish(context.Background(), id, jobs.Claim{TaskID: taskA}, reliapi.JobSucceeded, okResult, false, nil)
			return err
		}, reliapi.JobSucceeded, okResult},
		{"cancel", func(b *bundle, id string) error {
			_, err := b.store.Cancel(context.Background(), "acme", id)
			return err
		}, reliapi.JobCanceled, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			w := b.newWaiter(t)
			b.startWaiter(t, w)
			id, other := b.reach(t, "running"), b.reach(t, "running")

			ctx, cancel := context.WithTimeout(t.Context(), waitBound)
			defer cancel()
			otherCtx, otherCancel := context.WithCancel(ctx)
			defer otherCancel()
			before := b.reads(t)
			results := []<-chan waited{wait(ctx, w, "acme", id), wait(ctx, w, "acme", id), wait(ctx, w, "acme", id)}
			otherResult := wait(otherCtx, w, "acme", other)
			waitFor(t, "every waiter to read its job", func() bool { return b.reads(t) >= before+4 })

			ended := make(chan error, 1)
			endAt := time.Now()
			go func() { ended <- tt.end(b, id) }()
			var got []*reliapi.Job
			for i, ch := range results {
				r := receive(t, ch)
				if r.err != nil || r.job.Status != tt.wantStatus || !reflect.DeepEqual(r.job.Result, tt.wantResult) {
					t.Fatalf("waiter %d: Wait = %+v, %v; want %s with %s", i, r.job, r.err, tt.wantStatus, jsonOf(tt.wantResult))
				}
				wantAnnounced(t, r, endAt)
				got = append(got, r.job)
			}
			if err := <-ended; err != nil {
				t.Fatal(err)
			}
			want := b.get(t, "acme", id)
			for i, j := range got {
				if !reflect.DeepEqual(j, want) {
					t.Errorf("waiter %d got\n%+v\nwant the stored job\n%+v", i, j, want)
				}
			}

			select {
			case r := <-otherResult:
				t.Fatalf("the waiter of another job returned %+v, %v", r.job, r.err)
			default:
			}
			otherCancel()
			r := receive(t, otherResult)
			if r.err != nil || r.job.ID != other || r.job.Status != reliapi.JobRunning {
				t.Errorf("the other waiter's Wait = %+v, %v; want its running job", r.job, r.err)
			}
		})
	}
}

func TestWaitDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	w := b.newWaiter(t)
	b.startWaiter(t, w)

	for _, state := range []string{"queued", "running"} {
		id := b.reach(t, state)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		got, err := w.Wait(ctx, "acme", id)
		cancel()
		// As it is, with the waiter named among its watchers.
		want := b.get(t, "acme", id)
		if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(want.Watchers, []string{w.Channel()}) {
			t.Errorf("Wait on a %s job past its deadline = %+v, %v; want the job as it is, watched by %s\n%+v", state, got, err, w.Channel(), want)
		}
	}
}

// TestWaitFallsBackToPolling ends jobs without the waiter hearing about it:
// Wait still sees the end by reading the job again.
func TestWaitFallsBackToPolling(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		prepare func(t *testing.T, b *bundle, w *jobs.Waiter)
		end     func(t *testing.T, b *bundle, id string)
	}{
		{
			name:    "never started",
			prepare: func(t *testing.T, b *bundle, w *jobs.Waiter) {},
			end: func(t *testing.T, b *bundle, id string) {
				b.finish(t, id, reliapi.JobSucceeded, okResult)
			},
		},
		{
			name: "stopped",
			prepare: func(t *testing.T, b *bundle, w *jobs.Waiter) {
				b.startWaiter(t, w)
				w.Stop()
				waitFor(t, "the waiter to unsubscribe", func() bool { return b.subscribers(t) == 0 })
			},
			end: func(t *testing.T, b *bundle, id string) {
				b.finish(t, id, reliapi.JobSucceeded, okResult)
			},
		},
		{
			name: "announcement lost",
			prepare: func(t *testing.T, b *bundle, w *jobs.Waiter) {
				b.startWaiter(t, w)
			},
			end: func(t *testing.T, b *bundle, id string) {
				// The outcome as Finish writes it, minus the PUBLISH.
				err := b.rdb.HSet(context.Background(), jobKey(id), "status", "succeeded",
					"result", jsonOf(okResult), "completed_at", b.redisNow(t).UnixMilli()).Err()
				if err != nil {
					t.Error(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			w := b.newWaiter(t)
			tt.prepare(t, b, w)
			id := b.reach(t, "running")

			ctx, cancel := context.WithTimeout(t.Context(), waitBound)
			defer cancel()
			before := b.reads(t)
			result := wait(ctx, w, "acme", id)
			waitFor(t, "the waiter to read its job", func() bool { return b.reads(t) >= before+1 })
			tt.end(t, b, id)

			r := receive(t, result)
			want := b.get(t, "acme", id)
			if r.err != nil || !reflect.DeepEqual(r.job, want) || r.job.Status != reliapi.JobSucceeded {
				t.Errorf("Wait = %+v, %v; want the finished job\n%+v", r.job, r.err, want)
			}
			if ctx.Err() != nil {
				t.Errorf("Wait returned only at its deadline")
			}
		})
	}
}

// TestWaiterResubscribes checks that the subscription comes back by itself
// after Redis does, so waiters are woken at once again.
func TestWaiterResubscribes(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	w := b.newWaiter(t)
	b.startWaiter(t, w)

	b.redis.Restart(t) // empty, and without our subscription
	waitFor(t, "the waiter to subscribe again", func() bool {
		n, err := b.rdb.PubSubNumSub(t.Context(), "reliapi:jobs:done").Result()
		return err == nil && n["reliapi:jobs:done"] == 1
	})

	id := b.reach(t, "running")
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	before := b.reads(t)
	result := wait(ctx, w, "acme", id)
	waitFor(t, "the waiter to read its job", func() bool { return b.reads(t) >= before+1 })
	endAt := time.Now()
	b.finish(t, id, reliapi.JobSucceeded, okResult)
	r := receive(t, result)
	if r.err != nil || r.job.Status != reliapi.JobSucceeded {
		t.Fatalf("Wait = %+v, %v; want succeeded", r.job, r.err)
	}
	wantAnnounced(t, r, endAt)
}

func TestWaiterStop(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})

	never := b.newWaiter(t)
	never.Stop()
	never.Stop()

	w := b.newWaiter(t)
	b.startWaiter(t, w)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(w.Stop)
	}
	wg.Wait()
	w.Stop()
	waitFor(t, "the stopped waiter to unsubscribe", func() bool { return b.subscribers(t) == 0 })

	// A stopped waiter still answers, by reading the job.
	id := b.reach(t, "succeeded")
	if j, err := w.Wait(t.Context(), "acme", id); err != nil || j.Status != reliapi.JobSucceeded {
		t.Errorf("Wait after Stop = %+v, %v; want the succeeded job", j, err)
	}
}

func TestWaitNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	w := b.newWaiter(t)
	b.startWaiter(t, w)
	running := b.reach(t, "running")
	done := b.reach(t, "succeeded")

	tests := []struct {
		name, tenant, id string
	}{
		{"another tenant's running job", "globex", running},
		{"another tenant's finished job", "globex", done},
		{"missing job", "acme", newJobID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), waitBound)
			defer cancel()
			j, err := w.Wait(ctx, tt.tenant, tt.id)
			if !errors.Is(err, reliapi.ErrNotFound) || j != nil {
				t.Errorf("Wait = %+v, %v; want nil, ErrNotFound", j, err)
			}
		})
	}
}

// TestWatchUsesTheAnnouncedRecord waits on a job created for the waiting
// caller (a sync call's, naming the waiter as its watcher), whose state
// the caller already knows: the announcement carries the finished record,
// so the wait reads nothing from Redis.
func TestWatchUsesTheAnnouncedRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	w := b.newWaiter(t)
	b.startWaiter(t, w)
	n := newJob(newJobID(), "acme")
	n.Watcher = w.Channel()
	known, created, err := b.store.Create(t.Context(), n, nil)
	if err != nil || !created || !reflect.DeepEqual(known.Watchers, []string{w.Channel()}) {
		t.Fatalf("Create = %+v, created %v, %v; want a new job watched by %s", known, created, err, w.Channel())
	}
	id := known.ID
	known = b.start(t, id, taskA)

	x := w.Watch(id)
	defer x.Close()
	got := make(chan waited, 1)
	go func() {
		j, err := x.Wait(t.Context(), "acme", known)
		got <- waited{j, err, time.Now()}
	}()
	before := b.reads(t)
	b.finish(t, id, reliapi.JobSucceeded, okResult)
	r := receive(t, got)
	if r.err != nil || r.job.Status != reliapi.JobSucceeded || !reflect.DeepEqual(r.job, b.get(t, "acme", id)) {
		t.Fatalf("Wait = %+v, %v", r.job, r.err)
	}
	// One HGETALL ran inside the finish script to build the announcement;
	// the get above is the second. The waiter added none.
	if n := b.reads(t) - before; n != 2 {
		t.Fatalf("job reads during the wait = %d, want 2 (announcement + the test's own)", n)
	}
}

// TestWaitOnLargeResultReadsTheJob finishes a job whose result is too large
// to broadcast: the announcement carries only the ID and the waiter reads
// the record itself.
func TestWaitOnLargeResultReadsTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	w := b.newWaiter(t)
	b.startWaiter(t, w)
	id := b.reach(t, "running")
	ch := wait(t.Context(), w, "acme", id)
	waitFor(t, "the waiter's first read", func() bool { return b.reads(t) > 0 })
	big := &reliapi.Result{Data: []byte(`"` + strings.Repeat("x", 70000) + `"`)}
	finished := time.Now()
	b.finish(t, id, reliapi.JobSucceeded, big)
	r := receive(t, ch)
	if r.err != nil || r.job.Status != reliapi.JobSucceeded || len(r.job.Result.Data) != 70002 {
		t.Fatalf("Wait = %v, %v", r.job, r.err)
	}
	wantAnnounced(t, r, finished)
}
