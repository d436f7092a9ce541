package api

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/tasks"
)

// queueView is one queue's counts, as asynq keeps them, and, for a job
// queue, what waits in its wake-up lane.
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
	// Ready counts the jobs waiting in the queue's lane: its tenants' and
	// those handed off to a worker that has not taken them yet; for a
	// webhooks queue, the first delivery attempts waiting in its webhook
	// lane (their fallback tasks count as scheduled).
	Ready     int64       `json:"ready"`
	HandedOff int64       `json:"handed_off"`
	Tenants   []readyView `json:"tenants"`
}

// readyView is how many jobs of a tenant wait in one queue's lane.
type readyView struct {
	Tenant string `json:"tenant"`
	Tier   string `json:"tier"`
	Ready  int64  `json:"ready"`
}

// tenantView is a tenant's jobs over every queue: waiting in the lanes of
// each kind, and running on any worker (as the workers published it, up
// to a second ago).
type tenantView struct {
	Tenant     string `json:"tenant"`
	Tier       string `json:"tier"`
	ReadySync  int64  `json:"ready_sync"`
	ReadyAsync int64  `json:"ready_async"`
	Running    int    `json:"running"`
}

// adminQueues serves GET /v1/admin/queues: every queue's sizes, and every
// tenant's jobs ready and running, the same for every replica since they
// are read from Redis.
func (s *Server) adminQueues(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	queues, err := s.asynqQueues()
	if err != nil {
		writeError(c, err, m)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	depths, err := lane.Stats(ctx, s.cfg.Redis, jobQueues(s.settings.QueueShards)...)
	if err != nil {
		writeError(c, err, m)
		return
	}
	running, err := s.store.Running(ctx)
	if err != nil {
		writeError(c, err, m)
		return
	}
	hookQueues := tasks.ShardsOf(tasks.QueueWebhooks, s.settings.QueueShards)
	hooks, err := lane.HookDepths(ctx, s.cfg.Redis, hookQueues...)
	if err != nil {
		writeError(c, err, m)
		return
	}
	for i := range queues {
		queues[i].Tenants = []readyView{}
		for _, d := range depths {
			if d.Queue == queues[i].Queue {
				queues[i].addLane(d)
			}
		}
		if h := slices.Index(hookQueues, queues[i].Queue); h >= 0 {
			queues[i].Ready = hooks[h]
		}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": queues, "tenants": tenantsOf(depths, running)})
}

// asynqQueues are every queue's counts, as asynq keeps them, by name.
func (s *Server) asynqQueues() ([]queueView, error) {
	names := tasks.AllQueues(s.settings.QueueShards)
	slices.Sort(names)
	// A queue asynq has not seen yet is empty; asking for its stats is an
	// error.
	known, err := s.inspector.Queues()
	if err != nil {
		return nil, err
	}
	out := make([]queueView, 0, len(names))
	for _, q := range names {
		if !slices.Contains(known, q) {
			out = append(out, queueView{Queue: q})
			continue
		}
		info, err := s.inspector.GetQueueInfo(q)
		if err != nil {
			return nil, err
		}
		out = append(out, queueView{Queue: q, Size: info.Size, Pending: info.Pending, Active: info.Active,
			Scheduled: info.Scheduled, Retry: info.Retry, Archived: info.Archived, ProcessedToday: info.Processed,
			FailedToday: info.Failed, LatencyS: info.Latency.Seconds(), Paused: info.Paused})
	}
	return out, nil
}

// jobQueues are the queues with a wake-up lane: each shard of sync and
// async.
func jobQueues(shards int) []string {
	return append(tasks.ShardsOf(tasks.QueueSync, shards), tasks.ShardsOf(tasks.QueueAsync, shards)...)
}

// addLane adds what waits in the queue's lane to v.
func (v *queueView) addLane(d lane.Depth) {
	v.HandedOff = d.HandedOff
	v.Ready = d.HandedOff
	for _, r := range d.Tenants {
		v.Ready += r.Jobs
		v.Tenants = append(v.Tenants, readyView{Tenant: r.Tenant, Tier: config.TierLabel(r.Tier), Ready: r.Jobs})
	}
}

// tenantsOf sums, per tenant, its jobs ready in the lanes by kind and its
// jobs running, by tenant name. A tenant's tier is the one its ready jobs
// were queued with, else its running jobs'.
func tenantsOf(depths []lane.Depth, running []jobs.TenantRunning) []tenantView {
	byName := map[string]*tenantView{}
	view := func(tenant, tier string) *tenantView {
		v := byName[tenant]
		if v == nil {
			v = &tenantView{Tenant: tenant, Tier: config.TierUnknown}
			byName[tenant] = v
		}
		if v.Tier == config.TierUnknown {
			v.Tier = config.TierLabel(tier)
		}
		return v
	}
	for _, d := range depths {
		for _, r := range d.Tenants {
			v := view(r.Tenant, r.Tier)
			if tasks.KindOf(d.Queue) == tasks.QueueSync {
				v.ReadySync += r.Jobs
			} else {
				v.ReadyAsync += r.Jobs
			}
		}
	}
	for _, r := range running {
		view(r.Tenant, r.Tier).Running += r.Jobs
	}
	out := make([]tenantView, 0, len(byName))
	for _, v := range byName {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b tenantView) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out
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
