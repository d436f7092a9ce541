package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// sseEvent is one server-sent event as a client reads it.
type sseEvent struct {
	id, event string
	data      map[string]any
	raw       string
}

// sseStream is an open streamed answer.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

// openStream POSTs body to path and returns the open stream (or, when the
// answer is not a stream, fails the test with it).
func (s *stack) openStream(path string, body map[string]any, headers ...string) *sseStream {
	s.t.Helper()
	resp, cancel := s.send(path, body, headers...)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		raw, _ := io.ReadAll(resp.Body)
		cancel()
		s.t.Fatalf("POST %s: %d %s: %s", path, resp.StatusCode, ct, raw)
	}
	st := &sseStream{t: s.t, resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	s.t.Cleanup(st.close)
	return st
}

// send POSTs body to path with a bounded context; the caller closes.
func (s *stack) send(path string, body any, headers ...string) (*http.Response, context.CancelFunc) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	method := http.MethodPost
	if body == nil {
		method = http.MethodGet
	}
	resp, err := s.client.Open(ctx, method, path, body, headers...)
	if err != nil {
		cancel()
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, cancel
}

// next reads the next event; ok is false at the end of the stream.
func (st *sseStream) next() (e sseEvent, ok bool) {
	st.t.Helper()
	var data []string
	for st.lines.Scan() {
		line := st.lines.Text()
		switch {
		case line == "" && len(data) > 0:
			e.raw = strings.Join(data, "\n")
			if e.raw != "[DONE]" {
				if err := json.Unmarshal([]byte(e.raw), &e.data); err != nil {
					st.t.Fatalf("event data is not JSON: %q", e.raw)
				}
			}
			return e, true
		case strings.HasPrefix(line, "id: "):
			e.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
	return e, false
}

// rest reads the events to the end of the stream.
func (st *sseStream) rest() []sseEvent {
	st.t.Helper()
	var out []sseEvent
	for {
		e, ok := st.next()
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

func (st *sseStream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// types lists the events' names.
func types(events []sseEvent) string {
	var names []string
	for _, e := range events {
		names = append(names, e.event)
	}
	return strings.Join(names, ",")
}

// text joins the chunk events' deltas.
func text(events []sseEvent) string {
	var b strings.Builder
	for _, e := range events {
		if e.event == "chunk" {
			b.WriteString(e.data["delta"].(string))
		}
	}
	return b.String()
}

func streamBody(target, message string) map[string]any {
	return map[string]any{"target": target, "stream": true, "messages": []map[string]string{{"role": "user", "content": message}}}
}

// TestStreamSeedFormat: /v1/proxy/llm with stream: true answers meta, the
// chunks as the provider writes them, and done with usage and cost, from
// every provider.
func TestStreamSeedFormat(t *testing.T) {
	t.Parallel()
	s, fake := llmStack(t)
	for _, target := range []string{"oai", "ant", "mis"} {
		before := fake.Calls()
		body := streamBody(target, "one two three")
		if target == "mis" {
			body["model"] = "mistral-small-latest"
		}
		events := s.openStream("/v1/proxy/llm", body).rest()
		if got := types(events); got != "meta,chunk,chunk,chunk,chunk,done" {
			t.Fatalf("%s: events %s", target, got)
		}
		if got := text(events); got != "echo: one two three" {
			t.Errorf("%s: text %q", target, got)
		}
		m, done := events[0].data, events[len(events)-1].data
		if m["target"] != target || m["provider"] == nil || m["model"] == "" || !strings.HasPrefix(m["job_id"].(string), "job_") {
			t.Errorf("%s: meta %v", target, m)
		}
		if done["finish_reason"] != "stop" || get(done, "usage", "completion_tokens") == 0.0 || done["cost_usd"] == nil {
			t.Errorf("%s: done %v", target, done)
		}
		for _, e := range events {
			if !strings.HasPrefix(e.id, m["job_id"].(string)+":") {
				t.Errorf("%s: event id %q does not name the job", target, e.id)
			}
		}
		if n := fake.Calls() - before; n != 1 {
			t.Errorf("%s: provider calls = %d", target, n)
		}
		// The job holds the whole answer, like a call that did not stream.
		job := s.waitJob(m["job_id"].(string))
		if get(job.body, "result", "data", "content") != "echo: one two three" {
			t.Errorf("%s: job %s", target, job.raw)
		}
	}
}

// TestStreamResume: a client that drops after three chunks reconnects
// with Last-Event-ID and receives the rest exactly once, from one
// provider call.
func TestStreamResume(t *testing.T) {
	t.Parallel()
	s, fake := llmStack(t)
	before := fake.Calls()
	const message = "a b c d e f g h drip:30"
	body := streamBody("oai", message)
	body["idempotency_key"] = "resume-1"
	first := s.openStream("/v1/proxy/llm", body)
	var seen []sseEvent
	for len(seen) < 4 { // meta and three chunks
		e, ok := first.next()
		if !ok {
			t.Fatalf("stream ended early: %s", types(seen))
		}
		seen = append(seen, e)
	}
	first.close()
	last := seen[len(seen)-1].id

	rest := s.openStream("/v1/proxy/llm", body, "Last-Event-ID", last).rest()
	all := append(seen, rest...)
	if got, want := text(all), "echo: "+message; got != want {
		t.Fatalf("text after resuming = %q, want %q", got, want)
	}
	if rest[0].event != "chunk" || rest[len(rest)-1].event != "done" {
		t.Fatalf("resumed events: %s", types(rest))
	}
	// From the start by job ID, on the events route: everything again.
	jobID := seen[0].data["job_id"].(string)
	resp, cancel := s.send("/v1/jobs/"+jobID+"/events", nil)
	defer cancel()
	again := (&sseStream{t: t, resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}).rest()
	if text(again) != "echo: "+message || types(again)[:len("meta,chunk")] != "meta,chunk" {
		t.Fatalf("events route: %s %q", types(again), text(again))
	}
	// …or after an event.
	resp2, cancel2 := s.send("/v1/jobs/"+jobID+"/events", nil, "Last-Event-ID", last)
	defer cancel2()
	tail := (&sseStream{t: t, resp: resp2, lines: bufio.NewScanner(resp2.Body), cancel: cancel2}).rest()
	if text(tail) != text(rest) {
		t.Fatalf("events route after %s: %q, want %q", last, text(tail), text(rest))
	}
	if n := fake.Calls() - before; n != 1 {
		t.Fatalf("provider calls = %d, want 1", n)
	}
}

// TestStreamFailures: before the first chunk a failure is retried and may
// fall back (and is a lone error event); after it, the stream ends with
// UPSTREAM_STREAM_INTERRUPTED and nothing is retried.
func TestStreamFailures(t *testing.T) {
	t.Parallel()
	s, fake := llmStackWith(t, "", fallbackTargets)

	before := fake.Calls()
	events := s.openStream("/v1/proxy/llm", streamBody("oai", "one two three four cut:2")).rest()
	if got := types(events); got != "meta,chunk,chunk,error" {
		t.Fatalf("cut stream: %s", got)
	}
	if e := events[3].data; e["code"] != "UPSTREAM_STREAM_INTERRUPTED" || e["upstream_status"] != 502.0 {
		t.Fatalf("cut stream error: %v", e)
	}
	if n := fake.Calls() - before; n != 1 {
		t.Fatalf("provider calls after a cut = %d, want 1 (no retry once the answer began)", n)
	}

	events = s.openStream("/v1/proxy/llm", streamBody("primary", "Hello")).rest()
	if types(events) != "meta,chunk,chunk,done" || events[0].data["target"] != "ant" || text(events) != "echo: Hello" {
		t.Fatalf("fallback stream: %s %v", types(events), events)
	}

	events = s.openStream("/v1/proxy/llm", streamBody("oai", "fail:400")).rest()
	if types(events) != "error" || events[0].data["code"] != "CLIENT_ERROR" || events[0].data["upstream_status"] != 400.0 {
		t.Fatalf("failed before the stream: %s %v", types(events), events)
	}
}

// TestStreamOpenAISDK: the official SDK streams through
// /v1/chat/completions from an OpenAI and an Anthropic target, usage
// included; a failure before the stream is an HTTP error, after it an
// error the SDK reports.
func TestStreamOpenAISDK(t *testing.T) {
	t.Parallel()
	s, fake := llmStack(t)
	client := sdk(s, "/v1/")
	for _, model := range []string{"oai", "ant"} {
		before := fake.Calls()
		stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model:         model,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me please")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "echo: stream me please" || acc.Choices[0].FinishReason != "stop" ||
			acc.Usage.CompletionTokens == 0 || acc.Model == "" || chunks < 5 {
			t.Fatalf("%s: %d chunks, %+v", model, chunks, acc.ChatCompletion)
		}
		if n := fake.Calls() - before; n != 1 {
			t.Errorf("%s: provider calls = %d", model, n)
		}
	}

	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "oai", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fail:400")},
	})
	for stream.Next() {
	}
	var apiErr *openai.Error
	if err := stream.Err(); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Message != "fake failure 400" {
		t.Fatalf("failure before the stream: %v", err)
	}

	stream = client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "oai", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three cut:2")},
	})
	got := ""
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			got += c.Choices[0].Delta.Content
		}
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "broke off") || got != "echo: one " {
		t.Fatalf("cut stream: %q, %v", got, err)
	}
}

// TestStreamEventsEdges: the events of a job that did not stream are made
// up from its record; resuming after the end says there is nothing more
// (204); a Last-Event-ID of another shape, or of another job, is a 400.
func TestStreamEventsEdges(t *testing.T) {
	t.Parallel()
	s, _ := llmStack(t)
	r := s.llm(map[string]any{"target": "oai"})
	jobID, _ := get(r.body, "meta", "job_id").(string)
	if r.status != 200 || jobID == "" {
		t.Fatalf("completion: %d %s", r.status, r.raw)
	}
	resp, cancel := s.send("/v1/jobs/"+jobID+"/events", nil)
	defer cancel()
	events := (&sseStream{t: t, resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}).rest()
	if types(events) != "meta,chunk,done" || text(events) != "echo: Hello" || events[2].id != jobID+":end" || events[0].data["provider"] != "openai" {
		t.Fatalf("made-up events: %s %v", types(events), events)
	}

	streamed := s.openStream("/v1/proxy/llm", streamBody("oai", "one two")).rest()
	last := streamed[len(streamed)-1]
	streamedJob := streamed[0].data["job_id"].(string)
	for _, tt := range []struct {
		path, lastEventID string
		status            int
	}{
		{"/v1/jobs/" + jobID + "/events", jobID + ":end", 204},
		{"/v1/jobs/" + streamedJob + "/events", last.id, 204},
		{"/v1/jobs/" + streamedJob + "/events", "yesterday", 400},
		{"/v1/jobs/" + streamedJob + "/events", jobID + ":0-1", 400},
		{"/v1/jobs/job_00000000000000000000000000000000/events", "", 404},
	} {
		r := s.do("GET", tt.path, nil, "Last-Event-ID", tt.lastEventID)
		if r.status != tt.status {
			t.Errorf("GET %s after %q: %d %s, want %d", tt.path, tt.lastEventID, r.status, r.raw, tt.status)
		}
	}
	// On the proxy route a resumed stream after its last event ends too.
	resp, cancel2 := s.send("/v1/proxy/llm", streamBody("oai", "one two"), "Last-Event-ID", last.id)
	defer cancel2()
	if resp.StatusCode != 204 {
		t.Fatalf("resuming after the last event: %d", resp.StatusCode)
	}
	if r := s.do("POST", "/v1/proxy/llm", streamBody("oai", "one two"), "Last-Event-ID", "nonsense"); r.status != 400 || get(r.body, "error", "code") != "INVALID_REQUEST" {
		t.Fatalf("bad Last-Event-ID: %d %s", r.status, r.raw)
	}
}
