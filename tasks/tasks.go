package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
)

// The task types.
const (
	// TypeHTTP is a generic HTTP proxy call.
	TypeHTTP = "reliapi:http"
	// TypeLLM is a chat completion through an LLM provider.
	TypeLLM = "reliapi:llm"
)

// The kinds of job queue (see Shard and JobQueues for their shards and
// priorities).
const (
	QueueSync  = "sync"
	QueueAsync = "async"
)

// PayloadVersion is the version of Payload this build writes. A worker
// refuses payloads of a version it does not know instead of guessing.
const PayloadVersion = 1

// ErrUnknownVersion means a payload was written by a newer build.
var ErrUnknownVersion = errors.New("unknown payload version")

// Payload is everything a worker needs to execute a job. It carries the
// request itself (which may hold the caller's secrets in headers), so it
// lives only in the queue, never in the job record.
type Payload struct {
	Version int    `json:"v"`
	JobID   string `json:"job_id"`
	Tenant  string `json:"tenant"`
	// Tier is the tenant's tier when the job was submitted, for the
	// worker's metrics and its count of running jobs per tenant; empty in
	// payloads of older builds.
	Tier   string `json:"tier,omitempty"`
	Target string `json:"target"`
	// IdempotencyKey, when set, is passed upstream as Idempotency-Key and
	// makes non-idempotent methods safe to retry.
	IdempotencyKey string       `json:"idempotency_key,omitempty"`
	HTTP           *HTTPRequest `json:"http,omitempty"`
	// LLM is the chat completion of an LLM job, with the target's defaults
	// and caps already applied.
	LLM *reliapi.ChatRequest `json:"llm,omitempty"`
	// Profile is the caller's client profile (X-Client), whose limits apply.
	Profile string `json:"profile,omitempty"`
	// Cost, when set, is the LLM call's estimate, the policy applied, and
	// the tenant's budget hold to settle with the actual cost.
	Cost *CostPlan `json:"cost,omitempty"`
	// Cache, when set, asks the worker to store a successful answer (status
	// below 400) in the response cache, and to release the entry's
	// in-flight claim either way.
	Cache *CacheFill `json:"cache,omitempty"`
	// Caps, when set, are the caller's tier limits on the call's retries
	// and fallbacks, below what the target's config allows.
	Caps *Caps `json:"caps,omitempty"`
	// Laned says the job was pushed to the wake-up lane with this task as
	// its fallback: a delivery of the task defers to the lane while the
	// job waits its turn there (see lifecycle.Manager.TurnInLane).
	Laned bool `json:"laned,omitempty"`
}

// Caps limit what one call may do, from the caller's tier.
type Caps struct {
	MaxRetries   int `json:"max_retries"`
	MaxFallbacks int `json:"max_fallbacks"`
	// AllowedModels are the models an LLM call may be answered by, as the
	// tier's allowed_models (exact names, or prefixes ending in "*"); none:
	// any. The api checked the call's own model; the worker skips a
	// fallback target whose model is not among them.
	AllowedModels []string `json:"allowed_models,omitempty"`
	// Slot says the job holds one of its tenant's concurrent-job slots
	// (JobSlots), which the worker gives back when the job ends.
	Slot bool `json:"slot,omitempty"`
}

// JobSlots names the quota slots a tenant's queued and running jobs hold,
// for the tier's max_concurrent_jobs.
func JobSlots(tenant string) string { return "tenant:" + tenant + ":jobs" }

// CostPlan is what the api decided about an LLM call's cost.
type CostPlan struct {
	// Priced is false for a model with no price (then there is no
	// estimate).
	Priced      bool    `json:"priced"`
	EstimateUSD float64 `json:"estimate_usd,omitempty"`
	// Policy is "none", "soft_cap_throttled" or (never enqueued)
	// "hard_cap_rejected".
	Policy            string `json:"policy"`
	OriginalMaxTokens *int   `json:"original_max_tokens,omitempty"`
	// Hold is the tenant's budget hold, settled after the call.
	Hold *BudgetHold `json:"hold,omitempty"`
}

// BudgetHold is an amount held in a tenant's spend windows (see
// reliability/budget.Hold).
type BudgetHold struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Day    int64  `json:"day"`
	Month  int64  `json:"month"`
	Nanos  int64  `json:"nanos"`
}

// CacheFill says where and for how long to cache a job's answer.
type CacheFill struct {
	Hash string        `json:"hash"`
	TTL  time.Duration `json:"ttl"`
}

// HTTPRequest is a generic HTTP call against a target, already validated by
// the api: Method is upper case and Path cannot leave the target's host.
type HTTPRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   url.Values        `json:"query,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
}

// RecordMargin is the time a handler keeps, past a job's own time, to
// record the job's outcome before asynq's deadline.
const RecordMargin = 2 * time.Second

// Placement says where and how a task is enqueued.
type Placement struct {
	// Queue is a shard of QueueSync or QueueAsync.
	Queue string
	// TaskID is the asynq task ID, unique per job incarnation. It is not the
	// job ID: a job ID derived from an idempotency key comes back after the
	// job's retention, while asynq may still hold an archived task.
	TaskID string
	// Timeout is how long one run of the handler may work on the job; the
	// task's asynq timeout adds RecordMargin to it.
	Timeout time.Duration
	// ProcessIn delays the task (a job waiting for its rate-limit slot).
	ProcessIn time.Duration
}

// MaxRetry is how often asynq runs a job's task again after its handler
// failed. Retries of the upstream call happen inside the handler under the
// target's retry_matrix; asynq-level retries only cover infrastructure
// failures (Redis hiccups while recording the result, lost leases).
const MaxRetry = 3

// RunTimeout is the asynq timeout of the task: the job's time plus
// RecordMargin.
func (at Placement) RunTimeout() time.Duration { return at.Timeout + RecordMargin }

// New builds the task for a job: an HTTP or an LLM call, by which request
// the payload carries.
func New(p Payload, at Placement) (*asynq.Task, error) {
	var typ string
	switch {
	case p.HTTP != nil && p.LLM == nil:
		typ = TypeHTTP
	case p.LLM != nil && p.HTTP == nil:
		typ = TypeLLM
	default:
		return nil, errors.New("tasks: a payload carries exactly one request, HTTP or LLM")
	}
	p.Version = PayloadVersion
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("tasks: encoding payload: %w", err)
	}
	opts := []asynq.Option{
		asynq.Queue(at.Queue),
		asynq.TaskID(at.TaskID),
		asynq.Timeout(at.RunTimeout()),
		asynq.MaxRetry(MaxRetry),
	}
	if at.ProcessIn > 0 {
		opts = append(opts, asynq.ProcessIn(at.ProcessIn))
	}
	return asynq.NewTask(typ, data, opts...), nil
}

// Decode parses a task payload.
func Decode(data []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(data, &p); err != nil {
		return Payload{}, fmt.Errorf("tasks: decoding payload: %w", err)
	}
	if p.Version != PayloadVersion {
		return Payload{}, fmt.Errorf("tasks: payload version %d: %w", p.Version, ErrUnknownVersion)
	}
	if p.JobID == "" {
		return Payload{}, errors.New("tasks: payload without job_id")
	}
	return p, nil
}
