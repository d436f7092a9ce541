// Package openai adapts OpenAI's Chat Completions API
// (POST {base_url}/chat/completions, Authorization: Bearer).
package openai

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/reliapi/reliapi"
)

// Adapter is the OpenAI adapter; the zero value is ready. Other providers
// with the same wire format reuse it under their own name.
type Adapter struct {
	// ProviderName overrides Name; default "openai".
	ProviderName string
}

var _ reliapi.LLMProvider = Adapter{}

// Name implements reliapi.LLMProvider.
func (a Adapter) Name() string {
	if a.ProviderName != "" {
		return a.ProviderName
	}
	return reliapi.ProviderOpenAI
}

// Path implements reliapi.LLMProvider.
func (Adapter) Path() string { return "/chat/completions" }

// Headers implements reliapi.LLMProvider.
func (Adapter) Headers(secret string) map[string]string {
	if secret == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + secret}
}

// Request is the wire form of a chat completion request.
type Request struct {
	Model       string            `json:"model"`
	Messages    []reliapi.Message `json:"messages"`
	MaxTokens   *int              `json:"max_tokens,omitempty"`
	Temperature *float64          `json:"temperature,omitempty"`
	TopP        *float64          `json:"top_p,omitempty"`
	Stop        []string          `json:"stop,omitempty"`
}

// EncodeRequest implements reliapi.LLMProvider.
func (Adapter) EncodeRequest(r reliapi.ChatRequest) ([]byte, error) {
	return json.Marshal(Request{
		Model: r.Model, Messages: r.Messages, MaxTokens: r.MaxTokens,
		Temperature: r.Temperature, TopP: r.TopP, Stop: r.Stop,
	})
}

// Response is the wire form of a chat completion.
type Response struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage reliapi.Usage `json:"usage"`
}

// DecodeResponse implements reliapi.LLMProvider.
func (Adapter) DecodeResponse(body []byte) (*reliapi.ChatResponse, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding chat completion: %w", err)
	}
	out := &reliapi.ChatResponse{Model: r.Model, Usage: r.Usage, Role: "assistant"}
	if len(r.Choices) > 0 {
		c := r.Choices[0]
		out.Content, out.FinishReason = c.Message.Content, c.FinishReason
		if c.Message.Role != "" {
			out.Role = c.Message.Role
		}
	}
	if out.Usage.TotalTokens == 0 {
		out.Usage.TotalTokens = out.Usage.PromptTokens + out.Usage.CompletionTokens
	}
	return out, nil
}

// DecodeError implements reliapi.LLMProvider: OpenAI's
// {"error": {"message", "type", "code"}}.
func (Adapter) DecodeError(status int, _ http.Header, body []byte) *reliapi.Error {
	var r struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
		// Mistral and others put the message at the top level.
		Message string `json:"message"`
	}
	json.Unmarshal(body, &r)
	msg := r.Error.Message
	if msg == "" {
		msg = r.Message
	}
	return reliapi.UpstreamError(status, msg, map[string]any{"type": r.Error.Type, "code": r.Error.Code})
}
