package testenv

import (
	"encoding/json"
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
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
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

func TestUpstreamHandleBlocks(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	release := make(chan struct{})
	u.Handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			w.WriteHeader(http.StatusAccepted)
		case <-r.Context().Done():
		}
	})
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

	waitFor(t, "the upstream to receive /slow", func() bool { return u.Calls("/slow") == 1 })
	select {
	case code := <-codes:
		t.Fatalf("blocked request answered %d before release", code)
	default:
	}
	close(release)
	select {
	case code := <-codes:
		if code != http.StatusAccepted {
			t.Fatalf("released request = %d, want 202", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("released request still not answered after 5s")
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
