package worker

import (
	"cmp"
	"encoding/json"
	"errors"
	"testing"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/openai"
)

// TestJudgeAnswer: an upstream answer that arrived whole but is not what
// the provider's protocol promises is UPSTREAM_INVALID_RESPONSE, never
// retried; an error status keeps its own code and class whatever its body;
// a stream that broke after it began names the cause.
func TestJudgeAnswer(t *testing.T) {
	t.Parallel()
	html := json.RawMessage(`{"raw":"<html><h1>502 Bad Gateway</h1></html>"}`)
	tests := []struct {
		name   string
		err    error
		code   reliapi.Code
		class  reliapi.Class
		status int // the error's UpstreamStatus
		cause  string
		source string // default upstream
	}{
		{"200 not a completion", decoded(&reliapi.HTTPResponse{StatusCode: 200, Body: json.RawMessage(`{"status":"ok"}`)}, nil),
			reliapi.CodeInvalidResponse, reliapi.ClassPermanent, 200, "", ""},
		{"200 html page", decoded(&reliapi.HTTPResponse{StatusCode: 200, Body: html}, nil),
			reliapi.CodeInvalidResponse, reliapi.ClassPermanent, 200, "", ""},
		{"a redirect", decoded(&reliapi.HTTPResponse{StatusCode: 302, Body: json.RawMessage(`null`)}, nil),
			reliapi.CodeInvalidResponse, reliapi.ClassPermanent, 302, "", ""},
		{"400 in plain text", decoded(&reliapi.HTTPResponse{StatusCode: 400, Body: json.RawMessage(`{"raw":"bad request"}`)}, nil),
			reliapi.CodeClientError, reliapi.ClassPermanent, 400, "", ""},
		{"502 html page from a proxy", decoded(nil, &reliapi.Error{Code: reliapi.CodeServerError, UpstreamStatus: 502, Retryable: true, Source: reliapi.SourceUpstream,
			Message: "Upstream returned 502", Details: map[string]any{"body": html}}),
			reliapi.CodeServerError, reliapi.ClassServer, 502, "", ""},
		{"an event that cannot be read", invalidEvent(200, errors.New("decoding chunk: invalid character")),
			reliapi.CodeInvalidResponse, reliapi.ClassPermanent, 200, "", ""},
		{"the provider's error in the stream", invalidEvent(200, reliapi.UpstreamError(500, "boom", nil)),
			reliapi.CodeServerError, reliapi.ClassServer, 500, "", ""},
		{"invalid after it began", interrupted(reliapi.InvalidResponse(200, "no end event", nil)),
			reliapi.CodeStreamInterrupted, reliapi.ClassPermanent, 502, "UPSTREAM_INVALID_RESPONSE", ""},
		{"cut after it began", interrupted(&reliapi.Error{Code: reliapi.CodeNetworkError, Source: reliapi.SourceUpstream, Message: "Network error: connection closed by upstream"}),
			reliapi.CodeStreamInterrupted, reliapi.ClassPermanent, 502, "NETWORK_ERROR", ""},
		{"our own failure after it began", interrupted(errors.New("redis: connection refused")),
			reliapi.CodeStreamInterrupted, reliapi.ClassPermanent, 502, "", reliapi.SourceReliAPI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var e *reliapi.Error
			if !errors.As(tt.err, &e) || e.Code != tt.code || reliapi.Classify(tt.err) != tt.class || e.UpstreamStatus != tt.status || e.Source != cmp.Or(tt.source, reliapi.SourceUpstream) {
				t.Fatalf("got %v (class %q, %+v)", tt.err, reliapi.Classify(tt.err), e)
			}
			if cause, _ := e.Details["cause"].(string); cause != tt.cause {
				t.Fatalf("cause %q, want %q", cause, tt.cause)
			}
			if tt.code == reliapi.CodeStreamInterrupted && tt.cause == "" && e.Message != "The upstream's streamed answer broke off after it began" {
				t.Fatalf("message %q tells more than the caller should see", e.Message)
			}
		})
	}
}

// decoded is decodeLLM's error for an OpenAI answer.
func decoded(resp *reliapi.HTTPResponse, err error) error {
	_, err = decodeLLM(openai.Adapter{}, resp, err)
	return err
}
