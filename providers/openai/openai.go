// Package openai adapts OpenAI's Chat Completions API
// (POST {base_url}/chat/completions, Authorization: Bearer).
package openai

import (
	"encoding/json"
	"errors"
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
	Model         string            `json:"model"`
	Messages      []reliapi.Message `json:"messages"`
	MaxTokens     *int              `json:"max_tokens,omitempty"`
	Temperature   *float64          `json:"temperature,omitempty"`
	TopP          *float64          `json:"top_p,omitempty"`
	Stop          []string          `json:"stop,omitempty"`
	Stream        bool              `json:"stream,omitempty"`
	StreamOptions *StreamOptions    `json:"stream_options,omitempty"`
}

// StreamOptions asks a stream to end with a usage chunk.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// EncodeRequest implements reliapi.LLMProvider. A streamed request to
// OpenAI asks for the usage chunk, so streamed calls are priced like the
// others.
func (a Adapter) EncodeRequest(r reliapi.ChatRequest) ([]byte, error) {
	req := Request{
		Model: r.Model, Messages: r.Messages, MaxTokens: r.MaxTokens,
		Temperature: r.Temperature, TopP: r.TopP, Stop: r.Stop, Stream: r.Stream,
	}
	// Mistral sends usage in its last chunk unasked, and refuses
	// stream_options (422 extra_forbidden).
	if r.Stream && a.Name() == reliapi.ProviderOpenAI {
		req.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	return json.Marshal(req)
}

// Chunk is the wire form of one streamed chunk.
type Chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *reliapi.Usage `json:"usage"`
	// Error is set on an error sent in the stream.
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

// DecodeStreamEvent implements reliapi.LLMProvider: "data: {chunk}"
// events, then "data: [DONE]"; an error in the stream is
// "data: {"error": {...}}".
func (Adapter) DecodeStreamEvent(_ string, data []byte) (reliapi.StreamEvent, error) {
	if string(data) == "[DONE]" {
		return reliapi.StreamEvent{Done: true}, nil
	}
	var c Chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return reliapi.StreamEvent{}, fmt.Errorf("decoding chunk: %w", err)
	}
	if c.Error != nil {
		return reliapi.StreamEvent{}, reliapi.UpstreamError(http.StatusInternalServerError, c.Error.Message, map[string]any{"type": c.Error.Type})
	}
	ev := reliapi.StreamEvent{Model: c.Model, Usage: c.Usage}
	if len(c.Choices) > 0 {
		ev.Delta = c.Choices[0].Delta.Content
		if f := c.Choices[0].FinishReason; f != nil {
			ev.FinishReason = *f
		}
	}
	return ev, nil
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

// DecodeResponse implements reliapi.LLMProvider. A body without a choice
// is not a completion, whatever else it holds (a proxy's JSON, an error
// sent with status 200): reading it as an empty answer would pass the
// upstream's fault off as the model's reply.
func (Adapter) DecodeResponse(body []byte) (*reliapi.ChatResponse, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding chat completion: %w", err)
	}
	if len(r.Choices) == 0 {
		return nil, errors.New("decoding chat completion: no choices")
	}
	c := r.Choices[0]
	out := &reliapi.ChatResponse{Model: r.Model, Usage: r.Usage, Role: "assistant", Content: c.Message.Content, FinishReason: c.FinishReason}
	if c.Message.Role != "" {
		out.Role = c.Message.Role
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
