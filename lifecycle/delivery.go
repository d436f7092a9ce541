package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/tasks"
)

// Delivery is one run of a job's task by a worker. asynq may deliver a
// task more than once (a lost lease, a crash, a shutdown); the job's
// record says which delivery owns the job (its claim) and whether there is
// anything left to run.
type Delivery struct {
	Payload tasks.Payload
	// Claim is the delivery's hold on the job: the asynq task ID it came
	// with, a token of its own (NewClaim), and its lease.
	Claim jobs.Claim
	// Admit, when set, adds commands to send with the job's start, in one
	// round trip: the worker's breaker admission for the first attempt.
	Admit func(redis.Pipeliner)
	// Ended, when set, is handed the job's ended record once Finish has
	// recorded it: an api's own run of a sync call (Submission.Run)
	// tells its waiting caller in the process, instead of waiting for the
	// announcement to come back from Redis.
	Ended func(*reliapi.Job)
	// Hint marks a delivery from the wake-up lane: one that finds no job
	// (on a Redis Cluster the lane entry may be read before the record is
	// written, the two living on different nodes) looks again for a moment
	// (recordLag), then leaves it to the job's task, which owns every
	// clean-up.
	Hint bool
}

// NewClaim is a fresh claim on the job of task taskID, held for lease.
func NewClaim(taskID string, lease time.Duration) jobs.Claim {
	return jobs.Claim{TaskID: taskID, Token: rand.Text(), Lease: lease}
}

// Begin claims the job of a delivery: it marks it running and returns it.
// It returns no job when the delivery has nothing to run, after doing what
// such a delivery owes: a job still queued past its deadline is expired; a
// job that ended has its webhook queued again (its worker may have died
// between recording the end and queueing it); the slot of a job that ended
// or is gone and the delivery's budget hold are given back. A positive
// wait says another delivery holds the job under a live claim: ask again
// after wait, in case that claim lapses (its worker died). An error means
// Redis could not record the start within the persist window: asynq runs
// the task again later.
func (m *Manager) Begin(ctx context.Context, d Delivery) (job *reliapi.Job, wait time.Duration, err error) {
	return m.BeginStarted(ctx, d, m.StartAll(ctx, d)[0])
}

// StartAll sends the starts of several deliveries (the jobs a worker took
// from the lane in one pop) in one round trip, each with its Admit; hand
// each answer to BeginStarted.
func (m *Manager) StartAll(ctx context.Context, ds ...Delivery) []jobs.Started {
	starts := make([]jobs.Starting, len(ds))
	for i, d := range ds {
		starts[i] = jobs.Starting{ID: d.Payload.JobID, Claim: d.Claim, More: d.Admit}
	}
	return m.store.StartAll(ctx, starts)
}

// BeginStarted is Begin for a delivery whose start StartAll sent: a start
// that failed is sent again until Redis records it (within the persist
// window), then what follows is Begin's.
func (m *Manager) BeginStarted(ctx context.Context, d Delivery, s jobs.Started) (job *reliapi.Job, wait time.Duration, err error) {
	p := d.Payload
	job, claimed := s.Job, s.Claimed
	if s.Err != nil {
		err = m.persist(ctx, "start", p.JobID, func(ctx context.Context) (err error) {
			job, claimed, err = m.store.Start(ctx, p.JobID, d.Claim, d.Admit)
			return err
		})
	}
	if err == nil && job == nil && d.Hint {
		job, claimed, err = m.startOnceWritten(ctx, d)
	}
	switch {
	case err != nil:
		return nil, 0, err
	case claimed:
		return job, 0, nil
	case job != nil && job.Status == reliapi.JobRunning && job.TaskID == d.Claim.TaskID:
		return nil, max(time.Until(job.ClaimUntil), minClaimCheck), nil
	case job != nil && job.Status == reliapi.JobQueued && !job.Deadline.IsZero() && job.TaskID == d.Claim.TaskID:
		return nil, 0, m.expire(ctx, d, job)
	case job != nil && job.Status.Terminal():
		if err := m.queueWebhook(ctx, job); err != nil {
			return nil, 0, err
		}
	}
	m.log.Debug("skipping a job that is not runnable", "job_id", p.JobID, "status", statusOf(job))
	if job == nil && d.Hint {
		return nil, 0, nil
	}
	if job == nil || job.Status.Terminal() {
		// The job will not run again: give back what this delivery holds for
		// it (a slot or hold given back already stays so). A job alive under
		// another task (requeued) keeps them.
		m.releaseHeldSlot(ctx, p)
		m.settle(ctx, p.JobID, holdOf(p), 0)
	}
	return nil, 0, nil
}

// recordLag is how long, in growing steps, a lane delivery that found no
// job looks for its record again before leaving the job to its asynq task.
// On a Redis Cluster the submit's pipeline writes the record and the lane
// entry to different nodes at the same moment, and the entry can reach a
// waiting worker first; without a second look that job would wait for its
// task, a lane grace away (a sync call timing out meanwhile).
var recordLag = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 100 * time.Millisecond}

// startOnceWritten starts a lane delivery's job whose record was not there
// at its first start, once the record appears within recordLag; no job if
// it does not (the job ended and expired, or its submit failed).
func (m *Manager) startOnceWritten(ctx context.Context, d Delivery) (*reliapi.Job, bool, error) {
	for _, wait := range recordLag {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false, nil
		case <-t.C:
		}
		job, claimed, err := m.store.Start(ctx, d.Payload.JobID, d.Claim, d.Admit)
		if err != nil || job != nil {
			return job, claimed, err
		}
	}
	return nil, false, nil
}

// minClaimCheck is the soonest a delivery that found its job held by a
// live claim looks again: the clocks of the worker and of Redis differ a
// little, and a claim is renewed well before it lapses.
const minClaimCheck = 500 * time.Millisecond

// expire ends a job that no worker started before its deadline, gives back
// what it holds, and queues its webhook.
func (m *Manager) expire(ctx context.Context, d Delivery, job *reliapi.Job) error {
	p := d.Payload
	m.settle(ctx, p.JobID, holdOf(p), 0)
	defer m.releaseHeldSlot(ctx, p)
	var expired bool
	err := m.persist(ctx, "expiry", job.ID, func(ctx context.Context) (err error) {
		expired, err = m.store.Expire(ctx, job.ID, d.Claim.TaskID)
		return err
	})
	if err != nil {
		return err
	}
	if expired {
		m.cfg.OnEnd(reliapi.JobExpired)
		m.log.Info("job expired before it started", "job_id", job.ID, "deadline", job.Deadline)
	}
	return m.persist(ctx, "webhook", job.ID, func(ctx context.Context) error { return m.queueWebhook(ctx, job) })
}

// webhookAtEnd adds to p what a job's end with status does to its webhook:
// its first delivery queued, through the webhook lane when this Manager
// has one; or, when the subscription does not want the end's event, the
// webhook marked skipped (skip), which needs no delivery.
func (m *Manager) webhookAtEnd(ctx context.Context, p redis.Pipeliner, job *reliapi.Job, status reliapi.JobStatus) (cmd *redis.Cmd, skip bool) {
	if !job.Webhook.Wants(reliapi.EventOf(status)) {
		return jobs.SkipWebhook(ctx, p, job.ID, status), true
	}
	cmd, _ = m.addDelivery(ctx, p, tasks.FirstWebhook(job), m.cfg.WebhookLane > 0)
	return cmd, false
}

// marked reports whether a jobs.SkipWebhook marked the webhook. An end
// this finish recorded that is not marked was reordered behind it (its
// script run again after Redis lost it).
func marked(cmd *redis.Cmd) bool {
	n, err := cmd.Int()
	return err == nil && n == 1
}

// Finish records the outcome of a delivery's run of job, with everything
// that follows from it, in this order: the response cache filled (or its
// claim released) and the budget hold settled at res.Meta.CostUSD, the
// outcome recorded and announced, the webhook queued (one round trip), a
// streamed job's event stream ended, and the concurrent-job slot given
// back. An outcome that cannot be recorded within the persist window is
// an error: asynq runs the task again. A job canceled while it ran keeps
// its cancel.
//
// A worker that dies after recording the end has not acknowledged the
// task: asynq delivers it again, and Begin, finding the job ended, queues
// the webhook.
func (m *Manager) Finish(ctx context.Context, d Delivery, job *reliapi.Job, res *reliapi.Result) error {
	p := d.Payload
	status, actual := outcomeOf(res)
	hold := holdOf(p)
	var (
		recorded, skip bool
		ended          *reliapi.Job
		// What the outcome's pipeline carries besides, each nil when not
		// needed: the webhook's first delivery or its skip, the cache's
		// fill, the hold's settling.
		webhook, cached, settled *redis.Cmd
	)
	err := m.persist(ctx, "outcome", job.ID, func(ctx context.Context) (err error) {
		// Ahead of the finish, so that the caller its announcement answers
		// reads them: the cache filled, the spend settled.
		before := func(p redis.Pipeliner) {
			cached = fillCache(ctx, p, d.Payload, res)
			if hold != nil {
				// Settled even when the outcome is dropped (the job was
				// canceled or taken over meanwhile): this delivery made the
				// call. Whichever delivery settles first settles the hold.
				settled = budget.SettleIn(ctx, p, ledgerHold(hold), actual)
			}
		}
		after := func(p redis.Pipeliner) {
			// The job's task, no longer needed: a lane delivery ran it (a
			// task asynq runs is left for asynq to acknowledge).
			dropTask(ctx, p, job.Queue, d.Claim.TaskID)
			if job.Webhook != nil {
				webhook, skip = m.webhookAtEnd(ctx, p, job, status)
			}
		}
		recorded, ended, err = m.store.FinishRead(ctx, job.ID, d.Claim, status, res, tasks.KindOf(job.Queue) == tasks.QueueSync, d.Ended != nil, jobs.Along{Before: before, After: after})
		return err
	})
	if ended != nil {
		d.Ended(ended)
	}
	if err == nil {
		if recorded {
			m.cfg.OnEnd(status)
		} else {
			m.log.Info("job was canceled or taken over while running; outcome dropped", "job_id", job.ID)
		}
		if cached != nil && cached.Err() != nil {
			m.log.Warn("filling the response cache", "job_id", job.ID, "target", p.Target, "error", cached.Err())
		}
		if settled != nil && settled.Err() != nil {
			m.log.Error("settling a budget hold", "job_id", job.ID, "error", settled.Err())
		}
		if webhook != nil && (webhook.Err() != nil || skip && recorded && !marked(webhook)) {
			// A delivery task does what the pipeline could not: deliver,
			// or mark the webhook skipped.
			err = m.persist(ctx, "webhook", job.ID, func(ctx context.Context) error { return m.queueWebhook(ctx, job) })
		}
	}
	m.endStream(ctx, p, res)
	m.releaseHeldSlot(ctx, p)
	return err
}

// outcomeOf is the status res ends its job with, and the call's actual
// cost, at which its budget hold is settled.
func outcomeOf(res *reliapi.Result) (status reliapi.JobStatus, actualUSD float64) {
	if res.Meta.CostUSD != nil {
		actualUSD = *res.Meta.CostUSD
	}
	if res.Error != nil {
		return reliapi.JobFailed, actualUSD
	}
	return reliapi.JobSucceeded, actualUSD
}

// Requeue hands a running job back to the queue to run again after
// `after` (it waits for a rate-limit slot, which costs no worker slot
// there), within the job's deadline. The new task is enqueued first and
// the job's record then moved to it; a job canceled meanwhile keeps its
// state and the new task is removed.
func (m *Manager) Requeue(ctx context.Context, d Delivery, job *reliapi.Job, after time.Duration, deadline time.Time) error {
	newTaskID := rand.Text()
	d.Payload.Laned = false // the new task is the job's only way back
	task, err := tasks.New(d.Payload, tasks.Placement{
		Queue: job.Queue, TaskID: newTaskID, ProcessIn: after, Timeout: time.Until(deadline),
	})
	if err != nil {
		return fmt.Errorf("requeueing job: %w", err)
	}
	if _, err := m.enqueuer.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("requeueing job: %w", err)
	}
	moved, err := m.store.Requeue(ctx, job.ID, d.Claim, newTaskID)
	if err != nil {
		return err
	}
	drop := d.Claim.TaskID // the task the job leaves behind
	if !moved {
		m.log.Info("job canceled while waiting for its rate-limit slot", "job_id", job.ID)
		drop = newTaskID
	}
	if _, err := luascript.Pipelined(ctx, m.rdb, func(p redis.Pipeliner) error {
		dropTask(ctx, p, job.Queue, drop)
		return nil
	}); err != nil {
		m.log.Debug("removing a task the job no longer needs", "job_id", job.ID, "error", err)
	}
	if !moved {
		return nil
	}
	m.log.Debug("job waits for its rate-limit slot in the queue", "job_id", job.ID, "wait", after.String())
	return nil
}

// fillCache adds to p the storing of a job's answer in the response cache
// when its call asked for it and the answer is cacheable (a completion, or
// an HTTP answer with a status below 400), and the release of the job's
// claim either way, so that the next identical call hits the cache or
// tries again (calls that follow this job read its end). It returns the
// command, nil when the call asked for no caching. Its failure is logged:
// the job's own result does not depend on the cache.
func fillCache(ctx context.Context, p redis.Pipeliner, pl tasks.Payload, res *reliapi.Result) *redis.Cmd {
	fill := pl.Cache
	if fill == nil {
		return nil
	}
	if res.Error != nil || pl.LLM == nil && !cacheableStatus(res.Data) {
		return cache.AbandonIn(ctx, p, fill.Hash, pl.JobID)
	}
	return cache.StoreIn(ctx, p, fill.Hash, pl.JobID, res.Data, fill.TTL)
}

// cacheableStatus reports whether an HTTP answer's status is below 400.
func cacheableStatus(data []byte) bool {
	var r struct {
		StatusCode int `json:"status_code"`
	}
	return json.Unmarshal(data, &r) == nil && r.StatusCode > 0 && r.StatusCode < 400
}

// endStream writes the end of a streamed job's events: "done" with the
// finish reason, usage, model and cost, or "error" with what went wrong.
// Readers stop at it. It comes after the job's record is final, so a
// reader that saw it reads the ended job; a reader that finds the job
// ended first makes up the same end from the record.
func (m *Manager) endStream(ctx context.Context, p tasks.Payload, res *reliapi.Result) {
	if p.LLM == nil || !p.LLM.Stream {
		return
	}
	ctx, cancel := cleanup(ctx)
	defer cancel()
	var chat reliapi.ChatResponse
	var err error
	if res.Error == nil && json.Unmarshal(res.Data, &chat) == nil {
		err = m.store.AppendEvent(ctx, p.JobID, jobs.EventDone, jobs.StreamDone{
			FinishReason: chat.FinishReason, Usage: chat.Usage, Model: chat.Model, CostUSD: res.Meta.CostUSD,
		})
	} else {
		e := res.Error
		if e == nil {
			e = reliapi.Errorf(reliapi.CodeInternal, "Internal error while streaming")
		}
		err = m.store.AppendEvent(ctx, p.JobID, jobs.EventError, e)
	}
	if err != nil {
		m.log.Error("ending a job's event stream", "job_id", p.JobID, "error", err)
	}
}

// releaseHeldSlot gives back the concurrent-job slot a delivery's job
// holds, if it holds one.
func (m *Manager) releaseHeldSlot(ctx context.Context, p tasks.Payload) {
	if p.Caps != nil && p.Caps.Slot {
		m.releaseSlot(ctx, p.Tenant, p.JobID)
	}
}

// holdOf is the budget hold a delivery's job carries, if any.
func holdOf(p tasks.Payload) *tasks.BudgetHold {
	if p.Cost == nil {
		return nil
	}
	return p.Cost.Hold
}

func statusOf(j *reliapi.Job) string {
	if j == nil {
		return "gone"
	}
	return string(j.Status)
}

// maxLaneTurn bounds how long after its creation a job's fallback defers
// to the wake-up lane: a job whose lane entry was lost while its tenant
// kept others queued runs by then at the latest.
const maxLaneTurn = time.Minute

// TurnInLane says how long an asynq delivery of a job pushed to the
// wake-up lane (p.Laned) waits before it looks again, instead of running
// the job: while the job is still queued and its tenant has jobs ready in
// the job's lane, the job is waiting its fair turn there, and a fallback
// that ran it would serve the jobs that waited longest first, whoever's
// they are. Zero: deliver it now (the job was taken, ended, or its entry
// is gone with the tenant's). One round trip.
func (m *Manager) TurnInLane(ctx context.Context, p tasks.Payload, queue string) (time.Duration, error) {
	if !p.Laned {
		return 0, nil
	}
	var (
		job   jobs.QueuedRead
		ready lane.ReadyRead
	)
	_, err := m.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		job = jobs.ReadQueued(ctx, pipe, p.JobID)
		ready = lane.HasReady(ctx, pipe, queue, p.Tenant)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("looking for a job's turn in the lane: %w", err)
	}
	queued, created := job.Queued()
	age := time.Since(created)
	if !queued || !ready.Ready() || age > maxLaneTurn {
		return 0, nil
	}
	// Looking again at half the job's age: a deep backlog costs each of
	// its jobs a few looks, not one per grace period.
	return max(m.cfg.LaneGrace, age/2, minClaimCheck), nil
}
