package reliapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// Code names a failure in the error envelope's error.code. Each code
// becomes an HTTP status in one place (render.StatusOf, render/errors.go).
type Code string

// The error codes. Those marked "upstream" describe a call that reached (or
// tried to reach) the target; the rest are ReliAPI's own decisions.
const (
	CodeInvalidRequest      Code = "INVALID_REQUEST"             // malformed or invalid input
	CodeUnauthorized        Code = "UNAUTHORIZED"                // missing or unknown API key
	CodeForbidden           Code = "FORBIDDEN"                   // an admin route without the admin key
	CodeRateLimitExceeded   Code = "RATE_LIMIT_EXCEEDED"         // the caller's tenant, IP or client limit: nothing was queued
	CodeAccountBanned       Code = "ACCOUNT_BANNED"              // the key or IP exceeded limits again and again; the ban expires
	CodeModelNotAllowed     Code = "MODEL_NOT_ALLOWED"           // the tenant's tier does not include this model
	CodeFeatureUnavailable  Code = "FEATURE_NOT_AVAILABLE"       // the tenant's tier does not include this feature
	CodeTooManyJobs         Code = "TOO_MANY_CONCURRENT_JOBS"    // the tenant has max_concurrent_jobs queued or running
	CodeNotFound            Code = "NOT_FOUND"                   // unknown route, target or job
	CodeInvalidTarget       Code = "INVALID_TARGET"              // an LLM call to a target without an llm block
	CodeInvalidWebhookURL   Code = "INVALID_WEBHOOK_URL"         // a webhook URL that is not http(s) or names a non-public address
	CodeMethodNotAllowed    Code = "METHOD_NOT_ALLOWED"          // route exists, method does not
	CodePayloadTooLarge     Code = "PAYLOAD_TOO_LARGE"           // body over server.max_body_bytes
	CodeHeadersTooLarge     Code = "REQUEST_HEADERS_TOO_LARGE"   // too many or too large request headers
	CodeIdempotencyConflict Code = "IDEMPOTENCY_CONFLICT"        // same key, different request
	CodeJobCanceled         Code = "JOB_CANCELED"                // the job was canceled before it finished
	CodeJobNotFound         Code = "JOB_NOT_FOUND"               // no such job, or its record expired
	CodeJobExpired          Code = "JOB_EXPIRED"                 // the job's deadline passed before it started
	CodeJobLost             Code = "JOB_LOST"                    // the job's task vanished from Redis (a restart lost it): nothing can run the job
	CodeServerError         Code = "SERVER_ERROR"                // upstream: 5xx after the last retry
	CodeClientError         Code = "CLIENT_ERROR"                // upstream: 429 after the last retry
	CodeNetworkError        Code = "NETWORK_ERROR"               // upstream: connect/reset/protocol error
	CodeTimeout             Code = "TIMEOUT"                     // upstream: no answer within timeout_ms, or the job deadline passed
	CodeResultTooLarge      Code = "RESULT_TOO_LARGE"            // upstream: body over jobs.max_result_bytes
	CodeRedisUnavailable    Code = "REDIS_UNAVAILABLE"           // Redis did not answer in time
	CodeShuttingDown        Code = "SHUTTING_DOWN"               // this replica is draining
	CodeCircuitOpen         Code = "CIRCUIT_OPEN"                // the target's breaker is open: no call was made
	CodeRateLimited         Code = "RATE_LIMIT_RELIAPI"          // the job's rate-limit slot comes after its deadline
	CodeNoUsableKey         Code = "KEY_POOL_EXHAUSTED"          // every key of the target's pool is quarantined
	CodeBudgetExceeded      Code = "BUDGET_EXCEEDED"             // a cost cap would be exceeded: no call was made
	CodeStreamInterrupted   Code = "UPSTREAM_STREAM_INTERRUPTED" // upstream: a streamed answer broke off after it began
	CodeInvalidResponse     Code = "UPSTREAM_INVALID_RESPONSE"   // upstream: an answer received whole that breaks the provider's protocol (not a completion, no end event)
	CodePriceUnknown        Code = "PRICE_UNKNOWN"               // a cap applies but the model has no price (budget.unknown_model: reject)
	CodeInternal            Code = "INTERNAL_ERROR"              // a bug; the message never leaks Go error text
)

// Error sources, for Error.Source.
const (
	SourceReliAPI  = "reliapi"
	SourceUpstream = "upstream"
)

// Error is a failure with a code: what the error envelope shows. Err keeps
// the underlying cause for logs; it is never serialised.
type Error struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
	Source    string `json:"source,omitempty"`
	// UpstreamStatus is the upstream's HTTP status for SERVER_ERROR,
	// CLIENT_ERROR and UPSTREAM_INVALID_RESPONSE.
	UpstreamStatus int `json:"upstream_status,omitempty"`
	// RetryAfter is how long the caller should wait before trying again.
	RetryAfter time.Duration  `json:"retry_after,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
	Err        error          `json:"-"`
}

// Errorf returns an Error with a formatted message from ReliAPI itself.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Source: SourceReliAPI}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotFound means the thing asked for does not exist (for this tenant).
var ErrNotFound = errors.New("not found")

// Class is how a failure should be treated by the retry policy and the
// breaker. The retryable classes are the keys of a target's retry_matrix.
type Class string

// The failure classes.
const (
	ClassNone        Class = ""             // no failure
	ClassRateLimited Class = "429"          // upstream said 429
	ClassServer      Class = "5xx"          // upstream said 5xx
	ClassNetwork     Class = "net"          // connect, reset, protocol error
	ClassTimeout     Class = "timeout"      // no answer in time
	ClassPermanent   Class = "permanent"    // retrying cannot help
	ClassBreakerOpen Class = "circuit_open" // refused without a call: the target's breaker is open
)

// Classify decides how a failure is treated. It is the single source for the
// retry policy, the breaker and asynq's failure accounting.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case CodeServerError:
			return ClassServer
		case CodeClientError:
			if e.UpstreamStatus == 429 {
				return ClassRateLimited
			}
			return ClassPermanent
		case CodeNetworkError:
			return ClassNetwork
		case CodeTimeout:
			return ClassTimeout
		case CodeCircuitOpen:
			return ClassBreakerOpen
		case CodeInvalidResponse, CodeStreamInterrupted:
			// The upstream's answer arrived (or began to): asking again
			// would pay for it twice, whatever broke underneath.
			return ClassPermanent
		}
		if e.Err == nil {
			return ClassPermanent
		}
		err = e.Err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ClassPermanent
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	if ne != nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return ClassNetwork
	}
	return ClassPermanent
}

// UpstreamError is the coded error for an upstream's error answer, with
// the upstream's own message when it gave one: 401/403 UNAUTHORIZED, 404
// NOT_FOUND, 429 CLIENT_ERROR (retryable), other 4xx CLIENT_ERROR, 5xx
// SERVER_ERROR (retryable).
func UpstreamError(status int, message string, details map[string]any) *Error {
	code, retryable := CodeClientError, false
	switch {
	case status == 401 || status == 403:
		code = CodeUnauthorized
	case status == 404:
		code = CodeNotFound
	case status == 429:
		retryable = true
	case status >= 500:
		code, retryable = CodeServerError, true
	}
	if message == "" {
		message = fmt.Sprintf("Upstream returned %d", status)
	}
	return &Error{Code: code, Message: message, Retryable: retryable, Source: SourceUpstream, UpstreamStatus: status, Details: details}
}

// InvalidResponse is the coded error for an upstream answer that arrived
// whole but breaks its provider's protocol: a 2xx body that is not a
// completion, a stream that ends without its end event or holds an event
// that cannot be read. The upstream delivered (and may have billed) it, so
// it is permanent, never retried. status is what the upstream answered
// with; err says, in the logs, what was wrong.
func InvalidResponse(status int, message string, err error) *Error {
	return &Error{Code: CodeInvalidResponse, Message: message, Source: SourceUpstream, UpstreamStatus: status, Err: err}
}
