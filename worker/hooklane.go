package worker

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/tasks"
)

// hookWait is how long one pop of an empty webhook lane blocks: an idle
// worker costs Redis one command per webhooks shard this often.
const hookWait = 5 * time.Second

// hookYield is how long a webhook popper waits for jobs to stop waiting
// for the worker's slots (jobsFirst) before it goes on delivering beside
// them.
const hookYield = time.Second

// hookRunner delivers webhooks from the webhook lane (package lane): the
// first attempt of every delivery a worker's Finish queued there. One
// popper per webhooks queue shard; webhooks.concurrency slots, which the
// deliveries asynq runs (retries, fallbacks, the api's) take too, so that
// a worker makes no more deliveries at once than configured. A delivery
// taken from the lane records its attempt and settles its fallback task in
// one round trip; the deliveries of one pop read their jobs in one. While
// jobs wait for the worker's slots, its pops yield to them (jobsFirst).
type hookRunner struct {
	*slotPool[laneHook]
	w    *Worker
	pops poppers[*lane.HookPopper]
	// patience is how long after its queueing a delivery may still be
	// taken from the lane: its attempt then ends before its fallback task
	// comes due (webhookLaneFallback).
	patience time.Duration
}

// laneHook is a delivery taken from the webhook lane, with its job's read.
type laneHook struct {
	p    tasks.WebhookPayload
	read jobs.DeliveryRead
}

func newHookRunner(w *Worker, concurrency int, patience time.Duration) *hookRunner {
	return &hookRunner{slotPool: newSlotPool[laneHook](concurrency), w: w, patience: patience}
}

// webhookLaneFallback is when the fallback task of a delivery queued in the
// webhook lane comes due: after the lane's patience and one attempt's
// timeout, with a second to record it.
func webhookLaneFallback(timeout time.Duration) (patience, fallback time.Duration) {
	return timeout, 2*timeout + time.Second
}

// start starts a popper per webhooks shard.
func (r *hookRunner) start(shards int) {
	r.startRunners(r.run)
	var all []*lane.HookPopper
	for _, queue := range tasks.ShardsOf(tasks.QueueWebhooks, shards) {
		all = append(all, lane.NewHookPopper(r.w.cfg.Redis, queue, hookWait))
	}
	r.pops.start(all, r.pop)
}

// pop takes deliveries from one shard's webhook lane until ctx ends: as
// many as there are free slots, or while the lane is empty, one. When jobs
// start to wait for this worker's slots (jobsFirst), it gives them up to
// hookYield first, once while they wait: a burst's deliveries go out as it
// ends, and under a steady load they are late by hookYield at most.
func (r *hookRunner) pop(ctx context.Context, popper *lane.HookPopper) {
	yield := true // jobs that wait have not been given hookYield yet
	for {
		switch {
		case r.w.jobsFirst.clear():
			yield = true
		case yield:
			yield = r.w.jobsFirst.wait(ctx, hookYield)
		}
		limit := popBatch
		if popper.Idle() {
			limit = 1
		}
		held := r.take(ctx, limit)
		if held == 0 {
			return
		}
		hooks, err := popper.Pop(ctx, held)
		if err != nil && ctx.Err() == nil {
			r.w.log.Warn("popping the webhook lane; the deliveries' fallback tasks deliver them", "error", err)
		}
		r.release(held - len(hooks))
		r.runAll(hooks)
		if ctx.Err() != nil {
			return
		}
		if err != nil && len(hooks) == 0 {
			sleepCtx(ctx, time.Second)
		}
	}
}

// runAll reads the jobs of one pop's deliveries in one round trip and
// hands each to a runner. A delivery that does not decode is left to its
// fallback task; so is one that waited past the lane's patience (a
// backlog), its fallback made due now, in the same round trip, rather than
// when it would have come due.
func (r *hookRunner) runAll(hooks []lane.Hook) {
	w := r.w
	runs := make([]laneHook, 0, len(hooks))
	var stale []tasks.WebhookPayload
	for _, h := range hooks {
		p, err := tasks.DecodeWebhook(h.Payload)
		switch {
		case err != nil:
			w.log.Error("dropping an undecodable webhook lane entry; its fallback task delivers it", "error", err)
		case time.Since(h.At) > r.patience:
			w.log.Debug("webhook waited in the lane too long; its fallback task delivers it", "job_id", p.JobID)
			stale = append(stale, p)
		default:
			runs = append(runs, laneHook{p: p})
			continue
		}
		r.release(1)
	}
	if len(runs)+len(stale) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	_, _ = w.cfg.Redis.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, h := range runs {
			runs[i].read = jobs.ReadForDelivery(ctx, pipe, h.p.Tenant, h.p.JobID, h.p.URLDigest)
		}
		for _, p := range stale {
			w.lifecycle.SettleFallback(ctx, pipe, p, time.Nanosecond)
		}
		return nil
	})
	cancel()
	for _, h := range runs {
		r.hand(h)
	}
}

// run makes the first attempt of a delivery taken from the lane. Whatever
// it could not do (Redis trouble, a job that has not ended because its
// finish was not recorded) its fallback task does when it comes due.
func (r *hookRunner) run(h laneHook) {
	job, gone, err := h.read.Result()
	err = r.w.deliverInline(context.Background(), hookRun{p: h.p, laned: true}, job, gone, err)
	if err != nil && !errors.As(err, new(*retryIn)) {
		r.w.log.Warn("webhook lane delivery could not finish; its fallback task delivers it", "job_id", h.p.JobID, "error", err)
	}
}

// shutdown stops popping at once and waits up to timeout for the
// deliveries under way; it does nothing the second time.
func (r *hookRunner) shutdown(timeout time.Duration) {
	if r.pops.stopAll(r.w.log) && !r.closeAndWait(timeout) {
		r.w.log.Warn("webhook deliveries still under way at the end of the shutdown timeout; their fallback tasks deliver them")
	}
}
