package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/reliability/retry"
	"github.com/reliapi/reliapi/tasks"
)

// heldElsewhere asks asynq to run a job's task again after wait: another
// delivery of it (the wake-up lane's) runs the job under a live claim, and
// this one takes over only if that claim lapses; or the job waits its turn
// in the lane.
type heldElsewhere struct{ wait time.Duration }

func (e *heldElsewhere) Error() string {
	return fmt.Sprintf("the job runs under another delivery's claim; looking again in %v", e.wait)
}

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
	// A fallback whose job waits its turn in the lane leaves it there: a
	// slot it took would serve the jobs that waited longest first.
	queue, _ := asynq.GetQueueName(ctx)
	if wait, err := w.lifecycle.TurnInLane(ctx, p, queue); err != nil {
		w.log.Debug("delivering a job without knowing its turn in the lane", "job_id", p.JobID, "error", err)
	} else if wait > 0 {
		return &heldElsewhere{wait: wait}
	}
	// One pool of worker.concurrency slots for both ways a job arrives: a
	// task asynq delivers (a fallback, a requeued job) waits for a slot as
	// the lane's poppers do.
	release, err := w.lane.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	taskID, _ := asynq.GetTaskID(ctx)
	return w.deliver(ctx, lifecycle.Delivery{Payload: p, Claim: lifecycle.NewClaim(taskID, claimLease)}, exec)
}

// deliver runs one delivery of a job: claim it, run it while renewing the
// claim, record the outcome (or hand the job back to the queue).
func (w *Worker) deliver(ctx context.Context, d lifecycle.Delivery, exec execute) error {
	adm := w.admitWith(&d)
	return w.deliverStarted(ctx, d, adm, w.lifecycle.StartAll(ctx, d)[0], exec)
}

// deliverStarted is deliver for a delivery whose start (with adm, the
// breaker read admitWith added to it) was sent already: s is its answer.
func (w *Worker) deliverStarted(ctx context.Context, d lifecycle.Delivery, adm *admission, s jobs.Started, exec execute) error {
	p := d.Payload
	job, wait, err := w.lifecycle.BeginStarted(ctx, d, s)
	switch {
	case err != nil:
		return err
	case wait > 0:
		return &heldElsewhere{wait: wait}
	case job == nil:
		return nil
	}
	w.metrics.observeWait(job, p.Tier)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer w.claims.hold(p, d.Claim, stop)()
	tag := jobTag(p)
	if job.Attempts > 1 {
		w.log.Warn("running job again after an interrupted delivery", append(tag, "attempts", job.Attempts)...)
	}
	// The job's own deadline counts from its creation, across reschedules.
	j := &run{payload: p, tag: tag, deadline: job.CreatedAt.Add(w.cfg.Settings.Jobs.Timeout.Duration), attempts: job.Attempts, admission: adm}
	res, later := w.invoke(ctx, j, exec)
	return w.record(ctx, d, job, j, res, later)
}

// record records what j's run of job came to: handed back to run again
// after later, when positive, else its priced outcome.
func (w *Worker) record(ctx context.Context, d lifecycle.Delivery, job *reliapi.Job, j *run, res *reliapi.Result, later time.Duration) error {
	if later > 0 {
		return w.lifecycle.Requeue(ctx, d, job, later, j.deadline)
	}
	w.price(j.payload, res)
	if ctx.Err() != nil {
		// Canceled by a cancel request (the record already says canceled),
		// its claim lost, or past asynq's deadline (asynq has taken the task
		// back already).
		w.log.Info("job context ended", append(j.tag, "error", ctx.Err())...)
	}
	return w.lifecycle.Finish(ctx, d, job, res)
}

// jobTag is the attributes a job's log lines carry: attributes, not a
// derived logger, since building one per job costs more than the few
// lines a job usually logs.
func jobTag(p tasks.Payload) []any { return []any{"job_id", p.JobID, "target", p.Target} }

// execFor is how the job of p calls its upstream.
func (w *Worker) execFor(p tasks.Payload) execute {
	if p.LLM != nil {
		return w.callLLM
	}
	return w.callHTTP
}

// invoke runs j with exec within its deadline and asynq's (less the time
// to record the outcome), holding a parallel slot of its profile. A
// positive later asks to run the job again after that long.
func (w *Worker) invoke(ctx context.Context, j *run, exec execute) (res *reliapi.Result, later time.Duration) {
	tg, ok := w.targets[j.payload.Target]
	if !ok {
		return &reliapi.Result{Error: reliapi.Errorf(reliapi.CodeNotFound, "Target %q is not configured on this worker", j.payload.Target)}, 0
	}
	j.target = tg
	j.profileName, j.profile = w.cfg.Settings.Profile(j.payload.Profile)
	runDeadline := j.deadline
	if d, ok := ctx.Deadline(); ok && d.Add(-tasks.RecordMargin).Before(runDeadline) {
		runDeadline = d.Add(-tasks.RecordMargin)
	}
	runCtx, cancel := context.WithDeadline(ctx, runDeadline)
	defer cancel()
	return w.withParallelSlot(runCtx, j, exec)
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
	// admission is the breaker's answer for the first attempt, taken with
	// the job's start.
	admission *admission
	tag       []any
}

// retryMatrix is the target's matrix, capped by the caller's tier.
func (j *run) retryMatrix(m retry.Matrix) retry.Matrix {
	if c := j.payload.Caps; c != nil {
		return m.Capped(c.MaxRetries)
	}
	return m
}

// upstream is the target j calls, with credential headers and the
// caller's profile's timeout, when it sets one, for the attempt.
func (j *run) upstream(headers map[string]string) httpx.Target {
	u := j.target.upstream
	if t := j.profile.DefaultTimeoutS; t > 0 {
		u.Timeout = time.Duration(t * float64(time.Second))
	}
	u.Headers = headers
	return u
}

// secret is the credential an attempt sends: the leased pool key's, else
// the target's own.
func (j *run) secret(lease keypool.Lease) string {
	if p := j.target.pool; p != nil && lease.KeyID != "" {
		return p.secrets[lease.KeyID]
	}
	return j.target.secret
}
