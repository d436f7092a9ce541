package lifecycle

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
)

// lostGrace is how long past jobs.timeout a job that has not ended may go
// before a read asks asynq whether its task still exists. It covers the
// api's clock running ahead of Redis's (created_at is Redis TIME) and the
// moment between creating a job and enqueueing its task. Nothing else
// keeps a job without a task for long: a job waiting for its rate-limit
// slot is moved to its new task (Requeue) before the old one is
// acknowledged, and the check is by the job's current task.
const lostGrace = 5 * time.Second

// Get reads the tenant's job for its caller, ending it first if it is
// overdue (see EndOverdue). A job of another tenant is reliapi.ErrNotFound.
func (m *Manager) Get(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	job, err := m.store.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return m.EndOverdue(ctx, job), nil
}

// GetWatched is Get for a caller that will wait for the job's end in the
// api replica whose done channel is channel (jobs.Store.GetWatched).
func (m *Manager) GetWatched(ctx context.Context, tenant, id, channel string) (*reliapi.Job, error) {
	job, err := m.store.GetWatched(ctx, tenant, id, channel)
	if err != nil {
		return nil, err
	}
	return m.EndOverdue(ctx, job), nil
}

// List lists the tenant's jobs for its caller, newest first, ending the
// overdue ones first: one listed as queued or running that ends now leaves
// a list filtered by its old status.
func (m *Manager) List(ctx context.Context, tenant string, opt jobs.ListOptions) (jobs.Page, error) {
	page, err := m.store.List(ctx, tenant, opt)
	if err != nil {
		return page, err
	}
	kept := page.Jobs[:0]
	for _, j := range page.Jobs {
		if j = m.EndOverdue(ctx, j); opt.Status == "" || j.Status == opt.Status {
			kept = append(kept, j)
		}
	}
	page.Jobs = kept
	return page, nil
}

// EndOverdue ends job, just read, when it is overdue and nothing would end
// it soon: queued past its deadline while every worker is busy (expired now
// rather than when a worker is free), or lost with its task. Every read for
// a caller passes through it: by ID, long poll, list, and an idempotent
// repeat attaching to the job. Reads of other jobs cost nothing more. When
// Redis or asynq cannot say, the job is returned as it is.
func (m *Manager) EndOverdue(ctx context.Context, job *reliapi.Job) *reliapi.Job {
	return m.endIfLost(ctx, m.endIfExpired(ctx, job))
}

// endIfExpired expires a queued job whose deadline has passed, as the
// worker that picks its task up would: the job's waiters are told and its
// webhook is queued now. That worker still gives the job's concurrent-job
// slot and budget hold back (the task carries them), and finds the job
// ended.
func (m *Manager) endIfExpired(ctx context.Context, job *reliapi.Job) *reliapi.Job {
	if job.Status != reliapi.JobQueued || job.Deadline.IsZero() || !time.Now().After(job.Deadline) {
		return job
	}
	expired, err := m.store.Expire(ctx, job.ID, job.TaskID)
	if err == nil && !expired {
		return job // started, ended or moved meanwhile, or Redis's clock is behind ours
	}
	var now *reliapi.Job
	if err == nil {
		now, err = m.store.Get(ctx, job.Tenant, job.ID)
	}
	if err != nil {
		m.log.Warn("expiring an overdue job", "job_id", job.ID, "error", err)
		return job
	}
	m.tellWebhook(ctx, now)
	return now
}

// endIfLost ends job, just read, when it is not terminal past jobs.timeout
// and asynq no longer holds its task in any state: Redis lost the task (or
// the job's end) in a restart, and nothing will ever run or finish the job.
// It is failed with JOB_LOST, announced to waiters, its webhook queued, and
// its concurrent-job slot and cache claim released. Its budget hold, which
// only the lost task named, lapses with its window.
func (m *Manager) endIfLost(ctx context.Context, job *reliapi.Job) *reliapi.Job {
	after := m.cfg.Timeout + lostGrace
	if job.Status.Terminal() || time.Since(job.CreatedAt) <= after || job.Queue == "" || job.TaskID == "" {
		return job
	}
	_, err := m.inspector.GetTaskInfo(job.Queue, job.TaskID)
	if err == nil {
		return job // still queued, scheduled, running or retrying
	}
	if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		m.log.Warn("looking up an overdue job's task", "job_id", job.ID, "error", err)
		return job
	}
	now, failed, err := m.store.FailLost(ctx, job, after)
	if err != nil {
		m.log.Warn("failing a lost job", "job_id", job.ID, "error", err)
		return job
	}
	if !failed {
		return now // a worker ended or moved it meanwhile
	}
	m.log.Warn("job lost: its task no longer exists", "job_id", job.ID, "status", string(job.Status), "queue", job.Queue)
	m.releaseSlot(ctx, job.Tenant, job.ID)
	m.abandonCache(ctx, now.CacheHash, now.ID)
	m.tellWebhook(ctx, now)
	return now
}

// tellWebhook queues the webhook of a job a read just ended, if it has
// one; a failure is logged (the job is ended all the same).
func (m *Manager) tellWebhook(ctx context.Context, job *reliapi.Job) {
	if err := m.queueWebhook(ctx, job); err != nil {
		m.log.Warn("queueing an overdue job's webhook", "job_id", job.ID, "status", string(job.Status), "error", err)
	}
}
