package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputIsAClear4xx: oversized and malformed pieces of a request
// each get a 4xx in the envelope that says what is wrong.
func TestBadInputIsAClear4xx(t *testing.T) {
	t.Parallel()
	s, _ := llmStack(t)
	call := func(over map[string]any) map[string]any {
		b := map[string]any{"target": "up", "method": "GET", "path": "/get"}
		for k, v := range over {
			b[k] = v
		}
		return b
	}
	many := func(n int, f func(i int) (string, any)) map[string]any {
		m := map[string]any{}
		for i := range n {
			k, v := f(i)
			m[k] = v
		}
		return m
	}
	messages := make([]map[string]string, 1025)
	for i := range messages {
		messages[i] = map[string]string{"role": "user", "content": "hi"}
	}
	deep := strings.Repeat("[", 65) + strings.Repeat("]", 65)
	for _, tt := range []struct {
		name, route string
		body        any
		status      int
		code, says  string
	}{
		{"long target", "/v1/proxy/http", call(map[string]any{"target": strings.Repeat("t", 65)}), 400, "INVALID_REQUEST", `"target" is longer than 64`},
		{"long path", "/v1/proxy/http", call(map[string]any{"path": "/" + strings.Repeat("p", 9000)}), 400, "INVALID_REQUEST", `"path" is longer`},
		{"many headers", "/v1/proxy/http", call(map[string]any{"headers": many(65, func(i int) (string, any) { return fmt.Sprintf("X-H%d", i), "v" })}), 400, "INVALID_REQUEST", `"headers" is too large`},
		{"large header", "/v1/proxy/http", call(map[string]any{"headers": map[string]any{"X-Big": strings.Repeat("v", 17<<10)}}), 400, "INVALID_REQUEST", `"headers" is too large`},
		{"many query params", "/v1/proxy/http", call(map[string]any{"query": many(257, func(i int) (string, any) { return fmt.Sprint("q", i), i })}), 400, "INVALID_REQUEST", `more than 256 parameters`},
		{"deep body", "/v1/proxy/http", `{"target":"up","method":"POST","path":"/post","body":` + deep + `}`, 400, "INVALID_REQUEST", "nests deeper than 64"},
		{"deep chat body (OpenAI error shape)", "/v1/chat/completions", `{"model":"oai","messages":[],"x":` + deep + `}`, 400, "invalid_request", "nests deeper than 64"},
		{"long model", "/v1/proxy/llm", map[string]any{"target": "oai", "model": strings.Repeat("m", 257), "messages": messages[:1]}, 400, "INVALID_REQUEST", `"model" is longer than 256`},
		{"many messages", "/v1/proxy/llm", map[string]any{"target": "oai", "messages": messages}, 400, "INVALID_REQUEST", "more than 1024 messages"},
		{"long webhook URL", "/v1/proxy/http", call(map[string]any{"webhook": map[string]any{"url": "https://example.com/" + strings.Repeat("w", 2100)}}), 400, "INVALID_WEBHOOK_URL", "longer than 2048"},
		{"unknown field", "/v1/proxy/http", call(map[string]any{"tagret": "up"}), 400, "INVALID_REQUEST", `"tagret"`},
		{"method", "/v1/proxy/http", call(map[string]any{"method": "TRACE"}), 400, "INVALID_REQUEST", "must be one of"},
	} {
		r := s.do("POST", tt.route, tt.body)
		msg, _ := get(r.body, "error", "message").(string)
		if r.status != tt.status || get(r.body, "error", "code") != tt.code || !strings.Contains(msg, tt.says) {
			t.Errorf("%s: %d %.300s", tt.name, r.status, r.raw)
		}
	}

	// Headers of the request itself.
	var headers []string
	for i := range 101 {
		headers = append(headers, fmt.Sprintf("X-Extra-%d", i), "v")
	}
	for name, h := range map[string][]string{"101 headers": headers, "a 40 KiB header": {"X-Big", strings.Repeat("v", 40<<10)}} {
		r := s.do("POST", "/v1/proxy/http", call(nil), h...)
		if r.status != http.StatusRequestHeaderFieldsTooLarge || get(r.body, "error", "code") != "REQUEST_HEADERS_TOO_LARGE" {
			t.Errorf("%s: %d %.300s", name, r.status, r.raw)
		}
	}
	// A bracket inside a string is not nesting.
	if r := s.do("POST", "/v1/proxy/http", call(map[string]any{"method": "POST", "path": "/anything", "body": map[string]any{"s": deep}})); r.status != 200 {
		t.Errorf("brackets in a string: %d %.300s", r.status, r.raw)
	}
}
