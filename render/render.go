// Package render turns jobs and errors into the JSON bodies of ReliAPI's
// HTTP contract (README; docs/ARCHITECTURE.md): the Envelope of proxy
// answers, the error object, the job resource. The api answers with them;
// webhook deliveries carry the same job resource.
package render

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/reliapi/reliapi"
)

// Envelope is every JSON answer of the proxy routes, and every error of any
// route: {"success", "data" | "error", "meta"}.
type Envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   *ErrorBody      `json:"error,omitempty"`
	Meta    Meta            `json:"meta"`
}

// Meta describes how a call was served.
type Meta struct {
	RequestID string  `json:"request_id"`
	JobID     *string `json:"job_id"`
	Target    string  `json:"target,omitempty"`
	// What the worker learned: retries, and for LLM calls provider, model,
	// cost and fallback.
	reliapi.ResultMeta
	CacheHit      bool  `json:"cache_hit"`
	IdempotentHit bool  `json:"idempotent_hit"`
	DurationMS    int64 `json:"duration_ms"`
	// The routing decision the call came with (RouteLLM), if any.
	RouteDecisionID  string `json:"routellm_decision_id,omitempty"`
	RouteName        string `json:"routellm_route_name,omitempty"`
	ProviderOverride string `json:"routellm_provider_override,omitempty"`
	ModelOverride    string `json:"routellm_model_override,omitempty"`
}

// withRoute adds the routing decision d, if any, to m.
func (m *Meta) withRoute(d *reliapi.RouteDecision) {
	if d != nil {
		m.RouteDecisionID, m.RouteName, m.ProviderOverride, m.ModelOverride = d.DecisionID, d.RouteName, d.Provider, d.Model
	}
}

// ResultEnvelope renders a finished job as the body a synchronous call
// answers, and the HTTP status it answers with. It is also the job
// resource's "result", so one parser serves both.
func ResultEnvelope(j *reliapi.Job, requestID string, idempotentHit bool) (Envelope, int) {
	m := Meta{
		RequestID:     requestID,
		JobID:         &j.ID,
		Target:        j.Target,
		IdempotentHit: idempotentHit,
	}
	m.withRoute(j.Route)
	if !j.CompletedAt.IsZero() {
		m.DurationMS = j.CompletedAt.Sub(j.CreatedAt).Milliseconds()
	}
	var e *reliapi.Error
	switch {
	case j.Status == reliapi.JobCanceled:
		e = reliapi.Errorf(reliapi.CodeJobCanceled, "Job %s was canceled", j.ID)
	case j.Status == reliapi.JobExpired:
		e = reliapi.Errorf(reliapi.CodeJobExpired, "Job %s expired: its deadline passed before it started", j.ID)
	case j.Result == nil:
		e = &reliapi.Error{Code: reliapi.CodeInternal, Message: "Job finished without a result", Source: reliapi.SourceReliAPI}
	case j.Result.Error != nil:
		e = j.Result.Error
	}
	if j.Result != nil {
		m.ResultMeta = j.Result.Meta
	}
	if e != nil {
		body := NewErrorBody(e, j.Target)
		return Envelope{Success: false, Error: body, Meta: m}, body.StatusCode
	}
	return Envelope{Success: true, Data: j.Result.Data, Meta: m}, http.StatusOK
}

// Job is the JSON form of a job (GET /v1/jobs/{id}).
type Job struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Kind           reliapi.JobKind   `json:"kind"`
	Status         reliapi.JobStatus `json:"status"`
	Target         string            `json:"target"`
	CreatedAt      *time.Time        `json:"created_at"`
	StartedAt      *time.Time        `json:"started_at"`
	CompletedAt    *time.Time        `json:"completed_at"`
	Deadline       *time.Time        `json:"deadline"`
	Attempts       int               `json:"attempts"`
	IdempotencyKey *string           `json:"idempotency_key"`
	Result         *Envelope         `json:"result"`
	Error          *ErrorBody        `json:"error"`
	Webhook        *Webhook          `json:"webhook"`
}

// Webhook is a job's webhook: where its end goes, and how delivering it
// went.
type Webhook struct {
	URL        string             `json:"url"`
	Events     []string           `json:"events"`
	Status     string             `json:"status"`
	Deliveries []reliapi.Delivery `json:"deliveries"`
}

func NewJob(j *reliapi.Job) Job {
	r := Job{
		ID:          j.ID,
		Object:      "job",
		Kind:        j.Kind,
		Status:      j.Status,
		Target:      j.Target,
		CreatedAt:   timeOrNil(j.CreatedAt),
		StartedAt:   timeOrNil(j.StartedAt),
		CompletedAt: timeOrNil(j.CompletedAt),
		Deadline:    timeOrNil(j.Deadline),
		Attempts:    j.Attempts,
	}
	if j.IdempotencyKey != "" {
		r.IdempotencyKey = &j.IdempotencyKey
	}
	if w := j.Webhook; w != nil {
		r.Webhook = &Webhook{URL: w.URL, Events: w.Events, Status: j.WebhookStatus, Deliveries: j.Deliveries}
		if len(r.Webhook.Events) == 0 {
			r.Webhook.Events = reliapi.JobEvents
		}
		if r.Webhook.Deliveries == nil {
			r.Webhook.Deliveries = []reliapi.Delivery{}
		}
	}
	if j.Status.Terminal() {
		env, _ := ResultEnvelope(j, j.RequestID, false)
		r.Error = env.Error
		if j.Status != reliapi.JobCanceled && j.Status != reliapi.JobExpired {
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
