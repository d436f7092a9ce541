package anthropic_test

import (
	"reflect"
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
