package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	os.Exit(code)
}

// startProc runs the reliapi binary with args and env, as the tenant
// "default"'s key holder (testAPIKey); the process is killed when the
// test ends.
func startProc(t *testing.T, name string, env []string, args ...string) *testenv.Process {
	t.Helper()
	return testenv.StartReliAPI(t, name, append(append(os.Environ(), "RELIAPI_API_KEY="+testAPIKey), env...), args...)
}

// testAPIKey is the API key of the processes startProc runs (the tenant
// "default"); call sends it.
const testAPIKey = "test-key-of-the-default-tenant"

// terminate sends SIGTERM and fails the test unless p exits cleanly
// within 40 s.
func terminate(t *testing.T, p *testenv.Process) {
	t.Helper()
	if err := p.Terminate(40 * time.Second); err != nil {
		t.Fatalf("%v:\n%s", err, p.Output())
	}
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
