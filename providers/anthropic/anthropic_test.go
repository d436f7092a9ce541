package anthropic_test

import (
	"cmp"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/anthropic"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeRequestLiftsSystemAndSetsMaxTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   reliapi.ChatRequest
		want string
	}{
		{"system lifted, stop mapped", reliapi.ChatRequest{
			Model: "claude-3-5-haiku-20241022",
			Messages: []reliapi.Message{
				{Role: "system", Content: "Be brief."}, {Role: "system", Content: "Answer in French."},
				{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Bonjour"}, {Role: "user", Content: "Ça va ?"},
			},
			MaxTokens: ptr(200), Temperature: ptr(0.5), Stop: []string{"END"},
		}, `{"model":"claude-3-5-haiku-20241022","max_tokens":200,"system":"Be brief.\n\nAnswer in French.","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Bonjour"},{"role":"user","content":"Ça va ?"}],"temperature":0.5,"stop_sequences":["END"]}`},
		{"max_tokens is required", reliapi.ChatRequest{
			Model: "claude-3-haiku-20240307", Messages: []reliapi.Message{{Role: "user", Content: "Hi"}},
		}, `{"model":"claude-3-haiku-20240307","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}]}`},
	}
	for _, tt := range tests {
		body, err := anthropic.Adapter{}.EncodeRequest(tt.in)
		if err != nil || string(body) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s (%v)", tt.name, body, tt.want, err)
		}
	}
	h := anthropic.Adapter{}.Headers("sk-ant-x")
	if h["x-api-key"] != "sk-ant-x" || h["anthropic-version"] != "2023-06-01" || h["Authorization"] != "" {
		t.Fatalf("headers = %v", h)
	}
}

// A response as the API sends it.
const message = `{
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
  "type": "message",
  "role": "assistant",
  "model": "claude-3-5-haiku-20241022",
  "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": ", world!"}],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {"input_tokens": 12, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
}`

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	got, err := anthropic.Adapter{}.DecodeResponse([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	want := &reliapi.ChatResponse{Content: "Hello, world!", Role: "assistant", FinishReason: "stop",
		Model: "claude-3-5-haiku-20241022", Usage: reliapi.Usage{PromptTokens: 12, CompletionTokens: 6, TotalTokens: 18}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// What an upstream may send with status 200 that is not a message:
	// each must fail, not read as an empty answer.
	for _, body := range []string{
		`not json`,
		`{"id":"msg_1","type":"message","content":[{"type":"text","text":"Hel`,
		`{"raw":"<html><body>Bad gateway</body></html>"}`, // a non-JSON body, as httpx hands it over
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		`null`,
	} {
		if got, err := (anthropic.Adapter{}).DecodeResponse([]byte(body)); err == nil {
			t.Errorf("%s decoded: %+v", body, got)
		}
	}
	for stop, want := range map[string]string{"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool_use": "tool_calls", "pause_turn": "pause_turn"} {
		if got := anthropic.FinishReason(stop); got != want {
			t.Errorf("FinishReason(%s) = %s, want %s", stop, got, want)
		}
	}
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status  int
		body    string
		code    reliapi.Code
		message string
	}{
		{401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, reliapi.CodeUnauthorized, "invalid x-api-key"},
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`, reliapi.CodeClientError, "max_tokens: Field required"},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, reliapi.CodeClientError, "Number of request tokens has exceeded your per-minute rate limit"},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, reliapi.CodeServerError, "Overloaded"},
	}
	for _, tt := range tests {
		e := anthropic.Adapter{}.DecodeError(tt.status, nil, []byte(tt.body))
		if e.Code != tt.code || e.Message != tt.message || e.UpstreamStatus != tt.status {
			t.Errorf("%d: got %+v", tt.status, e)
		}
	}
}

// A streamed answer as the Messages API sends it.
const stream = `event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-3-5-haiku-20241022", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}`

func TestDecodeStreamEvent(t *testing.T) {
	t.Parallel()
	var text, model, finish string
	var usage reliapi.Usage
	done := false
	for _, block := range strings.Split(stream, "\n\n") {
		event, data, _ := strings.Cut(block, "\n")
		ev, err := anthropic.Adapter{}.DecodeStreamEvent(strings.TrimPrefix(event, "event: "), []byte(strings.TrimPrefix(data, "data: ")))
		if err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		if done {
			t.Fatalf("event after the end: %s", event)
		}
		text += ev.Delta
		model = cmp.Or(ev.Model, model)
		finish = cmp.Or(ev.FinishReason, finish)
		if ev.Usage != nil {
			usage.PromptTokens = cmp.Or(ev.Usage.PromptTokens, usage.PromptTokens)
			usage.CompletionTokens = cmp.Or(ev.Usage.CompletionTokens, usage.CompletionTokens)
		}
		done = ev.Done
	}
	if text != "Hello!" || model != "claude-3-5-haiku-20241022" || finish != "length" || !done ||
		usage != (reliapi.Usage{PromptTokens: 25, CompletionTokens: 15}) {
		t.Fatalf("text %q model %q finish %q done %v usage %+v", text, model, finish, done, usage)
	}

	_, err := anthropic.Adapter{}.DecodeStreamEvent("error", []byte(`{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`))
	var e *reliapi.Error
	if !errors.As(err, &e) || e.Code != reliapi.CodeServerError || e.UpstreamStatus != 529 || e.Message != "Overloaded" {
		t.Fatalf("error event: %v", err)
	}
}

// FuzzDecode: whatever an upstream sends, the decoders return a message or
// an error, an event or an error, and a coded error with the status given;
// they never panic.
func FuzzDecode(f *testing.F) {
	f.Add("", []byte(message))
	f.Add("message_stop", []byte(`{"type":"message_stop"}`))
	f.Add("error", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	f.Add("", []byte(`<html>bad gateway</html>`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		a := anthropic.Adapter{}
		if got, err := a.DecodeResponse(body); err == nil && got.Role != "assistant" {
			t.Errorf("%q: a message without its role", body)
		}
		a.DecodeStreamEvent(event, body)
		if e := a.DecodeError(529, nil, body); e.UpstreamStatus != 529 || e.Code != reliapi.CodeServerError || e.Message == "" {
			t.Errorf("%q: error %+v", body, e)
		}
	})
}
