package api_test

import (
	"net/http"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	preflight := func(s *stack, origin string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("OPTIONS", s.url+"/v1/proxy/http", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		// As browsers send it: lower-case, sorted, no spaces.
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-api-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	listed := newStack(t, stackOptions{noWorker: true, serverYAML: "cors_origins: [\"https://app.example.com\"]"})
	h := preflight(listed, "https://app.example.com")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("listed origin: %v", h)
	}
	if h := preflight(listed, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unlisted origin allowed: %v", h)
	}
	r := listed.do("GET", "/healthz", nil, "Origin", "https://app.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.header.Get("Access-Control-Expose-Headers") == "" {
		t.Errorf("simple request: %v", r.header)
	}

	any := newStack(t, stackOptions{noWorker: true, serverYAML: "cors_origins: [\"*\"]"})
	if h := preflight(any, "https://anyone.example"); h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("\"*\": %v (never with credentials)", h)
	}

	none := newStack(t, stackOptions{noWorker: true})
	if h := preflight(none, "https://app.example.com"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origins configured: %v", h)
	}
}
