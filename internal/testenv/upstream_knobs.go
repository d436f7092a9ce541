package testenv

import (
	"net/http"
	"sync"
	"time"
)

// CountBy sets what a request is counted under for KeyCalls, Succeeded,
// Duplicates and FailFirst: key(r). Until it is called, that is the
// request's Idempotency-Key header. Call it before the requests it should
// count arrive.
func (u *Upstream) CountBy(key func(*http.Request) string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.key = key
}

// SetDelay makes every later request wait d before it is answered, as a
// slow upstream would; 0 answers at once again. A request whose caller
// goes away stops waiting and gets no answer.
func (u *Upstream) SetDelay(d time.Duration) {
	u.delay.Store(int64(d))
}

// SetStatus makes every later request answer code, whatever its path,
// until SetStatus(0): an upstream that is down, for instance.
func (u *Upstream) SetStatus(code int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status = code
}

// FailFirst makes the first n requests of each key from now on answer
// status; later ones are answered as usual. Requests without a key share
// the key "", so without CountBy it fails the first n requests that carry
// no Idempotency-Key.
func (u *Upstream) FailFirst(n, status int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fail = failFirst{n: n, status: status, failed: make(map[string]int)}
}

// Handle makes h answer every later request whose URL path equals path,
// instead of the httpbin handler; for example to always answer 503, or to
// block until a channel closes. A nil h removes the override. Requests are
// still counted, and still wait the delay set with SetDelay first.
func (u *Upstream) Handle(path string, h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if h == nil {
		delete(u.overrides, path)
		return
	}
	u.overrides[path] = h
}

// Block makes requests on path wait until release is called, then answer
// 200 {"released":true}; each request signals arrived when it comes in.
// A request whose caller goes away returns without an answer. release may
// be called more than once; a test that may end with requests still
// blocked should call it in a cleanup.
func (u *Upstream) Block(path string) (arrived <-chan struct{}, release func()) {
	in := make(chan struct{}, 100)
	gate := make(chan struct{})
	var once sync.Once
	u.Handle(path, func(w http.ResponseWriter, r *http.Request) {
		select {
		case in <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		select {
		case <-gate:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"released":true}`))
		case <-r.Context().Done():
		}
	})
	return in, func() { once.Do(func() { close(gate) }) }
}

// Answer returns a handler that takes d to answer, as real calls take a
// moment, and then answers 200 with the JSON body; it answers nothing if
// the caller goes away first.
func Answer(d time.Duration, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !pause(r.Context(), d) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}
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

// KeyCalls returns the number of requests received so far under key (see
// CountBy), whatever they were answered.
func (u *Upstream) KeyCalls(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.keyCalls[key]
}

// Succeeded returns how many requests under key were answered with a 2xx
// status so far.
func (u *Upstream) Succeeded(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.succeeded[key]
}

// Duplicates returns how many keys other than "" succeeded more than once:
// with idempotency keys, the calls that ran twice at the upstream.
func (u *Upstream) Duplicates() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for key, c := range u.succeeded {
		if key != "" && c > 1 {
			n++
		}
	}
	return n
}
