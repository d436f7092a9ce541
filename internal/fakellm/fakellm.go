// Package fakellm serves fake OpenAI, Anthropic and Mistral chat APIs that
// speak each provider's wire format, for tests and for `reliapi dev`. The
// answer echoes the last user message; the message text can steer it:
//
//	fail:NNN        answer with HTTP status NNN in the provider's error format
//	                (429 carries Retry-After: 1)
//	slow:MS         wait MS milliseconds first
//
// Like the real APIs it refuses calls without credentials (401) and, for
// Anthropic, without anthropic-version or max_tokens, or with a "system"
// role inside messages (400).
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Server is the fake providers' handler.
type Server struct {
	mux   *http.ServeMux
	calls atomic.Int64
}

// New returns the handler: OpenAI at /openai/v1/chat/completions,
// Anthropic at /anthropic/v1/messages, Mistral at
// /mistral/v1/chat/completions; anything under /down/ answers 503.
func New() *Server {
	s := &Server{mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /openai/v1/chat/completions", s.openAI("chatcmpl-"))
	s.mux.HandleFunc("POST /mistral/v1/chat/completions", s.openAI("cmpl-"))
	s.mux.HandleFunc("POST /anthropic/v1/messages", s.anthropic)
	// A provider that is down: every call answers 503.
	s.mux.HandleFunc("POST /down/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]any{"message": "down", "type": "server_error"}})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mux.ServeHTTP(w, r)
}

// Calls is how many requests the fake providers received.
func (s *Server) Calls() int { return int(s.calls.Load()) }

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// steer reads the directives in the last user message: a status to fail
// with (0: none) after sleeping; it also returns the text to echo.
func steer(r *http.Request, msgs []message) (status int, echo string) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			echo = msgs[i].Content
			break
		}
	}
	for _, word := range strings.Fields(echo) {
		if v, ok := strings.CutPrefix(word, "slow:"); ok {
			if ms, err := strconv.Atoi(v); err == nil {
				select {
				case <-time.After(time.Duration(min(ms, 30000)) * time.Millisecond):
				case <-r.Context().Done():
				}
			}
		}
		if v, ok := strings.CutPrefix(word, "fail:"); ok {
			status, _ = strconv.Atoi(v)
		}
	}
	return status, echo
}

// tokens approximates a token count: about four characters a token.
func tokens(s string) int { return len(s)/4 + 1 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) openAI(idPrefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		oaError := func(status int, msg, typ string) {
			writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			oaError(401, "You didn't provide an API key.", "invalid_request_error")
			return
		}
		var req struct {
			Model     string    `json:"model"`
			Messages  []message `json:"messages"`
			MaxTokens *int      `json:"max_tokens"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
			oaError(400, "'model' and 'messages' are required properties", "invalid_request_error")
			return
		}
		status, echo := steer(r, req.Messages)
		if status != 0 {
			oaError(status, fmt.Sprintf("fake failure %d", status), "server_error")
			return
		}
		reply, finish := "echo: "+echo, "stop"
		completion := tokens(reply)
		if req.MaxTokens != nil && completion > *req.MaxTokens {
			reply, finish, completion = reply[:min(len(reply), *req.MaxTokens*4)], "length", *req.MaxTokens
		}
		prompt := 0
		for _, m := range req.Messages {
			prompt += tokens(m.Content)
		}
		writeJSON(w, 200, map[string]any{
			"id": idPrefix + strconv.FormatInt(time.Now().UnixNano(), 36), "object": "chat.completion",
			"created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{
				"index": 0, "message": map[string]any{"role": "assistant", "content": reply}, "finish_reason": finish,
			}},
			"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
	}
}

func (s *Server) anthropic(w http.ResponseWriter, r *http.Request) {
	antError := func(status int, typ, msg string) {
		writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
	}
	if r.Header.Get("x-api-key") == "" {
		antError(401, "authentication_error", "x-api-key header is required")
		return
	}
	if r.Header.Get("anthropic-version") == "" {
		antError(400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var req struct {
		Model     string    `json:"model"`
		MaxTokens int       `json:"max_tokens"`
		System    string    `json:"system"`
		Messages  []message `json:"messages"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		antError(400, "invalid_request_error", "invalid JSON")
		return
	}
	switch {
	case req.MaxTokens <= 0:
		antError(400, "invalid_request_error", "max_tokens: Field required")
		return
	case len(req.Messages) == 0:
		antError(400, "invalid_request_error", "messages: Field required")
		return
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			antError(400, "invalid_request_error", fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i))
			return
		}
	}
	status, echo := steer(r, req.Messages)
	if status != 0 {
		typ := map[int]string{429: "rate_limit_error", 529: "overloaded_error"}[status]
		if typ == "" {
			typ = "api_error"
		}
		antError(status, typ, fmt.Sprintf("fake failure %d", status))
		return
	}
	reply := "echo: " + echo
	if req.System != "" {
		reply += " [system: " + req.System + "]"
	}
	stop, completion := "end_turn", tokens(reply)
	if completion > req.MaxTokens {
		reply, stop, completion = reply[:min(len(reply), req.MaxTokens*4)], "max_tokens", req.MaxTokens
	}
	prompt := tokens(req.System)
	for _, m := range req.Messages {
		prompt += tokens(m.Content)
	}
	writeJSON(w, 200, map[string]any{
		"id": "msg_" + strconv.FormatInt(time.Now().UnixNano(), 36), "type": "message", "role": "assistant",
		"model": req.Model, "content": []any{map[string]any{"type": "text", "text": reply}},
		"stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": prompt, "output_tokens": completion},
	})
}
