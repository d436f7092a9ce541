package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
)

// TypeWebhook delivers a job's end to its webhook.
const TypeWebhook = "reliapi:webhook"

// QueueWebhooks holds webhook deliveries. Workers serve it with a pool of
// its own, so that slow receivers never hold the workers of jobs.
const QueueWebhooks = "webhooks"

// WebhookPayload names the job whose webhook to deliver. The delivery
// reads everything else (the subscription, the job's end) from the job's
// record when it runs.
type WebhookPayload struct {
	Version int    `json:"v"`
	JobID   string `json:"job_id"`
	Tenant  string `json:"tenant"`
	// CreatedMS is the job's created_at: a job ID that comes back after
	// its record expired (an idempotency key reused) is another job.
	CreatedMS int64 `json:"created_ms"`
	// Replay numbers a delivery asked for again after it failed; 0 for
	// the first. Base is how many attempts the job's record held when it
	// was asked for: a replay's attempts follow the schedule afresh.
	Replay int `json:"replay,omitempty"`
	Base   int `json:"base,omitempty"`
	// URLDigest names the subscription's URL (reliapi.WebhookURLDigest),
	// so that a delivery reads its job and whether the URL answered 410
	// Gone in one round trip; empty in payloads of earlier builds.
	URLDigest string `json:"url_digest,omitempty"`
}

// WebhookTaskID names the delivery of a job's webhook: one per job (and
// replay), so that the worker and the api, which both enqueue it before
// the job ends, enqueue it once.
func WebhookTaskID(p WebhookPayload) string {
	id := "webhook:" + p.JobID + ":" + strconv.FormatInt(p.CreatedMS, 10)
	if p.Replay > 0 {
		id += ":replay:" + strconv.Itoa(p.Replay)
	}
	return id
}

// NewWebhook builds a delivery task, for the job's shard of the webhook
// queues. While it is queued or running, an enqueue of the same delivery
// is refused (asynq.ErrTaskIDConflict); after it, a new one finds the
// webhook no longer pending and does nothing.
func NewWebhook(p WebhookPayload, shards int) (*asynq.Task, error) {
	p.Version = PayloadVersion
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("tasks: encoding webhook payload: %w", err)
	}
	return asynq.NewTask(TypeWebhook, data,
		asynq.Queue(p.Queue(shards)),
		asynq.TaskID(WebhookTaskID(p)),
		asynq.MaxRetry(WebhookMaxRetry),
		asynq.Timeout(WebhookTimeout),
	), nil
}

// A delivery task's asynq options. The handler decides when to give up
// (after the configured schedule); these only bound a delivery that
// cannot even be recorded.
const (
	WebhookMaxRetry = 1000
	WebhookTimeout  = 2 * time.Minute
)

// FirstWebhook is the first delivery of a job's webhook.
func FirstWebhook(j *reliapi.Job) WebhookPayload {
	p := WebhookPayload{JobID: j.ID, Tenant: j.Tenant, CreatedMS: j.CreatedAt.UnixMilli()}
	if j.Webhook != nil {
		p.URLDigest = reliapi.WebhookURLDigest(j.Webhook.URL)
	}
	return p
}

// Queue is the delivery's shard of the webhook queues: the job's.
func (p WebhookPayload) Queue(shards int) string { return Shard(QueueWebhooks, p.JobID, shards) }

// DecodeWebhook parses a delivery task's payload.
func DecodeWebhook(data []byte) (WebhookPayload, error) {
	var p WebhookPayload
	if err := json.Unmarshal(data, &p); err != nil {
		return WebhookPayload{}, fmt.Errorf("tasks: decoding webhook payload: %w", err)
	}
	if p.Version != PayloadVersion {
		return WebhookPayload{}, fmt.Errorf("tasks: webhook payload version %d: %w", p.Version, ErrUnknownVersion)
	}
	if p.JobID == "" || p.Tenant == "" {
		return WebhookPayload{}, errors.New("tasks: webhook payload without job_id or tenant")
	}
	return p, nil
}
