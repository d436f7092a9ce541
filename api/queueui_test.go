package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestQueueUI: the asynq web UI answers behind the admin key (as a Basic
// auth password for browsers), and shows tasks without their requests.
func TestQueueUI(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, authYAML: tenantsYAML})
	job := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get",
		"headers": map[string]any{"Authorization": "Bearer callers-own-upstream-token"}}, "X-API-Key", "key-a", "Prefer", "respond-async")
	if job.status != 202 {
		t.Fatalf("submit: %d %s", job.status, job.raw)
	}
	get := func(path, user, password string) (int, http.Header, string) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", s.url+path, nil)
		if password != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, resp.Header, b.String()
	}
	if code, h, _ := get("/admin/queues/", "", ""); code != 401 || !strings.Contains(strings.Join(h.Values("WWW-Authenticate"), " "), "Basic") {
		t.Errorf("without the key: %d %v", code, h)
	}
	if code, _, _ := get("/admin/queues/", "ops", "key-a"); code != 403 {
		t.Errorf("with a tenant key: %d", code)
	}
	if code, _, body := get("/admin/queues/", "ops", "admin-key"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("the UI: %d %.200s", code, body)
	} else if strings.Contains(body, "https://") || !strings.Contains(body, "/admin/queues/static/js/") {
		t.Errorf("the UI's page must load only its own files (it works offline): %s", body)
	}
	// A queued job's task waits as scheduled: the fallback of its wake-up
	// lane entry (see package lane).
	code, _, body := get("/admin/queues/api/queues/async/scheduled_tasks", "ops", "admin-key")
	if code != 200 || !strings.Contains(body, job.body["id"].(string)) {
		t.Fatalf("the UI's task list: %d %.500s", code, body)
	}
	if strings.Contains(body, "callers-own-upstream-token") {
		t.Errorf("the UI shows a task's headers: %.500s", body)
	}
	// Read-only: pausing a queue is refused.
	req, _ := http.NewRequest("POST", s.url+"/admin/queues/api/queues/async:pause", nil)
	req.SetBasicAuth("ops", "admin-key")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode < 400 {
		t.Errorf("pausing a queue through the read-only UI: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	if code, _, _ := get("/admin/queues", "", ""); code != 302 {
		t.Errorf("/admin/queues: %d, want a redirect to /admin/queues/", code)
	}
}
