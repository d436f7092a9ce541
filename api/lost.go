package api

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
)

// lostGrace is how long past jobs.timeout a job that has not ended may go
// before a read asks asynq whether its task still exists. It covers the
// api's clock running ahead of Redis's (created_at is Redis TIME) and the
// moment between creating a job and enqueueing its task. Nothing else
// keeps a job without a task for long: a job waiting for its rate-limit
// slot is moved to its new task (Requeue) before the old one is
// acknowledged, and the check is by the job's current task.
const lostGrace = 5 * time.Second

// endOverdue ends job, just read, when it is overdue and nothing would end
// it soon: queued past its deadline while every worker is busy (expired
// now rather than when a worker is free), or lost with its task
// (endIfLost). Every read for a caller passes through it: by ID, long
// poll, list, and an idempotent repeat attaching to the job. Reads of
// other jobs cost nothing more.
func (s *Server) endOverdue(c *gin.Context, job *reliapi.Job) *reliapi.Job {
	return s.endIfLost(c, s.endIfExpired(c, job))
}

// endIfExpired expires a queued job whose deadline has passed, as the
// worker that picks its task up would: the job's waiters are told and its
// webhook is enqueued now. That worker still gives the job's
// concurrent-job slot and budget hold back (the task carries them), and
// finds the job ended.
func (s *Server) endIfExpired(c *gin.Context, job *reliapi.Job) *reliapi.Job {
	if job.Status != reliapi.JobQueued || job.Deadline.IsZero() || !time.Now().After(job.Deadline) {
		return job
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	expired, err := s.store.Expire(ctx, job.ID, job.TaskID)
	if err == nil && !expired {
		return job // started, ended or moved meanwhile, or Redis's clock is behind ours
	}
	var now *reliapi.Job
	if err == nil {
		now, err = s.store.Get(ctx, job.Tenant, job.ID)
	}
	if err != nil {
		logAt(c, slog.LevelWarn, "expiring an overdue job", "job_id", job.ID, "error", err)
		return job
	}
	s.tellWebhook(ctx, c, now)
	return now
}

// endIfLost ends job, just read, when it is not terminal past jobs.timeout
// and asynq no longer holds its task in any state: Redis lost the task (or
// the job's end) in a restart, and nothing will ever run or finish the job.
// It is failed with JOB_LOST, announced to waiters, its webhook enqueued,
// and its concurrent-job slot and cache entry released. When asynq or
// Redis cannot say, the job is returned as it is.
func (s *Server) endIfLost(c *gin.Context, job *reliapi.Job) *reliapi.Job {
	after := s.settings.Jobs.Timeout.Duration + lostGrace
	if job.Status.Terminal() || time.Since(job.CreatedAt) <= after || job.Queue == "" || job.TaskID == "" {
		return job
	}
	_, err := s.inspector.GetTaskInfo(job.Queue, job.TaskID)
	if err == nil {
		return job // still queued, scheduled, running or retrying
	}
	if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		logAt(c, slog.LevelWarn, "looking up an overdue job's task", "job_id", job.ID, "error", err)
		return job
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	now, failed, err := s.store.FailLost(ctx, job, after)
	if err != nil {
		logAt(c, slog.LevelWarn, "failing a lost job", "job_id", job.ID, "error", err)
		return job
	}
	if !failed {
		return now // a worker ended or moved it meanwhile
	}
	logAt(c, slog.LevelWarn, "job lost: its task no longer exists", "job_id", job.ID, "status", string(job.Status), "queue", job.Queue)
	s.releaseJobSlot(ctx, c, job.ID)
	if err := s.releaseCache(ctx, now); err != nil {
		logAt(c, slog.LevelWarn, "releasing lost job's cache entry", "job_id", job.ID, "error", err)
	}
	s.tellWebhook(ctx, c, now)
	return now
}

// tellWebhook enqueues the webhook of a job endOverdue just ended, if it
// has one; a failure is logged (the job is ended all the same).
func (s *Server) tellWebhook(ctx context.Context, c *gin.Context, job *reliapi.Job) {
	if job.Webhook == nil {
		return
	}
	if err := s.enqueueWebhook(ctx, job); err != nil {
		logAt(c, slog.LevelWarn, "enqueueing an overdue job's webhook", "job_id", job.ID, "status", string(job.Status), "error", err)
	}
}
