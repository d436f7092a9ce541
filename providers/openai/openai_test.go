package openai_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/openai"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeRequest(t *testing.T) {
	t.Parallel()
	body, err := openai.Adapter{}.EncodeRequest(reliapi.ChatRequest{
		Model:     "gpt-4o-mini",
		Messages:  []reliapi.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}},
		MaxTokens: ptr(50), Temperature: ptr(0.2), Stop: []string{"\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":50,"temperature":0.2,"stop":["\n"]}`
	if string(body) != want {
		t.Fatalf("body =\n%s\nwant\n%s", body, want)
	}
	if h := (openai.Adapter{}).Headers("sk-x"); h["Authorization"] != "Bearer sk-x" {
		t.Fatalf("headers = %v", h)
	}
}

// A response as the API sends it (fields we ignore included).
const completion = `{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": null, "annotations": []},
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
  "service_tier": "default",
  "system_fingerprint": "fp_0165350ed5"
}`

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	got, err := openai.Adapter{}.DecodeResponse([]byte(completion))
	if err != nil {
		t.Fatal(err)
	}
	want := &reliapi.ChatResponse{Content: "Hello! How can I help?", Role: "assistant", FinishReason: "stop",
		Model: "gpt-4o-mini-2024-07-18", Usage: reliapi.Usage{PromptTokens: 19, CompletionTokens: 10, TotalTokens: 29}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// What an upstream may send with status 200 that is not a completion:
	// each must fail, not read as an empty answer.
	for _, body := range []string{
		`not json`,
		`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hel`,
		`{"raw":"<html><body>Bad gateway</body></html>"}`, // a non-JSON body, as httpx hands it over
		`{"error":{"message":"overloaded","type":"server_error"}}`,
		`{"id":"chatcmpl-1","object":"chat.completion","choices":[]}`,
		`null`,
		`[]`,
	} {
		if got, err := (openai.Adapter{}).DecodeResponse([]byte(body)); err == nil {
			t.Errorf("%s decoded: %+v", body, got)
		}
	}
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		body      string
		code      reliapi.Code
		message   string
		retryable bool
	}{
		{401, `{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			reliapi.CodeUnauthorized, "Incorrect API key provided: sk-abc***xyz.", false},
		{404, `{"error":{"message":"The model 'gpt-9' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			reliapi.CodeNotFound, "The model 'gpt-9' does not exist or you do not have access to it.", false},
		{400, `{"error":{"message":"'messages' is a required property","type":"invalid_request_error","param":null,"code":null}}`,
			reliapi.CodeClientError, "'messages' is a required property", false},
		{429, `{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			reliapi.CodeClientError, "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.", true},
		{503, `{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}`,
			reliapi.CodeServerError, "The server is overloaded or not ready yet.", true},
		{502, `<html>bad gateway</html>`, reliapi.CodeServerError, "Upstream returned 502", true},
	}
	for _, tt := range tests {
		e := openai.Adapter{}.DecodeError(tt.status, nil, []byte(tt.body))
		if e.Code != tt.code || e.Message != tt.message || e.Retryable != tt.retryable || e.UpstreamStatus != tt.status || e.Source != reliapi.SourceUpstream {
			t.Errorf("%d: got %+v", tt.status, e)
		}
	}
	// The error type survives in details, as JSON.
	e := openai.Adapter{}.DecodeError(401, nil, []byte(tests[0].body))
	if b, _ := json.Marshal(e.Details); string(b) != `{"code":"invalid_api_key","type":"invalid_request_error"}` {
		t.Errorf("details = %s", b)
	}
}

// A streamed answer as the API sends it with stream_options.include_usage.
const stream = `data: {"id":"chatcmpl-BX","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0165350ed5","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BX","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0165350ed5","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BX","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0165350ed5","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BX","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0165350ed5","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-BX","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0165350ed5","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":2,"total_tokens":21}}

data: [DONE]`

func TestDecodeStreamEvent(t *testing.T) {
	t.Parallel()
	var text, model, finish string
	var usage *reliapi.Usage
	done := false
	for _, block := range strings.Split(stream, "\n\n") {
		ev, err := openai.Adapter{}.DecodeStreamEvent("", []byte(strings.TrimPrefix(block, "data: ")))
		if err != nil {
			t.Fatal(err)
		}
		if done {
			t.Fatal("event after [DONE]")
		}
		text, model, finish = text+ev.Delta, cmp.Or(ev.Model, model), cmp.Or(ev.FinishReason, finish)
		if ev.Usage != nil {
			usage = ev.Usage
		}
		done = ev.Done
	}
	if text != "Hello!" || model != "gpt-4o-mini-2024-07-18" || finish != "stop" || !done || usage == nil || usage.CompletionTokens != 2 {
		t.Fatalf("text %q model %q finish %q done %v usage %+v", text, model, finish, done, usage)
	}

	_, err := openai.Adapter{}.DecodeStreamEvent("", []byte(`{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`))
	var e *reliapi.Error
	if !errors.As(err, &e) || e.Code != reliapi.CodeServerError || !strings.HasPrefix(e.Message, "The server had an error") {
		t.Fatalf("error in the stream: %v", err)
	}
}

// TestEncodeStreamRequest: OpenAI is asked for the usage chunk; Mistral,
// which refuses stream_options, is not (it sends usage unasked).
func TestEncodeStreamRequest(t *testing.T) {
	t.Parallel()
	r := reliapi.ChatRequest{Model: "m", Messages: []reliapi.Message{{Role: "user", Content: "Hi"}}, Stream: true}
	body, _ := openai.Adapter{}.EncodeRequest(r)
	if !strings.HasSuffix(string(body), `"stream":true,"stream_options":{"include_usage":true}}`) {
		t.Errorf("openai: %s", body)
	}
	body, _ = openai.Adapter{ProviderName: reliapi.ProviderMistral}.EncodeRequest(r)
	if !strings.HasSuffix(string(body), `"stream":true}`) {
		t.Errorf("mistral: %s", body)
	}
}

// FuzzDecode: whatever an upstream sends, the decoders return a completion
// with a choice's worth of answer or an error, an event or an error, and a
// coded error with the status given; they never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(completion))
	f.Add([]byte(`{"choices":[]}`))
	f.Add([]byte(`{"error":{"message":"x","type":"server_error"}}`))
	f.Add([]byte(`[DONE]`))
	f.Add([]byte(`<html>bad gateway</html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := openai.Adapter{}
		if got, err := a.DecodeResponse(body); err == nil && got.Role == "" {
			t.Errorf("%q: a completion without a role", body)
		}
		a.DecodeStreamEvent("", body)
		if e := a.DecodeError(502, nil, body); e.UpstreamStatus != 502 || e.Code != reliapi.CodeServerError || e.Message == "" {
			t.Errorf("%q: error %+v", body, e)
		}
	})
}
