package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/reliapi/reliapi/internal/httpbin"
)

// Upstream is a fake upstream HTTP server on 127.0.0.1 that serves the
// httpbin handler, counts the requests it receives per URL path and lets a
// test override the behaviour of single paths.
type Upstream struct {
	// URL is the server's base URL, "http://127.0.0.1:PORT", with no
	// trailing slash.
	URL string

	srv  *httptest.Server
	base http.Handler

	mu        sync.Mutex
	calls     map[string]int              // URL path -> requests received
	total     int                         // requests received on any path
	overrides map[string]http.HandlerFunc // URL path -> handler set with Handle
}

var _ http.Handler = (*Upstream)(nil)

// StartUpstream starts an Upstream and registers a cleanup that closes it.
// The cleanup first closes client connections, so handlers set with Handle
// that block should also return when the request's context is done.
func StartUpstream(tb testing.TB) *Upstream {
	tb.Helper()
	u := &Upstream{
		base:      httpbin.New(),
		calls:     make(map[string]int),
		overrides: make(map[string]http.HandlerFunc),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: listening for the upstream: %v", err)
	}
	u.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: u}}
	u.srv.Start()
	u.URL = u.srv.URL
	tb.Cleanup(func() {
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
	return u
}

// ServeHTTP counts r and answers it with the handler set for its path, or
// with the httpbin handler when none is set.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.calls[r.URL.Path]++
	u.total++
	h := u.overrides[r.URL.Path]
	u.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	u.base.ServeHTTP(w, r)
}

// Calls returns the number of requests received so far whose URL path
// equals path exactly (the query is ignored). A request counts as soon as it
// arrives, before it is answered.
func (u *Upstream) Calls(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[path]
}

// Total returns the number of requests received so far on any path.
func (u *Upstream) Total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.total
}

// Handle makes h answer every later request whose URL path equals path,
// instead of the httpbin handler; for example to always answer 503, or to
// block until a channel closes. A nil h removes the override. Requests are
// still counted.
func (u *Upstream) Handle(path string, h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if h == nil {
		delete(u.overrides, path)
		return
	}
	u.overrides[path] = h
}
