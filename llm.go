package reliapi

import (
	"net/http"
	"strings"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is a chat completion request in ReliAPI's own terms; each
// provider adapter maps it to its wire format.
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	MaxTokens   *int      `json:"max_tokens,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	TopP        *float64  `json:"top_p,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
	// Stream asks for the answer as it is written.
	Stream bool `json:"stream,omitempty"`
}

// Usage counts a completion's tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatResponse is a completion in ReliAPI's own terms: the data of a
// successful LLM job.
type ChatResponse struct {
	Content      string `json:"content"`
	Role         string `json:"role"`
	FinishReason string `json:"finish_reason"`
	Model        string `json:"model"`
	Usage        Usage  `json:"usage"`
}

// LLMProvider adapts one provider's chat API. Adapters are pure: they
// build and read HTTP messages and never call the network themselves.
type LLMProvider interface {
	// Name is the provider's name: "openai", "anthropic", "mistral".
	Name() string
	// Path is the chat endpoint below the target's base_url.
	Path() string
	// Headers are the headers a call needs besides the body's type: the
	// credential (secret) in the provider's form, and any version header.
	Headers(secret string) map[string]string
	// EncodeRequest renders a request in the provider's wire format.
	EncodeRequest(ChatRequest) ([]byte, error)
	// DecodeResponse reads a successful answer (status 2xx).
	DecodeResponse(body []byte) (*ChatResponse, error)
	// DecodeError maps an error answer (status >= 400) to a coded error,
	// with the provider's own message.
	DecodeError(status int, header http.Header, body []byte) *Error
	// DecodeStreamEvent reads one server-sent event of a streamed answer
	// (its event name, "" when it has none, and its data).
	DecodeStreamEvent(event string, data []byte) (StreamEvent, error)
}

// StreamEvent is what one event of a streamed answer says. Any field may
// be empty; Done marks the end of the stream.
type StreamEvent struct {
	Delta        string
	FinishReason string
	Model        string
	// Usage, when set, holds the counts the event reports; a zero count
	// means "not reported here".
	Usage *Usage
	Done  bool
}

// The LLM providers ReliAPI speaks.
const (
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
	ProviderMistral   = "mistral"
)

// DetectProvider names the provider a base URL belongs to, or "" when it
// names none of the known ones (then llm.provider must say).
func DetectProvider(baseURL string) string {
	switch u := strings.ToLower(baseURL); {
	case strings.Contains(u, "openai.com"):
		return ProviderOpenAI
	case strings.Contains(u, "anthropic.com"):
		return ProviderAnthropic
	case strings.Contains(u, "mistral.ai"):
		return ProviderMistral
	}
	return ""
}
