package api_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// sdk is the official OpenAI Go SDK pointed at the stack: only the base URL
// changes.
func sdk(s *stack, base string) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.url+base), option.WithAPIKey("reliapi-key"), option.WithMaxRetries(0))
}

func TestOpenAISDKAgainstEveryProvider(t *testing.T) {
	t.Parallel()
	s, fake := llmStack(t)
	tests := []struct{ base, model, want, wantModel string }{
		{"/v1/", "oai/gpt-4o-mini", "echo: Hello", "gpt-4o-mini"},
		{"/v1/", "ant", "echo: Hello [system: Be brief.]", "claude-3-5-haiku-20241022"},
		{"/proxy/llm/", "claude-3-5-haiku-20241022", "echo: Hello [system: Be brief.]", "claude-3-5-haiku-20241022"},
		{"/v1/", "mis/mistral-large-latest", "echo: Hello", "mistral-large-latest"},
	}
	for _, tt := range tests {
		before := fake.Calls()
		client := sdk(s, tt.base)
		got, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model:     tt.model,
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Hello")},
			MaxTokens: openai.Int(100),
		})
		if err != nil {
			t.Fatalf("%s via %s: %v", tt.model, tt.base, err)
		}
		if len(got.Choices) != 1 || got.Choices[0].Message.Content[:len("echo: Hello")] != "echo: Hello" || got.Model != tt.wantModel ||
			got.Object != "chat.completion" || got.Choices[0].FinishReason != "stop" || got.Usage.TotalTokens == 0 {
			t.Fatalf("%s: %+v", tt.model, got)
		}
		if tt.want == "echo: Hello [system: Be brief.]" && got.Choices[0].Message.Content != tt.want {
			t.Errorf("%s: content %q, want %q", tt.model, got.Choices[0].Message.Content, tt.want)
		}
		if fake.Calls()-before != 1 {
			t.Errorf("%s: %d provider calls", tt.model, fake.Calls()-before)
		}
	}
}

func TestOpenAISDKErrors(t *testing.T) {
	t.Parallel()
	s, _ := llmStack(t)
	client := sdk(s, "/v1/")
	tests := []struct {
		model, message string
		status         int
		code, typ      string
	}{
		{"no-such-model", "Hello", 404, "model_not_found", "invalid_request_error"},
		{"oai", "fail:503", 503, "server_error", "server_error"},
		{"nokey", "Hello", 401, "unauthorized", "authentication_error"},
	}
	for _, tt := range tests {
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: tt.model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tt.message)},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Type != tt.typ || apiErr.Message == "" {
			t.Errorf("%s %q: %v", tt.model, tt.message, err)
		}
	}
}

// TestOpenAIToolsRefused: a request with tools is refused, not answered by
// a model that never saw them; an empty message is refused too.
func TestOpenAIToolsRefused(t *testing.T) {
	t.Parallel()
	s, fake := llmStack(t)
	before := fake.Calls()
	hello := []map[string]any{{"role": "user", "content": "Hello"}}
	for name, body := range map[string]map[string]any{
		"tools":        {"model": "oai", "messages": hello, "tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather"}}}},
		"functions":    {"model": "oai", "messages": hello, "functions": []map[string]any{{"name": "get_weather"}}},
		"null content": {"model": "oai", "messages": []map[string]any{{"role": "user", "content": nil}}},
	} {
		r := s.do("POST", "/v1/chat/completions", body)
		if msg, _ := get(r.body, "error", "message").(string); r.status != 400 || get(r.body, "error", "type") != "invalid_request_error" || msg == "" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := s.do("POST", "/v1/chat/completions", map[string]any{"model": "oai", "messages": hello, "tools": nil}); r.status != 200 {
		t.Errorf("tools: null is no tools: %d %s", r.status, r.raw)
	}
	if n := fake.Calls() - before; n != 1 {
		t.Fatalf("provider calls = %d, want 1 (only the call without tools)", n)
	}
}

func TestModelsList(t *testing.T) {
	t.Parallel()
	s, _ := llmStack(t)
	client := sdk(s, "/v1/")
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID+"@"+string(m.OwnedBy))
	}
	want := []string{"ant/claude-3-5-haiku-20241022@anthropic", "nokey/gpt-4o-mini@openai", "oai-cached/gpt-4o-mini@openai", "oai/gpt-4o-mini@openai"}
	if len(ids) != len(want) {
		t.Fatalf("models = %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("models = %v, want %v", ids, want)
		}
	}
}
