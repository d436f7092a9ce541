package api

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi/tasks"
)

// queueView is one queue's counts, as asynq keeps them.
type queueView struct {
	Queue          string  `json:"queue"`
	Size           int     `json:"size"`
	Pending        int     `json:"pending"`
	Active         int     `json:"active"`
	Scheduled      int     `json:"scheduled"`
	Retry          int     `json:"retry"`
	Archived       int     `json:"archived"`
	ProcessedToday int     `json:"processed_today"`
	FailedToday    int     `json:"failed_today"`
	LatencyS       float64 `json:"latency_s"`
	Paused         bool    `json:"paused"`
}

// adminQueues serves GET /v1/admin/queues: every queue's sizes, the same
// for every replica since they are read from Redis.
func (s *Server) adminQueues(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	names := tasks.AllQueues(s.settings.QueueShards)
	slices.Sort(names)
	// A queue asynq has not seen yet is empty; asking for its stats is an
	// error.
	known, err := s.inspector.Queues()
	if err != nil {
		writeError(c, err, m)
		return
	}
	out := make([]queueView, 0, len(names))
	for _, q := range names {
		if !slices.Contains(known, q) {
			out = append(out, queueView{Queue: q})
			continue
		}
		info, err := s.inspector.GetQueueInfo(q)
		if err != nil {
			writeError(c, err, m)
			return
		}
		out = append(out, queueView{Queue: q, Size: info.Size, Pending: info.Pending, Active: info.Active,
			Scheduled: info.Scheduled, Retry: info.Retry, Archived: info.Archived, ProcessedToday: info.Processed,
			FailedToday: info.Failed, LatencyS: info.Latency.Seconds(), Paused: info.Paused})
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}

// adminRunJob serves POST /v1/admin/jobs/{id}/run: a job whose task waits
// in asynq (scheduled for a rate-limit slot, or retrying after a worker
// failed) runs now. A job that has ended cannot: its request is not kept.
func (s *Server) adminRunJob(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	id, ok := s.jobParam(c, m)
	if !ok {
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	job, err := s.store.Lookup(ctx, id)
	if err != nil {
		writeError(c, s.jobErr(id, err), m)
		return
	}
	if job.Status.Terminal() {
		writeError(c, invalid("Job %s has ended (%s) and cannot run again: its request is not kept; submit it again", id, job.Status), m)
		return
	}
	err = s.inspector.RunTask(job.Queue, job.TaskID)
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		// asynq refuses a task that is pending or active already: it needs
		// nothing from us.
		logAt(c, slog.LevelInfo, "job's task not moved", "job_id", id, "error", err)
	}
	writeJob(c, http.StatusOK, job)
}
