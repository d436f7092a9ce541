package chaos_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream answers 200 after a short delay, or 503 while failing; it
// counts calls and the successes of each idempotency key.
type upstream struct {
	url     string
	failing atomic.Bool
	delay   atomic.Int64 // extra latency in ns, while a spike lasts
	calls   atomic.Int64
	mu      sync.Mutex
	ok      map[string]int // successful calls by Idempotency-Key
	tries   map[string]int // calls by X-Call, a scenario's own call ID
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{ok: map[string]int{}, tries: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		if id := r.Header.Get("X-Call"); id != "" {
			u.mu.Lock()
			u.tries[id]++
			u.mu.Unlock()
		}
		if d := time.Duration(u.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if u.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select { // a call takes a moment, as real ones do
		case <-time.After(2 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			u.mu.Lock()
			u.ok[k]++
			u.mu.Unlock()
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

// duplicates counts keys that succeeded at the upstream more than once.
func (u *upstream) duplicates() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.ok {
		if c > 1 {
			n++
		}
	}
	return n
}

// triesOf is how many times the call with X-Call id reached the upstream.
func (u *upstream) triesOf(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tries[id]
}

// succeeded is how many times the call with Idempotency-Key key
// succeeded at the upstream.
func (u *upstream) succeeded(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ok[key]
}
