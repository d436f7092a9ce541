package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/reliability/retry"
	"github.com/reliapi/reliapi/tasks"
)

// execute is how one kind of job calls its upstream. A positive later asks
// to run the job again after that long (it waits for a rate-limit slot).
type execute func(ctx context.Context, j *run) (res *reliapi.Result, later time.Duration)

// handler runs jobs of one kind: decode the task, mark the job running,
// call the upstream with exec, fill the cache, record the outcome. valid
// says whether a payload carries this kind's request.
func (w *Worker) handler(valid func(tasks.Payload) bool, exec execute) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error { return w.handle(ctx, t, valid, exec) }
}

func (w *Worker) handle(ctx context.Context, t *asynq.Task, valid func(tasks.Payload) bool, exec execute) error {
	p, err := tasks.Decode(t.Payload())
	if err == nil && !valid(p) {
		err = fmt.Errorf("%s task without its request", t.Type())
	}
	if err != nil {
		// Retrying cannot help; asynq archives the task for inspection.
		w.log.Error("dropping undecodable task", "job_id", p.JobID, "error", err)
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	taskID, _ := asynq.GetTaskID(ctx)
	// Attributes, not a derived logger: building one per job costs more
	// than the few lines a job usually logs.
	tag := []any{"job_id", p.JobID, "target", p.Target}

	var job *reliapi.Job
	var runnable bool
	err = w.record(ctx, "start", tag, func(ctx context.Context) (err error) {
		job, runnable, err = w.store.Start(ctx, p.JobID, taskID)
		return err
	})
	if err != nil {
		return err
	}
	if !runnable && job != nil && job.Status == reliapi.JobQueued && !job.Deadline.IsZero() && job.TaskID == taskID {
		w.settleCost(ctx, p, nil)
		defer w.releaseSlot(ctx, p)
		return w.expire(ctx, job, taskID)
	}
	if !runnable && job != nil && job.Status.Terminal() && job.Webhook != nil {
		// A delivery of a job that ended: maybe its worker died after
		// recording the end, before enqueuing the webhook. Enqueuing it
		// again is harmless (it exists once).
		if err := w.announceWebhook(ctx, job); err != nil {
			return err
		}
	}
	if !runnable {
		if job == nil || job.Status.Terminal() {
			w.releaseSlot(ctx, p)
		}
		w.log.Debug("skipping job that is not runnable", append(tag, "status", jobStatus(job))...)
		// Whatever this delivery's hold was for will not run now: give it
		// back (a hold settled already stays as it is).
		w.settleCost(ctx, p, nil)
		return nil
	}
	if job.Attempts > 1 {
		w.log.Warn("running job again after an interrupted delivery", append(tag, "attempts", job.Attempts)...)
	}
	tg, ok := w.targets[p.Target]
	if !ok {
		res := &reliapi.Result{Error: reliapi.Errorf(reliapi.CodeNotFound, "Target %q is not configured on this worker", p.Target)}
		w.settleCost(ctx, p, res)
		w.fillCache(ctx, p, res)
		defer w.releaseSlot(ctx, p)
		return w.finish(ctx, job, taskID, res)
	}

	// The job's own deadline counts from its creation, across reschedules;
	// asynq's bounds this run, less the time to record the outcome.
	j := &run{payload: p, target: tg, tag: tag, deadline: job.CreatedAt.Add(w.cfg.Settings.Jobs.Timeout.Duration), attempts: job.Attempts}
	j.profileName, j.profile = w.cfg.Settings.Profile(p.Profile)
	runDeadline := j.deadline
	if d, ok := ctx.Deadline(); ok && d.Add(-tasks.RecordMargin).Before(runDeadline) {
		runDeadline = d.Add(-tasks.RecordMargin)
	}
	runCtx, cancel := context.WithDeadline(ctx, runDeadline)
	defer cancel()
	res, later := w.withParallelSlot(runCtx, j, exec)
	if later > 0 {
		return w.reschedule(ctx, j, job, taskID, later)
	}
	w.settleCost(ctx, p, res)
	w.fillCache(ctx, p, res)
	if ctx.Err() != nil {
		// Canceled by a cancel request (the record already says canceled) or
		// past asynq's deadline: asynq has taken the task back already.
		w.log.Info("job context ended", append(tag, "error", ctx.Err())...)
	}
	err = w.finish(ctx, job, taskID, res)
	w.endStream(ctx, p, res)
	w.releaseSlot(ctx, p)
	return err
}

// releaseSlot gives back the tenant's concurrent-job slot the job holds,
// if any, once the job has ended. A failure is logged: the slot frees
// itself when its hold expires.
func (w *Worker) releaseSlot(ctx context.Context, p tasks.Payload) {
	if p.Caps == nil || !p.Caps.Slot {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := w.quota.Release(ctx, tasks.JobSlots(p.Tenant), p.JobID); err != nil {
		w.log.Warn("releasing a concurrent-job slot", "job_id", p.JobID, "error", err)
	}
}

// run is one execution of a job.
type run struct {
	payload     tasks.Payload
	target      target
	profileName string
	profile     *config.ClientProfile
	// deadline is the job's: created_at + jobs.timeout.
	deadline time.Time
	// attempts counts the deliveries that started the job, this one
	// included.
	attempts int
	tag      []any
}

// retryMatrix is the target's matrix, capped by the caller's tier.
func (j *run) retryMatrix(m retry.Matrix) retry.Matrix {
	if c := j.payload.Caps; c != nil {
		return m.Capped(c.MaxRetries)
	}
	return m
}
