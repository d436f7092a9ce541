package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// upstreamBody is the small JSON answer of GET /get.
var upstreamBody = []byte(`{"ok":true,"service":"bench-upstream"}`)

// upstream is the local HTTP server that every call ends at. It answers
// GET /get at once, or after the "delay" query parameter's duration, and
// counts the calls per "phase" query parameter, so a phase can check that
// each of its requests reached it exactly once.
type upstream struct {
	url string
	srv *http.Server

	mu   sync.Mutex
	hits map[string]int
}

func startUpstream() (*upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{url: "http://" + l.Addr().String(), hits: make(map[string]int)}
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 5 * time.Second}
	go u.srv.Serve(l)
	return u, nil
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/get" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	u.mu.Lock()
	u.hits[q.Get("phase")]++
	u.mu.Unlock()
	if d, err := time.ParseDuration(q.Get("delay")); err == nil && d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(upstreamBody)
}

// calls returns how many GET /get?phase=phase calls arrived so far.
func (u *upstream) calls(phase string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[phase]
}

func (u *upstream) close() { u.srv.Close() }
