package main

import (
	"net/http"
	"os"
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

// fleetConfig is testenv's fleet config with the target "up" as these
// tests use it: 5 s per attempt, three tries on a 5xx.
func fleetConfig(upstreamURL string) testenv.Config {
	cfg := testenv.FleetConfig(upstreamURL)
	cfg.Worker["shutdown_timeout"] = "20s"
	cfg.Targets["up"]["timeout_ms"] = "5000"
	cfg.Targets["up"]["retry_matrix"] = `{"5xx": {attempts: 3, backoff: fixed, base_s: 0.01}}`
	return cfg
}

// call sends a JSON request, as the tenant "default" unless headers name
// another key, and returns the answer's status and decoded body. No
// answer (status 0), or one that is not JSON, is an error of the test.
func call(t *testing.T, client *http.Client, method, url string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	r := (&testenv.Client{APIKey: testAPIKey, HTTP: client}).Call(t, method, url, body, headers...)
	return r.Status, r.Body
}

// firstLine is the first line a process printed.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
