// Package anthropic adapts Anthropic's Messages API
// (POST {base_url}/messages with x-api-key and anthropic-version): system
// messages are lifted into the top-level "system" field, max_tokens is
// always sent (it is required), and stop reasons and token counts are
// mapped to ReliAPI's (OpenAI-like) terms.
package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/reliapi/reliapi"
)

// Version is the anthropic-version header sent with every call.
const Version = "2023-06-01"

// DefaultMaxTokens is sent when a request names no max_tokens: Anthropic
// requires one.
const DefaultMaxTokens = 1024

// Adapter is the Anthropic adapter; the zero value is ready.
type Adapter struct{}

var _ reliapi.LLMProvider = Adapter{}

// Name implements reliapi.LLMProvider.
func (Adapter) Name() string { return reliapi.ProviderAnthropic }

// Path implements reliapi.LLMProvider.
func (Adapter) Path() string { return "/messages" }

// Headers implements reliapi.LLMProvider.
func (Adapter) Headers(secret string) map[string]string {
	h := map[string]string{"anthropic-version": Version}
	if secret != "" {
		h["x-api-key"] = secret
	}
	return h
}

// Request is the wire form of a Messages request.
type Request struct {
	Model         string            `json:"model"`
	MaxTokens     int               `json:"max_tokens"`
	System        string            `json:"system,omitempty"`
	Messages      []reliapi.Message `json:"messages"`
	Temperature   *float64          `json:"temperature,omitempty"`
	TopP          *float64          `json:"top_p,omitempty"`
	StopSequences []string          `json:"stop_sequences,omitempty"`
	Stream        bool              `json:"stream,omitempty"`
}

// EncodeRequest implements reliapi.LLMProvider.
func (Adapter) EncodeRequest(r reliapi.ChatRequest) ([]byte, error) {
	out := Request{Model: r.Model, MaxTokens: DefaultMaxTokens, Temperature: r.Temperature, TopP: r.TopP, StopSequences: r.Stop, Stream: r.Stream}
	if r.MaxTokens != nil && *r.MaxTokens > 0 {
		out.MaxTokens = *r.MaxTokens
	}
	var system []string
	for _, m := range r.Messages {
		if m.Role == "system" {
			system = append(system, m.Content)
			continue
		}
		out.Messages = append(out.Messages, m)
	}
	out.System = strings.Join(system, "\n\n")
	return json.Marshal(out)
}

// Response is the wire form of a Messages answer.
type Response struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Role    string `json:"role"`
	Model   string `json:"model"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StopReason string `json:"stop_reason"`
	Usage      struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

// DecodeResponse implements reliapi.LLMProvider. A body that is neither
// of type "message" nor has a content list is not a message, whatever else
// it holds: reading it as an empty answer would pass the upstream's fault
// off as the model's reply.
func (Adapter) DecodeResponse(body []byte) (*reliapi.ChatResponse, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding message: %w", err)
	}
	if r.Type != "message" && r.Content == nil {
		return nil, errors.New("decoding message: not a message")
	}
	var text strings.Builder
	for _, c := range r.Content {
		if c.Type == "text" {
			text.WriteString(c.Text)
		}
	}
	return &reliapi.ChatResponse{
		Content:      text.String(),
		Role:         "assistant",
		FinishReason: FinishReason(r.StopReason),
		Model:        r.Model,
		Usage: reliapi.Usage{
			PromptTokens: r.Usage.InputTokens, CompletionTokens: r.Usage.OutputTokens,
			TotalTokens: r.Usage.InputTokens + r.Usage.OutputTokens,
		},
	}, nil
}

// FinishReason maps an Anthropic stop_reason to the OpenAI-style value.
func FinishReason(stop string) string {
	switch stop {
	case "end_turn", "stop_sequence", "":
		return "stop"
	case "max_tokens":
		return "length"
	case "tool_use":
		return "tool_calls"
	default:
		return stop
	}
}

// DecodeError implements reliapi.LLMProvider: Anthropic's
// {"type": "error", "error": {"type", "message"}}.
func (Adapter) DecodeError(status int, _ http.Header, body []byte) *reliapi.Error {
	var r struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(body, &r)
	return reliapi.UpstreamError(status, r.Error.Message, map[string]any{"type": r.Error.Type})
}

// DecodeStreamEvent implements reliapi.LLMProvider: message_start (model
// and input tokens), content_block_delta (text), message_delta (stop reason
// and output tokens), message_stop (the end), error; ping and the block
// start and stop events carry nothing ReliAPI needs.
func (Adapter) DecodeStreamEvent(event string, data []byte) (reliapi.StreamEvent, error) {
	var e struct {
		Type    string `json:"type"`
		Message struct {
			Model string `json:"model"`
			Usage struct {
				InputTokens int `json:"input_tokens"`
			} `json:"usage"`
		} `json:"message"`
		Delta struct {
			Type       string `json:"type"`
			Text       string `json:"text"`
			StopReason string `json:"stop_reason"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return reliapi.StreamEvent{}, fmt.Errorf("decoding %s event: %w", event, err)
	}
	if event == "" {
		event = e.Type
	}
	switch event {
	case "message_start":
		return reliapi.StreamEvent{Model: e.Message.Model, Usage: &reliapi.Usage{PromptTokens: e.Message.Usage.InputTokens}}, nil
	case "content_block_delta":
		if e.Delta.Type == "text_delta" {
			return reliapi.StreamEvent{Delta: e.Delta.Text}, nil
		}
	case "message_delta":
		return reliapi.StreamEvent{FinishReason: FinishReason(e.Delta.StopReason), Usage: &reliapi.Usage{CompletionTokens: e.Usage.OutputTokens}}, nil
	case "message_stop":
		return reliapi.StreamEvent{Done: true}, nil
	case "error":
		status, ok := streamErrorStatus[e.Error.Type]
		if !ok {
			status = http.StatusInternalServerError
		}
		return reliapi.StreamEvent{}, reliapi.UpstreamError(status, e.Error.Message, map[string]any{"type": e.Error.Type})
	}
	return reliapi.StreamEvent{}, nil
}

// streamErrorStatus is the HTTP status each error type sent in a stream
// stands for (Anthropic's errors page).
var streamErrorStatus = map[string]int{
	"invalid_request_error": http.StatusBadRequest,
	"rate_limit_error":      http.StatusTooManyRequests,
	"api_error":             http.StatusInternalServerError,
	"overloaded_error":      529,
}
