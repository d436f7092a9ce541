package httpbin

import (
	"net/http"
	"strconv"
	"sync"
)

// flaky holds the per-key call counters behind /flaky.
type flaky struct {
	mu    sync.Mutex
	calls map[string]int // key -> calls so far; at most maxFlakyKeys entries
}

// next counts one more call for key and returns its 1-based number.
func (f *flaky) next(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.calls[key]; !ok && len(f.calls) >= maxFlakyKeys {
		for k := range f.calls { // Evict an arbitrary key to stay bounded.
			delete(f.calls, k)
			break
		}
	}
	f.calls[key]++
	return f.calls[key]
}

func (f *flaky) handle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := 0
	if v := q.Get("fail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "fail must be a non-negative integer")
			return
		}
		fail = n
	}
	call := f.next(q.Get("key"))
	if call <= fail {
		if v := q.Get("retry_after"); v != "" {
			w.Header().Set("Retry-After", v)
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "flaky", "call": call})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "call": call})
}
