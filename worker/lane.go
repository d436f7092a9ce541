package worker

import (
	"context"
	"errors"
	"time"

	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/tasks"
)

// laneWait is how long one pop blocks on an empty lane: an idle worker
// costs Redis one command per shard this often.
const laneWait = 2 * time.Second

// laneRunner takes jobs from the wake-up lane: one popper per queue shard
// (a blocking connection each, sync taken before async). Its slots bound
// the jobs the worker runs at once, whichever way they arrive, to
// worker.concurrency. A popper holds a free slot while it waits, so that
// nothing popped waits in this process while another worker is idle.
type laneRunner struct {
	*slotPool[laneJob]
	w    *Worker
	pops poppers[*lane.Popper]
}

// laneJob is a popped job whose start was sent: what run needs.
type laneJob struct {
	d       lifecycle.Delivery
	adm     *admission
	started jobs.Started
}

func newLaneRunner(w *Worker, concurrency int) *laneRunner {
	return &laneRunner{slotPool: newSlotPool[laneJob](concurrency), w: w}
}

// start starts a popper per shard.
func (r *laneRunner) start(shards int) {
	r.startRunners(r.run)
	all := make([]*lane.Popper, shards)
	for i, queue := range tasks.ShardsOf(tasks.QueueSync, shards) {
		all[i] = lane.NewPopper(r.w.cfg.Redis, laneWait, queue)
	}
	r.pops.start(all, r.pop)
}

// popBatch bounds the entries one pop takes: a popper takes as many as
// its worker has free slots, so that a busy lane costs a round trip per
// batch, not per job, and a worker never holds entries it cannot start.
const popBatch = 16

// pop takes jobs from one shard's lanes until ctx ends.
func (r *laneRunner) pop(ctx context.Context, popper *lane.Popper) {
	defer r.closePopper(popper)
	first := r.w.jobsFirst.popper()
	defer first.done()
	for {
		held := r.take(ctx, popBatch)
		if held == 0 {
			return
		}
		popped := first.popping()
		entries, err := popper.Pop(ctx, held)
		popped(err == nil && len(entries) == held)
		if err != nil && ctx.Err() == nil {
			r.w.log.Warn("popping the wake-up lane; asynq runs its jobs meanwhile", "error", err)
		}
		if ctx.Err() != nil {
			// Stopping: hand back what was popped but not started.
			r.handBack(entries...)
			r.release(held)
			return
		}
		r.release(held - len(entries))
		r.runAll(entries)
		if err != nil && len(entries) == 0 {
			sleepCtx(ctx, time.Second)
		}
	}
}

// runAll runs the jobs of one pop, each on a runner, holding one of the
// pop's slots. A job the push started as it handed it here runs at once;
// the starts of the others (each with its breaker read) go to Redis
// together first, one round trip for the pop rather than one per job. An
// entry that does not decode is dropped (its asynq task runs the job) and
// gives its slot back.
func (r *laneRunner) runAll(entries []lane.Entry) {
	w := r.w
	ds := make([]lifecycle.Delivery, 0, len(entries))
	adms := make([]*admission, 0, len(entries))
	for _, e := range entries {
		p, err := tasks.Decode(e.Payload)
		if err != nil {
			w.log.Error("dropping an undecodable lane entry; its asynq task runs the job", "task_id", e.TaskID, "error", err)
			r.release(1)
			continue
		}
		d := lifecycle.Delivery{Payload: p, Claim: lifecycle.NewClaim(e.TaskID, claimLease), Hint: true}
		if e.Claim != "" {
			// The push started the job under this claim: the delivery holds
			// it, or confirms it with its start when the entry came late.
			d.Claim.Token = e.Claim
		}
		if e.Started != nil {
			r.hand(laneJob{d: d, adm: w.admissionRead(d, e.Started.Read), started: jobs.StartedBy(e.Started.Record)})
			continue
		}
		adms = append(adms, w.admitWith(&d))
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	started := w.lifecycle.StartAll(ctx, ds...)
	cancel()
	for i, d := range ds {
		r.hand(laneJob{d: d, adm: adms[i], started: started[i]})
	}
}

// run runs one job from the lane whose start was sent; its end removes
// its asynq task. A job another delivery holds is left to that one.
func (r *laneRunner) run(j laneJob) {
	w, d := r.w, j.d
	err := w.deliverStarted(context.Background(), d, j.adm, j.started, w.execFor(d.Payload))
	if err != nil && !errors.As(err, new(*heldElsewhere)) {
		w.log.Warn("lane delivery could not record its job; its asynq task runs it", "job_id", d.Payload.JobID, "error", err)
	}
}

// handBack returns popped entries to the head of their shard.
func (r *laneRunner) handBack(entries ...lane.Entry) {
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := lane.Return(ctx, r.w.cfg.Redis, entries...); err != nil {
		r.w.log.Warn("handing popped jobs back; their asynq tasks run them", "jobs", len(entries), "error", err)
	}
}

// closePopper tells the pushes that popper no longer waits.
func (r *laneRunner) closePopper(popper *lane.Popper) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := popper.Close(ctx); err != nil {
		r.w.log.Warn("ending a lane wait; it lapses by itself", "error", err)
	}
}

// shutdown stops popping at once and waits up to timeout for the jobs
// that run. It does nothing the second time (a worker whose Start failed
// and is then stopped).
func (r *laneRunner) shutdown(timeout time.Duration) {
	if r.pops.stopAll(r.w.log) && !r.closeAndWait(timeout) {
		r.w.log.Warn("lane jobs still running at the end of the shutdown timeout; their claims lapse and their asynq tasks take them over")
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
