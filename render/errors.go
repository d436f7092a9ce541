package render

import (
	"net/http"
	"time"

	"github.com/reliapi/reliapi"
)

// codeInfo is how an error code is presented over HTTP.
type codeInfo struct {
	status int
	kind   string // the Envelope's error.type
}

// codes maps every error code to its HTTP status and type. SERVER_ERROR and
// CLIENT_ERROR answer with the upstream's own status instead.
var codes = map[reliapi.Code]codeInfo{
	reliapi.CodeInvalidRequest:      {http.StatusBadRequest, "client_error"},
	reliapi.CodeUnauthorized:        {http.StatusUnauthorized, "client_error"},
	reliapi.CodeForbidden:           {http.StatusForbidden, "client_error"},
	reliapi.CodeRateLimitExceeded:   {http.StatusTooManyRequests, "rate_limit"},
	reliapi.CodeAccountBanned:       {http.StatusForbidden, "rate_limit"},
	reliapi.CodeModelNotAllowed:     {http.StatusForbidden, "client_error"},
	reliapi.CodeFeatureUnavailable:  {http.StatusForbidden, "client_error"},
	reliapi.CodeTooManyJobs:         {http.StatusTooManyRequests, "rate_limit"},
	reliapi.CodeNotFound:            {http.StatusNotFound, "client_error"},
	reliapi.CodeInvalidTarget:       {http.StatusBadRequest, "client_error"},
	reliapi.CodeInvalidWebhookURL:   {http.StatusBadRequest, "client_error"},
	reliapi.CodeMethodNotAllowed:    {http.StatusMethodNotAllowed, "client_error"},
	reliapi.CodePayloadTooLarge:     {http.StatusRequestEntityTooLarge, "client_error"},
	reliapi.CodeHeadersTooLarge:     {http.StatusRequestHeaderFieldsTooLarge, "client_error"},
	reliapi.CodeIdempotencyConflict: {http.StatusConflict, "idempotency_conflict"},
	reliapi.CodeJobCanceled:         {http.StatusConflict, "client_error"},
	reliapi.CodeJobNotFound:         {http.StatusNotFound, "client_error"},
	reliapi.CodeJobExpired:          {http.StatusConflict, "client_error"},
	reliapi.CodeJobLost:             {http.StatusInternalServerError, "internal_error"},
	reliapi.CodeServerError:         {http.StatusBadGateway, "upstream_error"},
	reliapi.CodeClientError:         {http.StatusTooManyRequests, "upstream_error"},
	reliapi.CodeNetworkError:        {http.StatusBadGateway, "upstream_error"},
	reliapi.CodeTimeout:             {http.StatusGatewayTimeout, "timeout_error"},
	reliapi.CodeResultTooLarge:      {http.StatusBadGateway, "upstream_error"},
	reliapi.CodeRedisUnavailable:    {http.StatusServiceUnavailable, "internal_error"},
	reliapi.CodeShuttingDown:        {http.StatusServiceUnavailable, "internal_error"},
	reliapi.CodeCircuitOpen:         {http.StatusServiceUnavailable, "circuit_breaker_error"},
	reliapi.CodeRateLimited:         {http.StatusTooManyRequests, "rate_limit"},
	reliapi.CodeNoUsableKey:         {http.StatusServiceUnavailable, "upstream_error"},
	reliapi.CodeStreamInterrupted:   {http.StatusBadGateway, "upstream_error"},
	reliapi.CodeInvalidResponse:     {http.StatusBadGateway, "upstream_error"},
	reliapi.CodeBudgetExceeded:      {http.StatusBadRequest, "budget_error"},
	reliapi.CodePriceUnknown:        {http.StatusBadRequest, "budget_error"},
	reliapi.CodeInternal:            {http.StatusInternalServerError, "internal_error"},
}

// StatusOf is the HTTP status an error is answered with.
func StatusOf(e *reliapi.Error) int {
	if (e.Code == reliapi.CodeServerError || e.Code == reliapi.CodeClientError) && e.UpstreamStatus >= 400 {
		return e.UpstreamStatus
	}
	if info, ok := codes[e.Code]; ok {
		return info.status
	}
	return http.StatusInternalServerError
}

// ErrorBody is the Envelope's error object.
type ErrorBody struct {
	Type        string         `json:"type"`
	Code        reliapi.Code   `json:"code"`
	Message     string         `json:"message"`
	Retryable   bool           `json:"retryable"`
	Target      *string        `json:"target"`
	StatusCode  int            `json:"status_code"`
	Source      string         `json:"source"`
	RetryAfterS *float64       `json:"retry_after_s"`
	Details     map[string]any `json:"details"`
}

func NewErrorBody(e *reliapi.Error, target string) *ErrorBody {
	status := StatusOf(e)
	b := &ErrorBody{
		Type:       codes[e.Code].kind,
		Code:       e.Code,
		Message:    e.Message,
		Retryable:  e.Retryable,
		StatusCode: status,
		Source:     e.Source,
		Details:    e.Details,
	}
	if b.Type == "" {
		b.Type = "internal_error"
	}
	if e.Source == reliapi.SourceUpstream {
		// The upstream's answer, whatever code it maps to (an upstream 401
		// is not the caller's credentials being wrong).
		b.Type = "upstream_error"
	}
	if b.Source == "" {
		b.Source = reliapi.SourceReliAPI
	}
	if b.Details == nil {
		b.Details = map[string]any{}
	}
	if target != "" {
		b.Target = &target
	}
	if ra := retryAfterOf(e, status); ra > 0 {
		s := ra.Seconds()
		b.RetryAfterS = &s
	}
	return b
}

// retryAfterOf is the wait to advertise: the error's own, or one second for
// every 429 and 503, which always carry Retry-After.
func retryAfterOf(e *reliapi.Error, status int) time.Duration {
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return time.Second
	}
	return 0
}
