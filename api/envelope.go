package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
)

// envelope is every JSON answer of the proxy routes, and every error of any
// route: {"success", "data" | "error", "meta"}.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   *errorBody      `json:"error,omitempty"`
	Meta    meta            `json:"meta"`
}

// meta describes how a call was served.
type meta struct {
	RequestID string  `json:"request_id"`
	JobID     *string `json:"job_id"`
	Target    string  `json:"target,omitempty"`
	// What the worker learned: retries, and for LLM calls provider, model,
	// cost and fallback.
	reliapi.ResultMeta
	CacheHit      bool  `json:"cache_hit"`
	IdempotentHit bool  `json:"idempotent_hit"`
	DurationMS    int64 `json:"duration_ms"`
}

// resultEnvelope renders a finished job as the body a synchronous call
// answers, and the HTTP status it answers with. It is also the job
// resource's "result", so one parser serves both.
func resultEnvelope(j *reliapi.Job, requestID string, idempotentHit bool) (envelope, int) {
	m := meta{
		RequestID:     requestID,
		JobID:         &j.ID,
		Target:        j.Target,
		IdempotentHit: idempotentHit,
	}
	if !j.CompletedAt.IsZero() {
		m.DurationMS = j.CompletedAt.Sub(j.CreatedAt).Milliseconds()
	}
	var e *reliapi.Error
	switch {
	case j.Status == reliapi.JobCanceled:
		e = reliapi.Errorf(reliapi.CodeJobCanceled, "Job %s was canceled", j.ID)
	case j.Result == nil:
		e = &reliapi.Error{Code: reliapi.CodeInternal, Message: "Job finished without a result", Source: reliapi.SourceReliAPI}
	case j.Result.Error != nil:
		e = j.Result.Error
	}
	if j.Result != nil {
		m.ResultMeta = j.Result.Meta
	}
	if e != nil {
		body := newErrorBody(e, j.Target)
		return envelope{Success: false, Error: body, Meta: m}, body.StatusCode
	}
	return envelope{Success: true, Data: j.Result.Data, Meta: m}, http.StatusOK
}

// writeResult answers a synchronous call with its finished job.
func writeResult(c *gin.Context, j *reliapi.Job, idempotentHit bool) {
	env, status := resultEnvelope(j, requestID(c), idempotentHit)
	c.Header("X-Retries", strconv.Itoa(env.Meta.Retries))
	c.Header("X-Duration-MS", strconv.FormatInt(env.Meta.DurationMS, 10))
	c.Header("X-Cache-Hit", "false")
	setRetryAfter(c, env.Error)
	c.JSON(status, env)
}

// jobResource is the JSON form of a job (GET /v1/jobs/{id}).
type jobResource struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Kind           reliapi.JobKind   `json:"kind"`
	Status         reliapi.JobStatus `json:"status"`
	Target         string            `json:"target"`
	CreatedAt      *time.Time        `json:"created_at"`
	StartedAt      *time.Time        `json:"started_at"`
	CompletedAt    *time.Time        `json:"completed_at"`
	Attempts       int               `json:"attempts"`
	IdempotencyKey *string           `json:"idempotency_key"`
	Result         *envelope         `json:"result"`
	Error          *errorBody        `json:"error"`
	Webhook        any               `json:"webhook"`
}

func newJobResource(j *reliapi.Job) jobResource {
	r := jobResource{
		ID:          j.ID,
		Object:      "job",
		Kind:        j.Kind,
		Status:      j.Status,
		Target:      j.Target,
		CreatedAt:   timeOrNil(j.CreatedAt),
		StartedAt:   timeOrNil(j.StartedAt),
		CompletedAt: timeOrNil(j.CompletedAt),
		Attempts:    j.Attempts,
	}
	if j.IdempotencyKey != "" {
		r.IdempotencyKey = &j.IdempotencyKey
	}
	if j.Status.Terminal() {
		env, _ := resultEnvelope(j, j.RequestID, false)
		r.Error = env.Error
		if j.Status != reliapi.JobCanceled {
			r.Result = &env
		}
	}
	return r
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// writeJob answers with a job resource. A job that is not finished yet
// carries Retry-After, the polite polling interval.
func writeJob(c *gin.Context, status int, j *reliapi.Job) {
	if !j.Status.Terminal() {
		c.Header("Retry-After", "1")
	}
	c.JSON(status, newJobResource(j))
}

// writeAccepted answers 202 with the job and where to poll it.
func writeAccepted(c *gin.Context, j *reliapi.Job) {
	c.Header("Location", "/v1/jobs/"+j.ID)
	writeJob(c, http.StatusAccepted, j)
}
