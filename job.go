package reliapi

import (
	"encoding/json"
	"net/http"
	"time"
)

// JobStatus is where a job is in its life: queued → running → succeeded,
// failed or canceled; or queued → expired when its deadline passed before
// it started.
type JobStatus string

// The job statuses. Succeeded, failed, canceled and expired are terminal.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobCanceled  JobStatus = "canceled"
	JobExpired   JobStatus = "expired"
)

// Terminal reports whether the status is final.
func (s JobStatus) Terminal() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCanceled || s == JobExpired
}

// Valid reports whether s is one of the known statuses.
func (s JobStatus) Valid() bool {
	switch s {
	case JobQueued, JobRunning, JobSucceeded, JobFailed, JobCanceled, JobExpired:
		return true
	}
	return false
}

// JobKind says which proxy a job goes through.
type JobKind string

// The job kinds.
const (
	KindHTTP JobKind = "http"
	KindLLM  JobKind = "llm"
)

// Job is one accepted call: the unit the api enqueues, a worker executes and
// a client polls. It never holds the request's headers or body (they may carry
// the caller's secrets); those travel only in the task payload.
type Job struct {
	ID             string
	Tenant         string
	Kind           JobKind
	Status         JobStatus
	Target         string
	IdempotencyKey string
	// RequestHash fingerprints the canonical request; a repeat of the same
	// idempotency key with another hash is a conflict.
	RequestHash string
	// RequestID is the X-Request-ID of the call that created the job.
	RequestID string
	// Queue and TaskID locate the job's asynq task, so a cancel can reach it.
	Queue  string
	TaskID string
	// CacheHash names the response-cache entry this job fills, if any, so
	// that canceling it releases the entry for the next caller.
	CacheHash   string
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	// Deadline, when set, is when the job expires if it has not started.
	Deadline time.Time
	// ClaimUntil is when the claim of the delivery running the job lapses
	// unless renewed (then another delivery of its task may take it over).
	ClaimUntil time.Time
	// Watchers are the channels of the api replicas where a caller waits
	// for the job's end: its end is announced on them (jobs.Waiter).
	Watchers []string
	// Attempts counts how often a worker started the job (more than one only
	// after a crash or lease loss: asynq delivers at least once).
	Attempts int
	// Result is set once the job is succeeded or failed.
	Result *Result
	// Webhook, when set, is where the job's end is delivered;
	// WebhookStatus and Deliveries say how that went.
	Webhook       *Subscription
	WebhookStatus string
	Deliveries    []Delivery
	// Route, when set, is the routing decision the call came with.
	Route *RouteDecision
}

// Result is a finished job's outcome: Data on success, Error on failure.
// The api renders it as exactly the body a synchronous call returns.
type Result struct {
	Data  json.RawMessage `json:"data,omitempty"`
	Error *Error          `json:"error,omitempty"`
	Meta  ResultMeta      `json:"meta"`
}

// ResultMeta is what the worker learned while executing a job.
type ResultMeta struct {
	// Retries is the number of upstream attempts after the first.
	Retries int `json:"retries"`
	// Provider and Model name who answered an LLM job.
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
	// Cost of an LLM job: the actual cost from the provider's usage, the
	// estimate made before the call, and what the cost policy did.
	CostUSD           *float64 `json:"cost_usd,omitempty"`
	CostEstimateUSD   *float64 `json:"cost_estimate_usd,omitempty"`
	CostPolicyApplied string   `json:"cost_policy_applied,omitempty"`
	MaxTokensReduced  bool     `json:"max_tokens_reduced,omitempty"`
	OriginalMaxTokens *int     `json:"original_max_tokens,omitempty"`
	// FallbackUsed says another target answered: FallbackTarget.
	FallbackUsed   bool   `json:"fallback_used,omitempty"`
	FallbackTarget string `json:"fallback_target,omitempty"`
}

// HTTPResponse is the Data of a successful HTTP job: the upstream's answer.
// An upstream 4xx other than 429 is a successful call too; StatusCode
// carries it.
type HTTPResponse struct {
	StatusCode int               `json:"status_code"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
}

// Header is the answer's headers as an http.Header (Headers' names are in
// canonical form already).
func (r *HTTPResponse) Header() http.Header {
	h := make(http.Header, len(r.Headers))
	for k, v := range r.Headers {
		h[k] = []string{v}
	}
	return h
}

// Priority orders a tenant's own queued jobs: high before normal before
// low. It does not change the tenant's share of the workers.
type Priority string

// The priorities; a job without one is normal.
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// Priorities lists the priorities, highest first.
var Priorities = []Priority{PriorityHigh, PriorityNormal, PriorityLow}

// Rank is the priority's place in Priorities: 0 for high; normal for
// anything else.
func (p Priority) Rank() int {
	switch p {
	case PriorityHigh:
		return 0
	case PriorityLow:
		return 2
	}
	return 1
}

// Valid reports whether p is one of the priorities.
func (p Priority) Valid() bool {
	return p == PriorityHigh || p == PriorityNormal || p == PriorityLow
}
