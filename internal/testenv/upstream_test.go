package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	Eventually(t, 5*time.Second, what, cond)
}

// get requests url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	r, err := (&Client{}).Send(context.Background(), "GET", url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r.Status, string(r.Raw)
}

func TestUpstreamCountsCalls(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	if !strings.HasPrefix(u.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:PORT", u.URL)
	}
	if u.Total() != 0 || u.Calls("/get") != 0 {
		t.Fatalf("a new upstream has calls: total %d, /get %d", u.Total(), u.Calls("/get"))
	}

	code, body := get(t, u.URL+"/get?a=1")
	if code != http.StatusOK {
		t.Fatalf("GET /get = %d, want 200", code)
	}
	var echo struct {
		Method string              `json:"method"`
		Args   map[string][]string `json:"args"`
	}
	if err := json.Unmarshal([]byte(body), &echo); err != nil || echo.Method != "GET" || echo.Args["a"][0] != "1" {
		t.Fatalf("GET /get body = %s (%v), want the httpbin echo", body, err)
	}
	get(t, u.URL+"/get?a=2")
	if code, _ := get(t, u.URL+"/status/503"); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /status/503 = %d, want 503", code)
	}

	tests := []struct {
		path string
		want int
	}{
		{"/get", 2},
		{"/status/503", 1},
		{"/status", 0},
		{"/get?a=1", 0}, // Paths, not URLs, are counted.
		{"/other", 0},
	}
	for _, tt := range tests {
		if got := u.Calls(tt.path); got != tt.want {
			t.Errorf("Calls(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if got := u.Total(); got != 3 {
		t.Errorf("Total() = %d, want 3", got)
	}
}

func TestUpstreamHandle(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	u.Handle("/get", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	if code, body := get(t, u.URL+"/get"); code != http.StatusServiceUnavailable || body != "down\n" {
		t.Fatalf("overridden /get = %d %q, want 503 down", code, body)
	}
	if code, _ := get(t, u.URL+"/uuid"); code != http.StatusOK {
		t.Fatalf("/uuid next to an override = %d, want 200", code)
	}

	u.Handle("/get", nil)
	if code, _ := get(t, u.URL+"/get"); code != http.StatusOK {
		t.Fatalf("/get after removing the override = %d, want 200", code)
	}
	if got := u.Calls("/get"); got != 2 {
		t.Fatalf("Calls(/get) = %d, want 2 (overridden requests count too)", got)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()

	port := FreePort(t)
	if port <= 0 || port > 65535 || port == 6379 {
		t.Fatalf("FreePort() = %d, want a usable port other than 6379", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listening on the free port %d: %v", port, err)
	}
	l.Close()
}

func TestUpstreamDelayStopsWhenTheCallerGoesAway(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	u.SetDelay(time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", u.URL+"/get", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the delayed request to arrive", func() bool { return u.Calls("/get") == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a request delayed by a minute was answered")
	}
	// The server is not held up by the abandoned wait: a new request after
	// SetDelay(0) is answered, and Close (the cleanup) returns.
	u.SetDelay(0)
	if code, _ := get(t, u.URL+"/get"); code != http.StatusOK {
		t.Fatalf("GET /get after SetDelay(0) = %d, want 200", code)
	}
	if got := u.Succeeded(""); got != 1 {
		t.Fatalf("Succeeded = %d, want 1: the abandoned request got no answer", got)
	}
}

func TestUpstreamSetStatusAndFailFirst(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	u.SetStatus(http.StatusServiceUnavailable)
	if code, body := get(t, u.URL+"/get"); code != http.StatusServiceUnavailable || body != `{"status":503}` {
		t.Fatalf("GET /get while down = %d %s, want 503", code, body)
	}
	u.SetStatus(0)

	// Two failures per key: "a" and the unkeyed calls each fail twice.
	u.FailFirst(2, http.StatusTooManyRequests)
	var codes []int
	for _, key := range []string{"a", "a", "", "a", "", ""} {
		req, _ := http.NewRequest("GET", u.URL+"/get", nil)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[429 429 429 200 429 200]" {
		t.Fatalf("answers = %v, want the first two of each key to fail", codes)
	}
	if u.KeyCalls("a") != 3 || u.Succeeded("a") != 1 || u.Succeeded("") != 1 {
		t.Fatalf("key a: %d calls, %d successes; unkeyed: %d successes", u.KeyCalls("a"), u.Succeeded("a"), u.Succeeded(""))
	}
}

func TestUpstreamCountBy(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	u.CountBy(func(r *http.Request) string { return r.URL.Query().Get("phase") })
	u.Handle("/work", Answer(time.Millisecond, `{"ok":true}`))
	for _, phase := range []string{"a", "b", "a"} {
		if code, body := get(t, u.URL+"/work?phase="+phase); code != http.StatusOK || body != `{"ok":true}` {
			t.Fatalf("GET /work = %d %s", code, body)
		}
	}
	get(t, u.URL+"/status/500?phase=b")
	if u.KeyCalls("a") != 2 || u.KeyCalls("b") != 2 || u.Succeeded("b") != 1 {
		t.Fatalf("calls a %d, b %d, b succeeded %d; want 2, 2, 1", u.KeyCalls("a"), u.KeyCalls("b"), u.Succeeded("b"))
	}
	if got := u.Duplicates(); got != 1 {
		t.Fatalf("Duplicates = %d, want 1 (only a succeeded twice)", got)
	}
}

func TestUpstreamBlock(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	arrived, release := u.Block("/slow")
	t.Cleanup(release)
	codes := make(chan int, 1)
	go func() {
		resp, err := http.Get(u.URL + "/slow")
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	<-arrived
	select {
	case code := <-codes:
		t.Fatalf("blocked request answered %d before release", code)
	default:
	}
	release()
	release() // harmless
	select {
	case code := <-codes:
		if code != http.StatusOK || u.Calls("/slow") != 1 {
			t.Fatalf("released request = %d after %d calls, want 200 after 1", code, u.Calls("/slow"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("released request still not answered after 5s")
	}
}

func TestKeyLog(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	var log KeyLog
	u.Handle("/keyed", log.Handler(map[string]int{"sk-a": 429, "sk-b": 401}))
	for _, key := range []string{"sk-a", "sk-b", "sk-c"} {
		req, _ := http.NewRequest("GET", u.URL+"/keyed", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if key == "sk-a" && (resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2") ||
			key == "sk-b" && resp.StatusCode != 401 ||
			key == "sk-c" && (resp.StatusCode != 200 || string(body) != `{"key":"sk-c"}`) {
			t.Errorf("%s: %d %v %s", key, resp.StatusCode, resp.Header, body)
		}
	}
	calls := log.Calls()
	if len(calls) != 3 || calls[0].Key != "sk-a" || calls[2].Status != 200 {
		t.Fatalf("calls = %+v", calls)
	}
	if len(log.Of("sk-a")) != 1 || len(log.Refusals("sk-a")) != 1 || len(log.Refusals("sk-c")) != 0 {
		t.Fatalf("sk-a: %v calls, %v refusals; sk-c: %v refusals", log.Of("sk-a"), log.Refusals("sk-a"), log.Refusals("sk-c"))
	}
}
