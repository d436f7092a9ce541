package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/httpbin"
)

// Upstream is a fake upstream HTTP server on 127.0.0.1. It serves the
// httpbin handler unless told otherwise: knobs make it slow
// ([Upstream.SetDelay]), fail ([Upstream.SetStatus], [Upstream.FailFirst])
// or answer single paths their own way ([Upstream.Handle],
// [Upstream.Block]). It counts the requests it receives per URL path, in
// total and per key ([Upstream.CountBy]), and the successes of each key,
// so that a test can tell a call that ran twice.
type Upstream struct {
	// URL is the server's base URL, "http://127.0.0.1:PORT", with no
	// trailing slash.
	URL string

	srv  *httptest.Server
	base http.Handler

	delay atomic.Int64 // the time.Duration every request waits (SetDelay)

	mu        sync.Mutex
	key       func(*http.Request) string  // what a request is counted under
	calls     map[string]int              // URL path -> requests received
	total     int                         // requests received on any path
	keyCalls  map[string]int              // key -> requests received
	succeeded map[string]int              // key -> 2xx answers given
	status    int                         // SetStatus's code; 0 when off
	fail      failFirst                   // FailFirst's state
	overrides map[string]http.HandlerFunc // URL path -> handler set with Handle
}

// failFirst is what FailFirst set: the first n requests of each key
// answer status.
type failFirst struct {
	n, status int
	failed    map[string]int // key -> requests failed so far
}

var _ http.Handler = (*Upstream)(nil)

// NewUpstream starts an Upstream for a program that is not a test (the
// benchmark); the caller must call Close.
func NewUpstream() (*Upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the upstream: %w", err)
	}
	u := &Upstream{
		base:      httpbin.New(),
		key:       idempotencyKey,
		calls:     make(map[string]int),
		keyCalls:  make(map[string]int),
		succeeded: make(map[string]int),
		overrides: make(map[string]http.HandlerFunc),
	}
	u.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: u}}
	u.srv.Start()
	u.URL = u.srv.URL
	return u, nil
}

// StartUpstream starts an Upstream and registers a cleanup that closes it.
func StartUpstream(tb testing.TB) *Upstream {
	tb.Helper()
	u, err := NewUpstream()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(u.Close)
	return u
}

// Close stops the server. It first closes client connections, which ends
// every request's context, so that waits and blocked handlers return
// instead of holding Close up.
func (u *Upstream) Close() {
	u.srv.CloseClientConnections()
	u.srv.Close()
}

// idempotencyKey is the key a request is counted under until CountBy
// says otherwise.
func idempotencyKey(r *http.Request) string { return r.Header.Get("Idempotency-Key") }

// ServeHTTP counts r, waits the delay set with SetDelay (returning early
// when the caller goes away), and answers: with the status SetStatus or
// FailFirst set, else with the handler set for r's path, else with the
// httpbin handler. A 2xx answer counts as a success of r's key as soon as
// its status is written.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := u.arrive(r)
	if !pause(r.Context(), time.Duration(u.delay.Load())) {
		return
	}
	rec := &statusRecorder{ResponseWriter: w, onStatus: func(code int) {
		if code >= 200 && code < 300 {
			u.mu.Lock()
			u.succeeded[key]++
			u.mu.Unlock()
		}
	}}
	u.handlerFor(r.URL.Path, key).ServeHTTP(rec, r)
}

// arrive counts r and returns its key.
func (u *Upstream) arrive(r *http.Request) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := u.key(r)
	u.calls[r.URL.Path]++
	u.total++
	u.keyCalls[key]++
	return key
}

// handlerFor picks what answers a request on path with key; a request
// FailFirst fails uses up one of its key's failures.
func (u *Upstream) handlerFor(path, key string) http.Handler {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.status != 0:
		return statusHandler(u.status)
	case u.fail.failed[key] < u.fail.n:
		u.fail.failed[key]++
		return statusHandler(u.fail.status)
	case u.overrides[path] != nil:
		return u.overrides[path]
	default:
		return u.base
	}
}

// statusHandler answers code with a body like httpbin's /status/{code}.
func statusHandler(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d}`, code)
	}
}

// pause waits d and reports true, or reports false as soon as ctx ends:
// a fake upstream stops waiting for a caller that went away, as a real
// server's work would be cut off.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// statusRecorder calls onStatus with the status a handler answers, once,
// before the answer leaves: a caller that has its answer finds it counted.
type statusRecorder struct {
	http.ResponseWriter
	onStatus func(code int)
	written  bool
}

// WriteHeader reports code and passes it on.
func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.written = true
		s.onStatus(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write passes p on; a write without WriteHeader answers 200.
func (s *statusRecorder) Write(p []byte) (int, error) {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
