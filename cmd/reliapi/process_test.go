package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	os.Exit(code)
}

// proc is one reliapi process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error
}

// startProc runs the reliapi binary with args and env, and stops it (with
// SIGKILL, if the test did not stop it gracefully) when the test ends.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, name, append(append(os.Environ(), "RELIAPI_API_KEY="+testAPIKey), env...), args...)
}

// testAPIKey is the API key of the processes startProc runs (the tenant
// "default"); call sends it.
const testAPIKey = "test-key-of-the-default-tenant"

// startProcEnv is startProc with the whole environment given.
func startProcEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(testenv.Binary(t), args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

// terminate sends SIGTERM and waits (bounded) for a clean exit.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("%s did not exit after SIGTERM", p.name)
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v:\n%s", p.name, p.err, tail(p.out.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// writeConfig writes a config with the target "up", and the targets in
// moreTargets (YAML indented by two spaces), and returns its path.
func writeConfig(t *testing.T, upstreamURL, moreTargets string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	yaml := fmt.Sprintf(`
server:
  sync_timeout: 20s
worker:
  concurrency: 32
  task_check_interval: 2ms
  shutdown_timeout: 20s
targets:
  up:
    base_url: %q
    timeout_ms: 5000
    retry_matrix:
      "5xx": {attempts: 3, backoff: fixed, base_s: 0.01}
%s
`, upstreamURL, moreTargets)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitReady polls url until it answers 200 (bounded).
func waitReady(t *testing.T, url string, p *proc) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%s not ready at %s:\n%s", p.name, url, tail(p.out.String(), 4000))
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.err, tail(p.out.String(), 4000))
		case <-tick.C:
		}
	}
}

// call sends a JSON request, as the tenant "default" unless headers name
// another key, and decodes the JSON answer.
func call(t *testing.T, client *http.Client, method, url string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	req := newJSONRequest(t, method, url, body)
	req.Header.Set("X-API-Key", testAPIKey)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, out := do(t, client, req)
	if resp == nil {
		return 0, nil
	}
	return resp.StatusCode, out
}

func newJSONRequest(t *testing.T, method, url string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends req and decodes the JSON answer; on a transport error it
// reports it and returns nil.
func do(t *testing.T, client *http.Client, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return nil, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Errorf("%s %s: %d, not JSON: %s", req.Method, req.URL, resp.StatusCode, raw)
	}
	return resp, out
}

// firstLine is the first line a process printed.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
