package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestTenantLimitAcrossAPIs sends a burst of 200 calls of a tenant limited
// to 60 a minute over two api processes: exactly 60 are accepted, and every
// other one is 429 with a Retry-After that says when the minute has room.
func TestTenantLimitAcrossAPIs(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	c := startCluster(t, 2, 1, func(cfg *testenv.Config) {
		cfg.Tenants = map[string]testenv.Section{
			"limited": {"tier": "pro", "limits": "{rpm: 60, burst: 0}", "api_keys": `[{key: "${LIMITED_KEY}"}]`},
		}
	}, "LIMITED_KEY=limited-tenant-key")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	const n = 200
	statuses := make([]int, n)
	retryAfter := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var code string
			// A path of its own: a call the cache answered would be a 200.
			body := map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/get?n=%d", i)}
			statuses[i], code, retryAfter[i] = limitedCall(t, client, c.apis[i%2]+"/v1/proxy/http", body)
			if statuses[i] == 429 && code != "RATE_LIMIT_EXCEEDED" {
				t.Errorf("call %d: 429 with code %s", i, code)
			}
		})
	}
	wg.Wait()
	accepted := 0
	for i, s := range statuses {
		switch s {
		case 202:
			accepted++
		case 429:
			// The burst takes a few seconds at most: the first accepted call
			// leaves the window 55 to 60 s later.
			if ra, err := strconv.Atoi(retryAfter[i]); err != nil || ra < 45 || ra > 60 {
				t.Errorf("call %d: Retry-After %q, want the time left in the minute", i, retryAfter[i])
			}
		default:
			t.Errorf("call %d: status %d", i, s)
		}
	}
	if accepted != 60 {
		t.Fatalf("accepted %d of %d calls, want exactly 60", accepted, n)
	}
}

// limitedCall submits one async call as the tenant "limited".
func limitedCall(t *testing.T, client *http.Client, url string, body any) (status int, code, retryAfter string) {
	t.Helper()
	r := (&testenv.Client{APIKey: "limited-tenant-key", HTTP: client}).Call(t, "POST", url, body, "Prefer", "respond-async")
	if e, ok := r.Body["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
	}
	return r.Status, code, r.Header.Get("Retry-After")
}
