package reliapi

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Subscription asks for a job's events at a URL: its webhook.
type Subscription struct {
	URL string `json:"url" yaml:"url"`
	// Events are the events wanted; none means every one.
	Events []string `json:"events" yaml:"events"`
}

// WebhookURLDigest names a webhook URL where the URL itself is not kept:
// in a tenant's set of URLs that answered 410 Gone, and in a delivery
// task's payload (which asynq's inspector shows; a URL may carry a token).
func WebhookURLDigest(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:])
}

// The events a webhook carries: one per job, when it ends.
const (
	EventJobSucceeded = "job.succeeded"
	EventJobFailed    = "job.failed"
	EventJobCanceled  = "job.canceled"
	EventJobExpired   = "job.expired"
)

// JobEvents are every event, in a stable order.
var JobEvents = []string{EventJobSucceeded, EventJobFailed, EventJobCanceled, EventJobExpired}

// EventOf is the event a job that ended with status raises ("" for a
// status that is not terminal).
func EventOf(status JobStatus) string {
	switch status {
	case JobSucceeded:
		return EventJobSucceeded
	case JobFailed:
		return EventJobFailed
	case JobCanceled:
		return EventJobCanceled
	case JobExpired:
		return EventJobExpired
	}
	return ""
}

// Wants reports whether the subscription asks for event.
func (s *Subscription) Wants(event string) bool {
	return s != nil && event != "" && (len(s.Events) == 0 || slices.Contains(s.Events, event))
}

// The states of a job's webhook.
const (
	WebhookPending   = "pending"   // not delivered yet; attempts may follow
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookFailed    = "failed"    // every attempt failed: dead-lettered, replayable
	WebhookGone      = "gone"      // the receiver answered 410: not retried
	WebhookSkipped   = "skipped"   // the job's event is not one the subscription wants
)

// Delivery is one attempt to deliver a job's webhook.
type Delivery struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// StatusCode is the receiver's answer; 0 when there was none (Error
	// says why).
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}
