// Package fakellm serves fake OpenAI, Anthropic and Mistral chat APIs that
// speak each provider's wire format, for tests and for `reliapi dev`. The
// answer echoes the last user message; the message text can steer it:
//
//	fail:NNN        answer with HTTP status NNN in the provider's error format
//	                (429 carries Retry-After: 1)
//	slow:MS         wait MS milliseconds first
//	drip:MS         when streaming, wait MS milliseconds between chunks
//	cut:N           when streaming, drop the connection after N text chunks
//
// A request with "stream": true is answered as the provider streams:
// OpenAI's "data:" chunks ending with "data: [DONE]" (and a usage chunk
// when stream_options.include_usage is set), or Anthropic's named events
// from message_start to message_stop.
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
	s.mux.HandleFunc("POST /openai/v1/chat/completions", s.openAI(false))
	s.mux.HandleFunc("POST /mistral/v1/chat/completions", s.openAI(true))
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

// streamDirectives reads drip:MS and cut:N from the echoed text.
func streamDirectives(echo string) (drip time.Duration, cut int) {
	cut = -1
	for _, word := range strings.Fields(echo) {
		if v, ok := strings.CutPrefix(word, "drip:"); ok {
			ms, _ := strconv.Atoi(v)
			drip = time.Duration(min(ms, 5000)) * time.Millisecond
		}
		if v, ok := strings.CutPrefix(word, "cut:"); ok {
			cut, _ = strconv.Atoi(v)
		}
	}
	return drip, cut
}

// pieces splits a reply into the text chunks a stream sends: a word each,
// with its trailing space.
func pieces(reply string) []string {
	var out []string
	for len(reply) > 0 {
		i := strings.IndexByte(reply, ' ')
		if i < 0 {
			out = append(out, reply)
			break
		}
		out = append(out, reply[:i+1])
		reply = reply[i+1:]
	}
	return out
}

// sse writes one server-sent event and flushes it; it reports false when
// the client is gone.
func sse(w http.ResponseWriter, r *http.Request, event string, data any) bool {
	b, _ := json.Marshal(data)
	if s, ok := data.(string); ok {
		b = []byte(s)
	}
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	w.(http.Flusher).Flush()
	return r.Context().Err() == nil
}

// streamPieces sends the reply's pieces through send, honouring drip and
// cut; it reports false when the client left.
func streamPieces(r *http.Request, reply string, send func(piece string) bool) bool {
	drip, cut := streamDirectives(reply)
	for i, p := range pieces(reply) {
		if cut >= 0 && i >= cut {
			panic(http.ErrAbortHandler) // drop the connection mid-answer
		}
		if i > 0 && drip > 0 {
			select {
			case <-time.After(drip):
			case <-r.Context().Done():
				return false
			}
		}
		if !send(p) {
			return false
		}
	}
	return true
}

// openAI serves OpenAI's chat API, or Mistral's: the same wire format,
// except that Mistral refuses stream_options and puts usage in its last
// chunk unasked.
func (s *Server) openAI(mistral bool) http.HandlerFunc {
	idPrefix := "chatcmpl-"
	if mistral {
		idPrefix = "cmpl-"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		oaError := func(status int, msg, typ string) {
			writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			oaError(401, "You didn't provide an API key.", "invalid_request_error")
			return
		}
		var req struct {
			Model         string    `json:"model"`
			Messages      []message `json:"messages"`
			MaxTokens     *int      `json:"max_tokens"`
			Stream        bool      `json:"stream"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
			oaError(400, "'model' and 'messages' are required properties", "invalid_request_error")
			return
		}
		if mistral && req.StreamOptions != nil {
			oaError(422, "stream_options: Extra inputs are not permitted", "invalid_request_error")
			return
		}
		status, echo := steer(r, req.Messages)
		if status != 0 {
			oaError(status, fmt.Sprintf("fake failure %d", status), "server_error")
			return
		}
		a := newAnswer(idPrefix, req.Model, "echo: "+echo, req.MaxTokens, "stop", "length", "", req.Messages)
		if req.Stream {
			openAIStream(w, r, a, mistral, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
			return
		}
		writeJSON(w, 200, map[string]any{
			"id": a.id, "object": "chat.completion", "created": time.Now().Unix(), "model": a.model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": a.reply}, "finish_reason": a.finish}},
			"usage":   a.openAIUsage(),
		})
	}
}

// answer is a fake completion: its text, why it ended, and its usage.
type answer struct {
	id, model, reply, finish string
	prompt, completion       int
}

// newAnswer answers msgs (and system) with reply, cut to maxTokens (nil:
// no cap), ending with stop, or with length when cut.
func newAnswer(idPrefix, model, reply string, maxTokens *int, stop, length, system string, msgs []message) answer {
	a := answer{id: idPrefix + strconv.FormatInt(time.Now().UnixNano(), 36), model: model, reply: reply, finish: stop, completion: tokens(reply)}
	if maxTokens != nil && a.completion > *maxTokens {
		a.reply, a.finish, a.completion = reply[:min(len(reply), *maxTokens*4)], length, *maxTokens
	}
	if system != "" {
		a.prompt = tokens(system)
	}
	for _, m := range msgs {
		a.prompt += tokens(m.Content)
	}
	return a
}

func (a answer) openAIUsage() map[string]any {
	return map[string]any{"prompt_tokens": a.prompt, "completion_tokens": a.completion, "total_tokens": a.prompt + a.completion}
}

// openAIStream writes a as OpenAI's chat.completion.chunk events; Mistral
// puts the usage on the last chunk, OpenAI on a chunk of its own when
// asked (stream_options.include_usage).
func openAIStream(w http.ResponseWriter, r *http.Request, a answer, mistral, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": a.id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": a.model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	if !sse(w, r, "", chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	if !streamPieces(r, a.reply, func(p string) bool { return sse(w, r, "", chunk(map[string]any{"content": p}, nil)) }) {
		return
	}
	last := chunk(map[string]any{}, a.finish)
	if mistral {
		last["usage"] = a.openAIUsage()
	}
	sse(w, r, "", last)
	if includeUsage {
		sse(w, r, "", map[string]any{"id": a.id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": a.model,
			"choices": []any{}, "usage": a.openAIUsage()})
	}
	sse(w, r, "", "[DONE]")
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
		Stream    bool      `json:"stream"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		antError(400, "invalid_request_error", "invalid JSON")
		return
	}
	if problem := anthropicProblem(req.MaxTokens, req.Messages); problem != "" {
		antError(400, "invalid_request_error", problem)
		return
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
	a := newAnswer("msg_", req.Model, reply, &req.MaxTokens, "end_turn", "max_tokens", req.System, req.Messages)
	if req.Stream {
		anthropicStream(w, r, a)
		return
	}
	writeJSON(w, 200, map[string]any{
		"id": a.id, "type": "message", "role": "assistant",
		"model": a.model, "content": []any{map[string]any{"type": "text", "text": a.reply}},
		"stop_reason": a.finish, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": a.prompt, "output_tokens": a.completion},
	})
}

// anthropicProblem is what Anthropic says of a request without max_tokens
// or messages, or with a role it does not take; "" when there is none.
func anthropicProblem(maxTokens int, msgs []message) string {
	switch {
	case maxTokens <= 0:
		return "max_tokens: Field required"
	case len(msgs) == 0:
		return "messages: Field required"
	}
	for i, m := range msgs {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
	}
	return ""
}

// anthropicStream writes a as Anthropic's message events.
func anthropicStream(w http.ResponseWriter, r *http.Request, a answer) {
	w.Header().Set("Content-Type", "text/event-stream")
	ok := sse(w, r, "message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": a.id, "type": "message", "role": "assistant", "content": []any{}, "model": a.model,
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": a.prompt, "output_tokens": 1},
	}}) &&
		sse(w, r, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}}) &&
		sse(w, r, "ping", map[string]any{"type": "ping"}) &&
		streamPieces(r, a.reply, func(p string) bool {
			return sse(w, r, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": p}})
		})
	if !ok {
		return
	}
	sse(w, r, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse(w, r, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": a.finish, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": a.completion}})
	sse(w, r, "message_stop", map[string]any{"type": "message_stop"})
}
