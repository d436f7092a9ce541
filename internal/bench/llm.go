package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/reliapi/reliapi/internal/fakellm"
	"github.com/reliapi/reliapi/internal/testenv"
)

// The LLM phase compares calls to the fake OpenAI provider made directly
// with the same calls through ReliAPI: the whole answer of a non-streamed
// completion, and the first piece of a streamed one.

// llmKeyEnv names the variable the bench's LLM target reads its key from.
const llmKeyEnv = "RELIAPI_BENCH_LLM_KEY"

// llmMessage is the prompt of every LLM call: the fake provider echoes
// it, as five pieces when streaming.
const llmMessage = "one two three four"

// fakeProvider is the fake LLM providers' server.
type fakeProvider struct {
	url   string
	srv   *http.Server
	calls func() int
}

func startFakeProvider() (*fakeProvider, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := fakellm.New()
	p := &fakeProvider{url: "http://" + l.Addr().String(), srv: &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}, calls: f.Calls}
	go p.srv.Serve(l)
	return p, nil
}

func (p *fakeProvider) close() { p.srv.Close() }

// llmRow is one line of the LLM table: a direct and a proxied run.
type llmRow struct {
	name           string
	direct, proxed stats
}

// llmResult is the LLM phase.
type llmResult struct {
	warmup int
	rows   []llmRow
}

// measureLLM makes n calls of each kind at concurrency 1, direct then
// through ReliAPI, after a warm-up of each, and checks that every proxied
// call reached the provider exactly once.
func (e *env) measureLLM(ctx context.Context, n, warmup int) (llmResult, error) {
	kinds := []struct {
		name           string
		direct, proxed timedCall
	}{
		{"completion, whole answer", e.llmDirect, e.llmProxied},
		{"streamed completion, first piece", e.llmDirectFirstPiece, e.llmProxiedFirstPiece},
	}
	res := llmResult{warmup: warmup}
	for _, k := range kinds {
		for _, f := range []timedCall{k.direct, k.proxed} {
			if _, err := sequence(ctx, warmup, f); err != nil {
				return res, err
			}
		}
		direct, err := sequence(ctx, n, k.direct)
		if err != nil {
			return res, err
		}
		before := e.llm.calls()
		proxed, err := sequence(ctx, n, k.proxed)
		if err != nil {
			return res, err
		}
		if got := e.llm.calls() - before; got != n {
			return res, fmt.Errorf("%d proxied LLM calls (%s) reached the provider %d times", n, k.name, got)
		}
		res.rows = append(res.rows, llmRow{name: k.name, direct: summarize(direct), proxed: summarize(proxed)})
	}
	return res, nil
}

// timedCall makes one call and returns the time that counts: to the whole
// answer, or to the first piece of a stream.
type timedCall func(ctx context.Context) (time.Duration, error)

// sequence makes n calls one after the other.
func sequence(ctx context.Context, n int, call timedCall) (sample, error) {
	s := sample{lat: make([]time.Duration, n)}
	start := time.Now()
	for i := range n {
		d, err := call(ctx)
		if err != nil {
			return sample{}, err
		}
		s.lat[i] = d
	}
	s.wall = time.Since(start)
	return s, nil
}

// llmPost POSTs body to path with c and returns the open response.
func llmPost(ctx context.Context, c *testenv.Client, path, body string, header ...string) (*http.Response, error) {
	resp, err := c.Open(ctx, http.MethodPost, path, body, header...)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("POST %s%s answered %d %s", c.BaseURL, path, resp.StatusCode, raw)
	}
	return resp, nil
}

// provider calls the fake LLM provider directly, with the key the llm
// target uses.
func (e *env) provider() *testenv.Client {
	return &testenv.Client{BaseURL: e.llm.url, HTTP: e.client}
}

func (e *env) providerBody(stream bool) string {
	return fmt.Sprintf(`{"model":"gpt-4o-mini","stream":%v,"messages":[{"role":"user","content":%q}]}`, stream, llmMessage)
}

func (e *env) proxyLLMBody(stream bool) string {
	return fmt.Sprintf(`{"target":"llm","stream":%v,"messages":[{"role":"user","content":%q}]}`, stream, llmMessage)
}

// llmDirect is one completion from the provider itself.
func (e *env) llmDirect(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	resp, err := llmPost(ctx, e.provider(), "/openai/v1/chat/completions", e.providerBody(false), "Authorization", "Bearer sk-bench")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var c struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || len(c.Choices) != 1 || c.Choices[0].Message.Content != "echo: "+llmMessage {
		return 0, fmt.Errorf("direct completion: %+v %v", c, err)
	}
	return time.Since(start), nil
}

// llmProxied is the same completion through POST /v1/proxy/llm.
func (e *env) llmProxied(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := e.llmCompletion(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// llmCompletion makes the completion through POST /v1/proxy/llm, checks
// its answer and returns its job ID.
func (e *env) llmCompletion(ctx context.Context) (string, error) {
	resp, err := llmPost(ctx, e.apiClient, "/v1/proxy/llm", e.proxyLLMBody(false))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ans struct {
		Success bool                     `json:"success"`
		Data    struct{ Content string } `json:"data"`
		Meta    struct {
			JobID string `json:"job_id"`
		} `json:"meta"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || !ans.Success || ans.Data.Content != "echo: "+llmMessage || ans.Meta.JobID == "" {
		return "", fmt.Errorf("proxied completion: %+v %v", ans, err)
	}
	return ans.Meta.JobID, nil
}

// llmDirectFirstPiece streams a completion from the provider: the time
// to its first content chunk.
func (e *env) llmDirectFirstPiece(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	resp, err := llmPost(ctx, e.provider(), "/openai/v1/chat/completions", e.providerBody(true), "Authorization", "Bearer sk-bench")
	if err != nil {
		return 0, err
	}
	return firstLine(resp, start, func(line string) bool {
		return strings.HasPrefix(line, "data: {") && strings.Contains(line, `"content":"echo`)
	})
}

// llmProxiedFirstPiece streams the same completion through
// /v1/proxy/llm: the time to its first chunk event.
func (e *env) llmProxiedFirstPiece(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	resp, err := llmPost(ctx, e.apiClient, "/v1/proxy/llm", e.proxyLLMBody(true))
	if err != nil {
		return 0, err
	}
	return firstLine(resp, start, func(line string) bool { return line == "event: chunk" })
}

// firstLine reads resp's body until a line matches, and returns the time
// from start to then; it drains and closes the body afterwards (so the
// connection is reused). It fails when no line matches.
func firstLine(resp *http.Response, start time.Time, match func(string) bool) (time.Duration, error) {
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if match(sc.Text()) {
			d := time.Since(start)
			_, err := io.Copy(io.Discard, resp.Body)
			return d, err
		}
	}
	return 0, fmt.Errorf("stream ended without its first piece (%v)", sc.Err())
}

func (r *report) printLLM(p printer) {
	p("## 7. LLM calls")
	p("")
	p("Concurrency 1, %d calls of each kind after %d warm-up calls. direct = POST the fake OpenAI provider's /chat/completions (in the bench process); reliapi = POST /v1/proxy/llm to the `llm` target on the same provider (run by the api, as sync calls are). The prompt %q is echoed back, in five pieces when streamed; for streams the time is to the first piece of text (the provider's first content chunk, ReliAPI's first `chunk` event, relayed from the job's Redis Stream).", r.llm.rows[0].direct.n, r.llm.warmup, llmMessage)
	p("")
	p("| call | direct p50 | reliapi p50 | **added p50** | direct p99 | reliapi p99 | added p99 |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	for _, row := range r.llm.rows {
		d, x := row.direct, row.proxed
		p("| %s | %s | %s | **%s** | %s | %s | %s |", row.name, ms(d.p50), ms(x.p50), ms(x.p50-d.p50), ms(d.p99), ms(x.p99), ms(x.p99-d.p99))
	}
	p("")
}
