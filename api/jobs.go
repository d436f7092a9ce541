package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/render"
	"github.com/reliapi/reliapi/tasks"
)

// createJobRequest is the body of POST /v1/jobs: the kind, and the body
// its proxy route takes.
type createJobRequest struct {
	Kind    reliapi.JobKind `json:"kind"`
	Request json.RawMessage `json:"request"`
	// Webhook, when set, delivers the job's end to a URL (it may also be
	// given inside request).
	Webhook *reliapi.Subscription `json:"webhook"`
	// Deadline, when set, expires the job if no worker starts it by then
	// (RFC 3339). A string here, so that a bad one is an error that names
	// the field.
	Deadline *string `json:"deadline"`
	// IdempotencyKey is the job's key, as the Idempotency-Key header or the
	// key inside request.
	IdempotencyKey string `json:"idempotency_key"`
	// Priority orders the job among the tenant's own (it may also be given
	// inside request).
	Priority string `json:"priority"`
}

// extras are the job's fields, from the top level and from inside request
// (inner): the keys must agree, a top-level webhook wins; deadline is the
// parsed Deadline.
func (r *createJobRequest) extras(inner callExtras, deadline time.Time) (callExtras, error) {
	if r.IdempotencyKey != "" && inner.idempotencyKey != "" && r.IdempotencyKey != inner.idempotencyKey {
		return callExtras{}, invalid("Fields \"idempotency_key\" and \"request.idempotency_key\" differ")
	}
	if r.Priority != "" && inner.priority != "" && r.Priority != inner.priority {
		return callExtras{}, invalid("Fields \"priority\" and \"request.priority\" differ")
	}
	return callExtras{
		idempotencyKey: cmp.Or(r.IdempotencyKey, inner.idempotencyKey),
		webhook:        cmp.Or(r.Webhook, inner.webhook),
		deadline:       deadline,
		priority:       cmp.Or(r.Priority, inner.priority),
	}, nil
}

// createJob serves POST /v1/jobs: always asynchronous, 202 with the job.
func (s *Server) createJob(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "async")
	var req createJobRequest
	if err := decodeJSON(c.Request.Body, &req, s.maxBody); err != nil {
		writeError(c, err, m)
		return
	}
	extras, validate, err := s.readJobRequest(&req)
	var call *proxyCall
	if err == nil {
		call, err = s.validateCall(c, extras, validate)
	}
	if err != nil {
		writeError(c, err, m)
		return
	}
	m.Target = call.target
	setLabels(c, call.target, "async")
	job, _, err := s.submit(c, jobID(tenant(c), call.idemKey), call, tasks.QueueAsync, nil, "", false)
	if err != nil {
		writeError(c, err, m)
		return
	}
	writeAccepted(c, job)
}

// readJobRequest checks a job's own fields and decodes its request as its
// kind's proxy route does: it returns the job's fields and the request's
// validation.
func (s *Server) readJobRequest(req *createJobRequest) (callExtras, func() (*proxyCall, error), error) {
	var deadline time.Time
	if req.Deadline != nil {
		d, err := time.Parse(time.RFC3339, *req.Deadline)
		if err != nil {
			return callExtras{}, nil, invalid("Field \"deadline\" must be an RFC 3339 time, such as \"2026-01-02T15:04:05Z\"")
		}
		deadline = d
	}
	switch {
	case req.Kind != reliapi.KindHTTP && req.Kind != reliapi.KindLLM:
		return callExtras{}, nil, invalid("Field \"kind\" must be \"http\" or \"llm\"")
	case len(req.Request) == 0 || string(req.Request) == "null":
		return callExtras{}, nil, invalid("Field \"request\" is required")
	case req.Deadline != nil && !deadline.After(time.Now()):
		return callExtras{}, nil, invalid("Field \"deadline\" is in the past")
	case deadline.After(time.Now().Add(s.settings.Jobs.Retention.Duration)):
		return callExtras{}, nil, invalid("Field \"deadline\" is more than jobs.retention (%s) away", s.settings.Jobs.Retention)
	}
	var (
		inner    callExtras
		validate func() (*proxyCall, error)
	)
	if req.Kind == reliapi.KindLLM {
		var body llmProxyRequest
		if err := decodeJSON(bytes.NewReader(req.Request), &body, s.maxBody); err != nil {
			return callExtras{}, nil, err
		}
		inner = callExtras{idempotencyKey: body.IdempotencyKey, webhook: body.Webhook, priority: body.Priority}
		validate = func() (*proxyCall, error) { return body.validate(s.settings) }
	} else {
		var body httpProxyRequest
		if err := decodeJSON(bytes.NewReader(req.Request), &body, s.maxBody); err != nil {
			return callExtras{}, nil, err
		}
		inner = callExtras{idempotencyKey: body.IdempotencyKey, webhook: body.Webhook, priority: body.Priority}
		validate = func() (*proxyCall, error) { return body.validate(s.targets) }
	}
	extras, err := req.extras(inner, deadline)
	return extras, validate, err
}

// getJob serves GET /v1/jobs/{id}, with ?wait=N to long-poll until the job
// finishes or N seconds pass.
func (s *Server) getJob(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "poll")
	id := c.Param("id")
	var wait time.Duration
	if v := c.Query("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(c, invalid("Query parameter \"wait\" must be a whole number of seconds"), m)
			return
		}
		wait = capSeconds(n, s.settings.Server.MaxWait.Duration)
	}
	if !validJobID.MatchString(id) {
		writeError(c, s.jobNotFound(id), m)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), wait+s.redisTimeout)
	defer cancel()
	var (
		job *reliapi.Job
		err error
	)
	if wait > 0 {
		// Watch before reading, so that no announcement is missed; the read
		// names this replica among the job's watchers, where its end is
		// announced.
		watch := s.waiter.Watch(id)
		defer watch.Close()
		job, err = s.lifecycle.GetWatched(ctx, tenant(c), id, s.waiter.Channel())
		if err == nil {
			waitCtx, cancelWait := s.waitCtx(ctx, wait)
			defer cancelWait()
			job, err = watch.Wait(waitCtx, tenant(c), job)
		}
	} else {
		job, err = s.lifecycle.Get(ctx, tenant(c), id)
	}
	if err != nil {
		writeError(c, s.jobErr(id, err), m)
		return
	}
	writeJob(c, http.StatusOK, job)
}

// cancelJob serves POST /v1/jobs/{id}/cancel. A queued job is canceled
// without running; a running job's handler is interrupted; a finished job
// is returned unchanged. Repeating the call is harmless.
func (s *Server) cancelJob(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "cancel")
	id, ok := s.jobParam(c, m)
	if !ok {
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	job, err := s.lifecycle.Cancel(ctx, tenant(c), id)
	if err != nil {
		writeError(c, s.jobErr(id, err), m)
		return
	}
	writeJob(c, http.StatusOK, job)
}

// jobList is the body of GET /v1/jobs.
type jobList struct {
	Object     string        `json:"object"`
	Data       []jobResource `json:"data"`
	HasMore    bool          `json:"has_more"`
	NextCursor *string       `json:"next_cursor"`
}

// listJobs serves GET /v1/jobs?status=&limit=&cursor=, newest first.
func (s *Server) listJobs(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "list")
	opt := jobs.ListOptions{Status: reliapi.JobStatus(c.Query("status")), Cursor: c.Query("cursor")}
	if opt.Status != "" && !opt.Status.Valid() {
		writeError(c, invalid("Query parameter \"status\" must be one of queued, running, succeeded, failed, canceled, expired"), m)
		return
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > jobs.MaxListLimit {
			writeError(c, invalid("Query parameter \"limit\" must be between 1 and %d", jobs.MaxListLimit), m)
			return
		}
		opt.Limit = n
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*s.redisTimeout)
	defer cancel()
	page, err := s.lifecycle.List(ctx, tenant(c), opt)
	if errors.Is(err, jobs.ErrInvalidCursor) {
		writeError(c, invalid("Query parameter \"cursor\" is not a cursor this API returned"), m)
		return
	}
	if err != nil {
		writeError(c, err, m)
		return
	}
	out := jobList{Object: "list", Data: make([]jobResource, 0, len(page.Jobs)), HasMore: page.Next != ""}
	for _, j := range page.Jobs {
		out.Data = append(out.Data, render.NewJob(j))
	}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	c.JSON(http.StatusOK, out)
}

// jobParam reads the job ID of a job route; ok is false, and the call
// answered, when it cannot name a job.
func (s *Server) jobParam(c *gin.Context, m meta) (id string, ok bool) {
	id = c.Param("id")
	if !validJobID.MatchString(id) {
		writeError(c, s.jobNotFound(id), m)
		return "", false
	}
	return id, true
}

// jobNotFound is the answer about a job that does not exist: never
// created, of another tenant, or expired.
func (s *Server) jobNotFound(id string) *reliapi.Error {
	return reliapi.Errorf(reliapi.CodeJobNotFound, "Job %s does not exist, or it ended more than %s ago and its record expired (jobs.retention)", id, s.settings.Jobs.Retention)
}

// jobErr is err about job id, with "not found" said as jobNotFound.
func (s *Server) jobErr(id string, err error) error {
	if errors.Is(err, reliapi.ErrNotFound) {
		return s.jobNotFound(id)
	}
	return err
}
