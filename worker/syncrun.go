package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/reliability/breaker"
)

// SyncRunner runs, in the api replica that took them, the synchronous
// calls whose jobs lifecycle.Submit creates running under the replica's
// own claim (Submission.Run). Such a call skips the hand-offs through
// Redis to a worker and back, and usually calls its upstream while the
// round trip that creates its job is on its way (see early). Its job is
// recorded, claimed, renewed and ended as a worker's delivery is: the
// attempt chain is the worker's, its asynq task stands by to take it over
// when its claim lapses (this process died, or was cut at shutdown), and
// a cancel stops it.
//
// Its slots bound the calls it runs at once; a call that finds them all
// busy goes through the workers. Runners live as long as the process, as
// the lane's do (see slotPool).
type SyncRunner struct {
	*slotPool[*syncRun]
	w *Worker
	// mu keeps shutdown from closing the hand-over while a Run hands
	// over; closed refuses what comes after (a call whose handler outlived
	// the api's shutdown).
	mu       sync.RWMutex
	closed   bool
	stopOnce sync.Once
	// closedSeen is, per target, the breaker's admission as the last
	// creating round trip read it while closed, and when: a call may go
	// out before its own read is back while this one is fresh.
	closedSeen sync.Map // target → seenClosed
}

// seenClosed is a closed breaker's admission as read at at.
type seenClosed struct {
	ticket breaker.Ticket
	at     time.Time
}

// earlyFresh is how long a closed breaker's read lets calls to its target
// go out before their job's record is written. A breaker another process
// opened meanwhile stops this one's calls one round trip later, as it
// does a worker's whose read came just before the opening.
const earlyFresh = time.Second

// syncRun is one job the runner runs.
type syncRun struct {
	*lifecycle.Run
	// early, when set, is the breaker read the call goes out on before
	// the job's record is written; its claim is held for renewal once it
	// is (release), and a cancel or a lost claim ends ctx.
	early   *seenClosed
	ctx     context.Context
	stop    context.CancelFunc
	release func()
}

// SyncRunner returns the runner of sync calls of this process, with n
// slots, and starts what its runs need (claim renewal, cancels). Call it
// once, before Start and before serving; SyncRunner.Stop, or Worker.Stop,
// waits for its runs.
func (w *Worker) SyncRunner(n int) *SyncRunner {
	r := &SyncRunner{slotPool: newSlotPool[*syncRun](n), w: w}
	r.startRunners(r.run)
	w.syncRuns = r
	w.startRenewal()
	return r
}

// Take takes a slot for one call, without waiting: false when every slot
// is busy (the call then goes through the workers).
func (r *SyncRunner) Take() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	select {
	case r.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release gives back a slot taken for a call that made no run (its job
// was not created running: see lifecycle.Submission.Run).
func (r *SyncRunner) Release() { r.release(1) }

// Run runs a job on the slot taken for it, on one of the runner's
// goroutines; it returns at once, and may be called before the job's
// record is written. After shutdown the job is left to its asynq task,
// which takes it over once its claim lapses.
func (r *SyncRunner) Run(run *lifecycle.Run) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.w.log.Warn("sync call submitted after shutdown; its asynq task runs it", "job_id", run.Delivery.Payload.JobID)
		r.release(1)
		return
	}
	x := &syncRun{Run: run, early: r.earlyRead(run)}
	if x.early != nil {
		x.ctx, x.stop = context.WithCancel(context.Background())
	}
	// On Submit's goroutine as soon as the job exists: the breaker read is
	// there for the next call, and an early call's claim is renewed and
	// its cancel heard while the call goes on.
	run.OnLanded = func() {
		r.seen(run)
		if s := run.Started; x.early != nil && s.Err == nil && s.Claimed {
			x.release = r.w.claims.hold(run.Delivery.Payload, run.Delivery.Claim, x.stop)
		}
	}
	r.hand(x)
}

// earlyRead is the breaker read run's call may go out on before its job's
// record is written, nil when it must wait for its own: a call to a target
// whose breaker this process saw closed a moment ago. A streamed answer's
// first events may be written before the record too: its reader starts
// once the record is, from the stream's start.
func (r *SyncRunner) earlyRead(run *lifecycle.Run) *seenClosed {
	p := run.Delivery.Payload
	if _, ok := r.w.targets[p.Target]; !ok {
		return nil
	}
	v, ok := r.closedSeen.Load(p.Target)
	if !ok {
		return nil
	}
	seen := v.(seenClosed)
	if time.Since(seen.at) >= earlyFresh {
		return nil
	}
	return &seen
}

// forgetClosed makes the next sync call to target this process runs wait
// for its own breaker read: a call here failed, or found the breaker not
// closed.
func (w *Worker) forgetClosed(target string) {
	if w.syncRuns != nil {
		w.syncRuns.closedSeen.Delete(target)
	}
}

// seen notes the breaker read of a job that landed.
func (r *SyncRunner) seen(run *lifecycle.Run) {
	target := run.Delivery.Payload.Target
	if run.Admission == nil {
		return
	}
	if t, ok := run.Admission(); ok {
		r.closedSeen.Store(target, seenClosed{ticket: t, at: run.ReadAt})
	} else {
		r.closedSeen.Delete(target)
	}
}

func (r *SyncRunner) run(x *syncRun) {
	w, d := r.w, x.Delivery
	exec := w.execFor(d.Payload)
	var err error
	if x.early != nil {
		err = r.runEarly(x, exec)
	} else {
		<-x.Landed()
		if x.Started.Err != nil {
			// Submit failed, and removed the job: nothing to run.
			return
		}
		adm := &admission{target: d.Payload.Target, read: x.Admission, at: x.ReadAt}
		err = w.deliverStarted(context.Background(), d, adm, x.Started, exec)
	}
	if err != nil && !errors.As(err, new(*heldElsewhere)) {
		w.log.Warn("sync call could not record its job; its asynq task runs it", "job_id", d.Payload.JobID, "error", err)
	}
}

// runEarly runs a job whose call goes out while the round trip that
// creates it is on its way, then records the outcome once it has landed,
// as deliverStarted does. A job that could not be created keeps no
// outcome: its caller was answered that it failed.
func (r *SyncRunner) runEarly(x *syncRun, exec execute) error {
	w, d := r.w, x.Delivery
	p := d.Payload
	defer x.stop()
	adm := &admission{target: p.Target, read: func() (breaker.Ticket, bool) { return x.early.ticket, true }, at: time.Now()}
	tag := jobTag(p)
	// A fresh job: its first attempt, its deadline counted from about now.
	j := &run{payload: p, tag: tag, deadline: time.Now().Add(w.cfg.Settings.Jobs.Timeout.Duration), attempts: 1, admission: adm}
	res, later := w.invoke(x.ctx, j, exec)
	<-x.Landed()
	s := x.Started
	if s.Err != nil || !s.Claimed || s.Job == nil {
		w.log.Warn("sync call ran, but its job could not be created; its outcome is dropped", append(tag, "error", s.Err)...)
		return nil
	}
	defer x.release()
	w.metrics.observeWait(s.Job, p.Tier)
	return w.record(x.ctx, d, s.Job, j, res, later)
}

// Stop refuses new runs and waits up to timeout for those running; call
// it once the api takes no more calls. Runs still going then are left to
// their asynq tasks, which take them over when their claims lapse. Only
// the first call does anything (Worker.Stop makes one too).
func (r *SyncRunner) Stop(timeout time.Duration) {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		if !r.closeAndWait(timeout) {
			r.w.log.Warn("sync calls still running at the end of the shutdown timeout; their claims lapse and their asynq tasks take them over")
		}
	})
}
