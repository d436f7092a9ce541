package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// An OpenAI completion, as a server that ignores "stream": true sends it.
const wholeCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"the whole answer"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`

// An Anthropic message, as a server that ignores "stream": true sends it.
const wholeMessage = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",` +
	`"content":[{"type":"text","text":"the whole answer"}],"stop_reason":"end_turn","stop_sequence":null,` +
	`"usage":{"input_tokens":5,"output_tokens":3}}`

// chunk is an OpenAI stream event's data carrying text.
func chunk(text string) string {
	return fmt.Sprintf(`{"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, text)
}

// misbehaviours are the answers of upstreams that break the protocol, each
// served on a target of its own (named after it) by answer.
var misbehaviours = map[string]http.HandlerFunc{
	"whole":          body(200, "application/json", wholeCompletion),
	"not-completion": body(200, "application/json", `{"status":"ok"}`),
	"truncated-json": body(200, "application/json", wholeCompletion[:60]),
	"html-200":       body(200, "text/html", "<html><body>Welcome to nginx!</body></html>"),
	"html-502":       body(502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
	"text-400":       body(400, "text/plain", "bad request"),
	"bad-event":      events(false, "{not json"),
	"bad-event-late": events(false, chunk("one "), "{not json"),
	"no-end":         events(false, chunk("one "), chunk("two")),
	"no-end-empty":   events(false, `{"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant"}}]}`),
	"cut":            events(true, chunk("one "), chunk("two")),
}

// body answers status with a body of type contentType.
func body(status int, contentType, text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, text)
	}
}

// events answers an event stream of data, each flushed, and then ends it
// cleanly without [DONE], or cuts the connection (cut).
func events(cut bool, data ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, d := range data {
			fmt.Fprintf(w, "data: %s\n\n", d)
			http.NewResponseController(w).Flush()
		}
		if cut {
			panic(http.ErrAbortHandler)
		}
	}
}

// misbehavingStack is a stack with a target per misbehaviour, on the fake
// upstream at /<name>/v1; each retries 5xx and network errors three times,
// so a call answered once was not retried.
func misbehavingStack(t *testing.T) *stack {
	t.Helper()
	var targets strings.Builder
	for name := range misbehaviours {
		fmt.Fprintf(&targets, `
%s:
  base_url: "%%UP%%/%s/v1"
  llm: {provider: openai, default_model: gpt-4o-mini}
  circuit: {error_threshold: 1000}
  retry_matrix:
    "5xx": {attempts: 3, backoff: fixed, base_s: 0.01}
    "net": {attempts: 3, backoff: fixed, base_s: 0.01}
`, name, name)
	}
	// Anthropic's Messages API, answered whole as well.
	targets.WriteString(`
whole-anthropic:
  base_url: "%UP%/whole-anthropic/v1"
  llm: {provider: anthropic, default_model: claude-3-5-haiku-20241022}
`)
	s := newStack(t, stackOptions{extraTargets: targets.String()})
	for name, h := range misbehaviours {
		s.upstream.Handle(upstreamPath(name), h)
	}
	s.upstream.Handle("/whole-anthropic/v1/messages", body(200, "application/json", wholeMessage))
	return s
}

func upstreamPath(target string) string { return "/" + target + "/v1/chat/completions" }

// calls is how many calls target's upstream received.
func (s *stack) calls(target string) int { return s.upstream.Calls(upstreamPath(target)) }

// TestStreamAnsweredWhole: an upstream that ignores "stream": true and
// answers the whole completion is relayed as meta, one chunk and done, with
// usage and cost, from one call, on both streaming routes.
func TestStreamAnsweredWhole(t *testing.T) {
	t.Parallel()
	s := misbehavingStack(t)

	for _, target := range []string{"whole", "whole-anthropic"} {
		events := s.openStream("/v1/proxy/llm", streamBody(target, "Hello")).rest()
		if types(events) != "meta,chunk,done" || text(events) != "the whole answer" || events[0].data["target"] != target {
			t.Fatalf("%s: events %s %q", target, types(events), text(events))
		}
		done := events[2].data
		if done["finish_reason"] != "stop" || get(done, "usage", "completion_tokens") != 3.0 || done["cost_usd"] == nil {
			t.Fatalf("%s: done %v", target, done)
		}
		job := s.waitJob(events[0].data["job_id"].(string))
		if get(job.body, "result", "data", "content") != "the whole answer" || get(job.body, "result", "meta", "retries") != 0.0 {
			t.Fatalf("%s: job %s", target, job.raw)
		}
	}
	if n := s.upstream.Calls("/whole-anthropic/v1/messages"); n != 1 {
		t.Fatalf("anthropic upstream calls = %d, want 1", n)
	}

	client := sdk(s, "/v1/")
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "whole",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "the whole answer" || acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens != 8 {
		t.Fatalf("accumulated %+v", acc.ChatCompletion)
	}
	if n := s.calls("whole"); n != 2 {
		t.Fatalf("upstream calls = %d, want 2 (one per stream)", n)
	}
}

// TestUpstreamMisbehaviour: an upstream answer that breaks the provider's
// protocol is the upstream's fault — 502 UPSTREAM_INVALID_RESPONSE before
// the answer began, UPSTREAM_STREAM_INTERRUPTED naming the cause after —
// never INTERNAL_ERROR, and never retried once it arrived whole; an error
// status keeps its own code (and a 5xx its retries) whatever its body.
func TestUpstreamMisbehaviour(t *testing.T) {
	t.Parallel()
	s := misbehavingStack(t)
	tests := []struct {
		target string
		stream bool
		// status and code of the answer, or of the stream's error event;
		// cause is the error event's details.cause.
		status      int
		code, cause string
		chunks      string // the text relayed before the error event
		calls       int
	}{
		{"not-completion", false, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"truncated-json", false, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"html-200", false, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"html-502", false, 502, "SERVER_ERROR", "", "", 3},
		{"text-400", false, 400, "CLIENT_ERROR", "", "", 1},
		{"not-completion", true, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"truncated-json", true, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"html-200", true, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"html-502", true, 502, "SERVER_ERROR", "", "", 3},
		{"text-400", true, 400, "CLIENT_ERROR", "", "", 1},
		{"bad-event", true, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"no-end-empty", true, 502, "UPSTREAM_INVALID_RESPONSE", "", "", 1},
		{"bad-event-late", true, 502, "UPSTREAM_STREAM_INTERRUPTED", "UPSTREAM_INVALID_RESPONSE", "one ", 1},
		{"no-end", true, 502, "UPSTREAM_STREAM_INTERRUPTED", "UPSTREAM_INVALID_RESPONSE", "one two", 1},
		{"cut", true, 502, "UPSTREAM_STREAM_INTERRUPTED", "NETWORK_ERROR", "one two", 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s stream=%v", tt.target, tt.stream), func(t *testing.T) {
			before := s.calls(tt.target)
			s.checkMisbehaviour(t, "/v1/proxy/llm", tt.target, tt.stream, tt.status, tt.code, tt.cause, tt.chunks)
			if n := s.calls(tt.target) - before; n != tt.calls {
				t.Errorf("/v1/proxy/llm: upstream calls = %d, want %d", n, tt.calls)
			}
			before = s.calls(tt.target)
			s.checkOpenAIMisbehaviour(t, tt.target, tt.stream, tt.status, tt.code, tt.chunks)
			if n := s.calls(tt.target) - before; n != tt.calls {
				t.Errorf("/v1/chat/completions: upstream calls = %d, want %d", n, tt.calls)
			}
		})
	}
}

// checkMisbehaviour calls /v1/proxy/llm and checks the answer's error (or
// the stream's error event) against status, code and cause, and the text
// relayed before it.
func (s *stack) checkMisbehaviour(t *testing.T, path, target string, stream bool, status int, code, cause, chunks string) {
	t.Helper()
	if !stream {
		r := s.llm(map[string]any{"target": target})
		if r.status != status || get(r.body, "error", "code") != code || get(r.body, "error", "source") != "upstream" {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		return
	}
	evs := s.openStream(path, streamBody(target, "Hello")).rest()
	last := evs[len(evs)-1].data
	if evs[len(evs)-1].event != "error" || text(evs) != chunks || last["code"] != code || last["status_code"] != float64(status) {
		t.Fatalf("%s: events %s %q, last %v", path, types(evs), text(evs), last)
	}
	if got, _ := get(last, "details", "cause").(string); got != cause {
		t.Fatalf("%s: cause %q, want %q: %v", path, got, cause, last)
	}
}

// checkOpenAIMisbehaviour calls /v1/chat/completions: an error before the
// answer began is an HTTP error in OpenAI's shape; after, an error in the
// stream, after the text relayed.
func (s *stack) checkOpenAIMisbehaviour(t *testing.T, target string, stream bool, status int, code, chunks string) {
	t.Helper()
	body := map[string]any{"model": target, "stream": stream, "messages": []map[string]string{{"role": "user", "content": "Hello"}}}
	resp, cancel := s.send("/v1/chat/completions", body)
	defer cancel()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if chunks == "" {
		if resp.StatusCode != status || !strings.Contains(string(raw), `"code":"`+strings.ToLower(code)+`"`) {
			t.Fatalf("/v1/chat/completions: %d %s", resp.StatusCode, raw)
		}
		return
	}
	var got strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"delta"`) {
			var c struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if json.Unmarshal([]byte(d), &c) == nil && len(c.Choices) > 0 {
				got.WriteString(c.Choices[0].Delta.Content)
			}
		}
	}
	if resp.StatusCode != 200 || got.String() != chunks || !strings.Contains(string(raw), strings.ToLower(code)) {
		t.Fatalf("/v1/chat/completions: %d %q %s", resp.StatusCode, got.String(), raw)
	}
}
