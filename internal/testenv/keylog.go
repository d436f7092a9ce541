package testenv

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// KeyCall is one call a KeyLog answered.
type KeyCall struct {
	// Key is the bearer token the call carried in Authorization.
	Key string
	// At is when the call arrived.
	At time.Time
	// Status is what it was answered.
	Status int
}

// KeyLog plays a provider that knows its callers by API key: its handler
// answers each call according to the bearer token it carries, and the log
// keeps every call, so that tests of key pools can see which key was used
// when. The zero value is ready to use.
type KeyLog struct {
	mu    sync.Mutex
	calls []KeyCall
}

// Handler returns a handler that answers a call with the status
// behaviour maps its key to: 429 comes with Retry-After: 2, as a rate
// limit would; a key not in behaviour (or mapped to 200) gets 200
// {"key": KEY}. Use it with Upstream.Handle.
func (k *KeyLog) Handler(behaviour map[string]int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		status := behaviour[key]
		if status == 0 {
			status = http.StatusOK
		}
		k.mu.Lock()
		k.calls = append(k.calls, KeyCall{Key: key, At: time.Now(), Status: status})
		k.mu.Unlock()
		switch status {
		case http.StatusOK:
			body, _ := json.Marshal(map[string]string{"key": key})
			w.Write(body)
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(status)
		default:
			w.WriteHeader(status)
		}
	}
}

// Calls returns every call so far, in the order they arrived.
func (k *KeyLog) Calls() []KeyCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]KeyCall(nil), k.calls...)
}

// Of returns when the calls with key arrived, in order.
func (k *KeyLog) Of(key string) []time.Time {
	return k.times(func(c KeyCall) bool { return c.Key == key })
}

// Refusals returns when the calls with key that were answered other than
// 200 arrived, in order.
func (k *KeyLog) Refusals(key string) []time.Time {
	return k.times(func(c KeyCall) bool { return c.Key == key && c.Status != http.StatusOK })
}

// times returns the arrival times of the calls that match.
func (k *KeyLog) times(match func(KeyCall) bool) []time.Time {
	var out []time.Time
	for _, c := range k.Calls() {
		if match(c) {
			out = append(out, c.At)
		}
	}
	return out
}
