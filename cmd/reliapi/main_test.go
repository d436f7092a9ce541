package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/fakellm"
	"github.com/reliapi/reliapi/internal/testenv"
)

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version"}, os.Getenv, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "reliapi ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, os.Getenv, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut.String())
	}
	if code := run(context.Background(), nil, os.Getenv, nil, &out, &errOut); code != 2 {
		t.Errorf("no command: %d", code)
	}
	if code := run(context.Background(), []string{"healthcheck", "http://127.0.0.1:1/livez"}, os.Getenv, nil, &out, &errOut); code != 1 {
		t.Errorf("healthcheck of nothing: %d", code)
	}
}

func TestStartFailsClearly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("targets:\n  a:\n    base_url: http://x\n    timeout_ms: nope\n"), 0o600)
	offline := testenv.WriteConfig(t, fleetConfig("http://127.0.0.1:1"))
	openMode := fleetConfig("http://127.0.0.1:1")
	openMode.Extra = "auth: {mode: open}"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing config", []string{"api", "--config", filepath.Join(dir, "none.yaml")}, nil, "none.yaml"},
		{"bad config", []string{"worker", "--config", bad}, map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, "targets.a.timeout_ms"},
		{"no redis", []string{"api", "--config", offline}, nil, "REDIS_URL is not set"},
		{"bad redis url", []string{"api", "--config", offline}, map[string]string{"REDIS_URL": "mongodb://x"}, "REDIS_URL"},
		{"no api key", []string{"api", "--config", offline}, map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, "no API key is configured"},
		{"open mode outside dev", []string{"api", "--config", testenv.WriteConfig(t, openMode)},
			map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "RELIAPI_API_KEY": "k"}, "auth.mode: open is only for `reliapi dev`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := run(context.Background(), tt.args, getenv, nil, &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and a mention of %q", code, errOut.String(), tt.want)
			}
		})
	}
}

// withoutEnv is os.Environ without the named variables.
func withoutEnv(names ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func TestDevModeWorksOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Parallel()
	demo := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := testenv.WriteConfig(t, fleetConfig("http://"+demo))
	p := testenv.StartReliAPI(t, "dev", withoutEnv("REDIS_URL"), "dev", "--config", cfg, "--listen", listen, "--demo-listen", demo)
	testenv.WaitReady(t, "http://"+listen+"/readyz", p)
	if line := firstLine(p.Output()); !strings.Contains(line, "embedded") || !strings.Contains(line, "REDIS_URL") {
		t.Errorf("first log line does not announce the embedded Redis: %s", line)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck", "http://" + listen + "/livez"}, os.Getenv, nil, &out, &errOut); code != 0 {
		t.Errorf("healthcheck of a live api: %d %s", code, errOut.String())
	}
	client := &http.Client{Timeout: 30 * time.Second}
	status, body := call(t, client, "POST", "http://"+listen+"/v1/proxy/http",
		map[string]any{"target": "up", "method": "GET", "path": "/flaky?fail=1"})
	if status != 200 || body["success"] != true {
		t.Fatalf("sync call in dev mode: %d %v", status, body)
	}
	terminate(t, p)
}

// TestAPIShutdownHandsOffWaitingCalls: an api shut down while a sync call
// waits answers it 202 with its job, which still ends once: run by the
// api itself (it waits a little for the calls it runs), or by a worker
// when the api runs none (server.run_sync_calls: 0).
func TestAPIShutdownHandsOffWaitingCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	for _, runsHere := range []bool{true, false} {
		t.Run(fmt.Sprintf("runs here %v", runsHere), func(t *testing.T) {
			t.Parallel()
			apiShutdownHandsOff(t, runsHere)
		})
	}
}

func apiShutdownHandsOff(t *testing.T, runsHere bool) {
	r := testenv.StartRedis(t)
	up := testenv.StartUpstream(t)
	arrived, release := up.Block("/slow")
	t.Cleanup(release)
	settings := fleetConfig(up.URL)
	// A short shutdown timeout: the waiting call cannot finish within it.
	settings.Server["shutdown_timeout"] = "3s"
	if !runsHere {
		settings.Server["run_sync_calls"] = "0"
	}
	cfg := testenv.WriteConfig(t, settings)
	env := []string{"REDIS_URL=" + r.URL()}
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	apiProc := startProc(t, "api", env, "api", "--config", cfg, "--listen", listen)
	workerProc := startProc(t, "worker", env, "worker", "--config", cfg, "--metrics-listen", "127.0.0.1:0")
	testenv.WaitReady(t, "http://"+listen+"/readyz", apiProc)

	client := &http.Client{Timeout: 30 * time.Second}
	type answer struct {
		status int
		body   map[string]any
	}
	answers := make(chan answer, 1)
	go func() {
		status, body := call(t, client, "POST", "http://"+listen+"/v1/proxy/http",
			map[string]any{"target": "up", "method": "GET", "path": "/slow"})
		answers <- answer{status, body}
	}()
	<-arrived
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := apiProc.Terminate(40 * time.Second); err != nil {
			t.Errorf("%v:\n%s", err, apiProc.Output())
		}
	}()
	a := <-answers
	if a.status != 202 || a.body["object"] != "job" {
		t.Fatalf("waiting call during shutdown: %d %v", a.status, a.body)
	}
	// The upstream answers while the api that handed the call off stops:
	// an api that runs it waits for it.
	release()
	<-stopped

	// The job finishes although the api that accepted it is gone.
	listen2 := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	api2 := startProc(t, "api-2", env, "api", "--config", cfg, "--listen", listen2)
	testenv.WaitReady(t, "http://"+listen2+"/readyz", api2)
	status, job := call(t, client, "GET", "http://"+listen2+"/v1/jobs/"+a.body["id"].(string)+"?wait=20", nil)
	if status != 200 || job["status"] != "succeeded" {
		t.Fatalf("job after hand-off: %d %v", status, job)
	}
	if n := up.Calls("/slow"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
	terminate(t, workerProc)
	terminate(t, api2)
}

func TestKeyCommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"key", "new"}, os.Getenv, nil, &out, &errOut); code != 0 {
		t.Fatalf("key new: %d %s", code, errOut.String())
	}
	var key, digest string
	if _, err := fmt.Sscanf(out.String(), "key: %s\nsha256: %s\n", &key, &digest); err != nil || len(key) < 40 {
		t.Fatalf("key new printed %q (%v)", out.String(), err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"key", "hash"}, os.Getenv, strings.NewReader(key+"\n"), &out, &errOut); code != 0 || strings.TrimSpace(out.String()) != digest {
		t.Fatalf("key hash: %d %q, want %s", code, out.String(), digest)
	}
	if code := run(context.Background(), []string{"key", "hash"}, os.Getenv, strings.NewReader(""), &out, &errOut); code != 2 {
		t.Errorf("key hash of nothing: %d", code)
	}
}

// TestWorkerMetricsNeedTheAdminKey: the worker's /metrics is guarded like
// the api's when an admin key is configured, and open otherwise.
func TestWorkerMetricsNeedTheAdminKey(t *testing.T) {
	t.Parallel()
	reg := newRegistry()
	guarded := workerSideHandler(nil, reg, config.ClientAuth{AdminKey: config.SecretFrom("ADMIN", "adm")})
	open := workerSideHandler(nil, reg, config.ClientAuth{})
	for _, tt := range []struct {
		h      http.Handler
		header []string
		status int
	}{
		{guarded, nil, 401},
		{guarded, []string{"X-API-Key", "wrong"}, 401},
		{guarded, []string{"X-API-Key", "adm"}, 200},
		{guarded, []string{"Authorization", "Bearer adm"}, 200},
		{open, nil, 200},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.header != nil {
			req.Header.Set(tt.header[0], tt.header[1])
		}
		rec := httptest.NewRecorder()
		tt.h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%v: %d, want %d", tt.header, rec.Code, tt.status)
		}
	}
}

// TestAPIRunsStreamedCalls: streamed LLM calls to an api that runs sync
// calls itself, the second one sent out before its job's record is
// written (the first read the breaker closed), each relayed whole: its
// pieces, then done, and its job succeeded.
func TestAPIRunsStreamedCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Parallel()
	r := testenv.StartRedis(t)
	provider := httptest.NewServer(fakellm.New())
	t.Cleanup(provider.Close)
	settings := fleetConfig("http://127.0.0.1:1")
	settings.Targets["llm"] = testenv.Section{
		"base_url": fmt.Sprintf("%q", provider.URL+"/openai/v1"),
		"llm":      "{provider: openai, default_model: gpt-4o-mini}",
		"auth":     "{type: bearer_env, env_var: STREAM_TEST_LLM_KEY}",
	}
	cfg := testenv.WriteConfig(t, settings)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	// No worker: the api runs the calls.
	p := startProc(t, "api", []string{"REDIS_URL=" + r.URL(), "STREAM_TEST_LLM_KEY=sk-test"}, "api", "--config", cfg, "--listen", listen)
	testenv.WaitReady(t, "http://"+listen+"/readyz", p)
	client := &testenv.Client{BaseURL: "http://" + listen, APIKey: testAPIKey, HTTP: &http.Client{Timeout: 30 * time.Second}}
	for i := range 2 {
		resp, err := client.Open(t.Context(), "POST", "/v1/proxy/llm", map[string]any{
			"target": "llm", "stream": true, "messages": []map[string]any{{"role": "user", "content": "one two three"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %d %v\n%s", i, resp.StatusCode, err, body)
		}
		if s := string(body); strings.Count(s, "event: chunk") < 2 || !strings.Contains(s, "event: done") {
			t.Fatalf("stream %d is not relayed whole:\n%s", i, s)
		}
	}
	terminate(t, p)
}
