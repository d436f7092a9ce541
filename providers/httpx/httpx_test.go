package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/httpx"
)

func target(t *testing.T, h http.HandlerFunc) httpx.Target {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/base")
	return httpx.Target{Name: "test", BaseURL: u, Timeout: 5 * time.Second}
}

func TestDoSuccessShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantBody string
	}{
		{"json", 200, `{"ok":true}`, `{"ok":true}`},
		{"text", 200, `hello`, `{"raw":"hello"}`},
		{"empty", 204, ``, `null`},
		{"upstream 404 is a result", 404, `{"error":"nope"}`, `{"error":"nope"}`},
		{"redirect is not followed", 302, ``, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := target(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.status == 302 {
					w.Header().Set("Location", "http://169.254.169.254/")
				}
				w.Header().Set("X-Upstream", "yes")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			resp, err := httpx.New(httpx.Config{}).Do(context.Background(), tg, httpx.Request{Method: "GET", Path: "/x"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || string(resp.Body) != tt.wantBody || resp.Headers["X-Upstream"] != "yes" {
				t.Fatalf("got %d %s %v", resp.StatusCode, resp.Body, resp.Headers)
			}
		})
	}
}

func TestDoSendsWhatItShould(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var gotBody string
	tg := target(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret-hop")
		w.Write([]byte(`{}`))
	})
	tg.Headers = map[string]string{"Authorization": "Bearer target-secret"}
	resp, err := httpx.New(httpx.Config{}).Do(context.Background(), tg, httpx.Request{
		Method: "POST", Path: "/charge?x=1", Query: url.Values{"y": {"2"}},
		Headers: map[string]string{
			"Authorization": "Bearer client", "Connection": "X-Drop", "X-Drop": "1",
			"Keep-Alive": "timeout=5", "X-Keep": "kept", "Host": "evil.com",
		},
		Body: []byte(`{"amount":1}`), IdempotencyKey: "idem-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"path":            {got.URL.Path, "/base/charge"},
		"query":           {got.URL.RawQuery, "x=1&y=2"},
		"auth overridden": {got.Header.Get("Authorization"), "Bearer target-secret"},
		"idempotency key": {got.Header.Get("Idempotency-Key"), "idem-1"},
		"custom header":   {got.Header.Get("X-Keep"), "kept"},
		"named hop":       {got.Header.Get("X-Drop"), ""},
		"keep-alive":      {got.Header.Get("Keep-Alive"), ""},
		"body":            {gotBody, `{"amount":1}`},
		"response hop":    {resp.Headers["X-Internal"], ""},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if got.Host == "evil.com" {
		t.Error("client Host header reached the upstream")
	}
}

func TestDoErrors(t *testing.T) {
	t.Parallel()
	refused := func() httpx.Target {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		u, _ := url.Parse("http://" + addr)
		return httpx.Target{BaseURL: u, Timeout: 5 * time.Second}
	}
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	tests := []struct {
		name       string
		target     func(t *testing.T) httpx.Target
		path       string
		wantCode   reliapi.Code
		wantStatus int
		wantRA     time.Duration
		wantClass  reliapi.Class
	}{
		{"503", func(t *testing.T) httpx.Target {
			return target(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
		}, "/", reliapi.CodeServerError, 503, 0, reliapi.ClassServer},
		{"429 with retry-after", func(t *testing.T) httpx.Target {
			return target(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(429)
			})
		}, "/", reliapi.CodeClientError, 429, 2 * time.Second, reliapi.ClassRateLimited},
		{"refused", func(t *testing.T) httpx.Target { return refused() }, "/", reliapi.CodeNetworkError, 0, 0, reliapi.ClassNetwork},
		{"timeout", func(t *testing.T) httpx.Target {
			tg := target(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-block:
				case <-r.Context().Done():
				}
			})
			tg.Timeout = 50 * time.Millisecond
			return tg
		}, "/", reliapi.CodeTimeout, 0, 0, reliapi.ClassTimeout},
		{"too large", func(t *testing.T) httpx.Target {
			return target(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 2048))) })
		}, "/", reliapi.CodeResultTooLarge, 0, 0, reliapi.ClassPermanent},
		{"unsafe path", func(t *testing.T) httpx.Target {
			return target(t, func(w http.ResponseWriter, r *http.Request) { t.Error("upstream called") })
		}, "//evil.com", reliapi.CodeInvalidRequest, 0, 0, reliapi.ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := httpx.New(httpx.Config{MaxBodyBytes: 1024})
			_, err := c.Do(context.Background(), tt.target(t), httpx.Request{Method: "GET", Path: tt.path})
			var e *reliapi.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *reliapi.Error", err)
			}
			if e.Code != tt.wantCode || e.UpstreamStatus != tt.wantStatus || e.RetryAfter != tt.wantRA || reliapi.Classify(err) != tt.wantClass {
				t.Fatalf("got %+v class %q", e, reliapi.Classify(err))
			}
			if strings.Contains(e.Message, "127.0.0.1") {
				t.Errorf("message leaks an address: %q", e.Message)
			}
		})
	}
}

func TestDoReturnsContextErrorWhenCanceled(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	tg := target(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := httpx.New(httpx.Config{}).Do(ctx, tg, httpx.Request{Method: "GET", Path: "/"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUpstreamBodyInErrorDetails(t *testing.T) {
	t.Parallel()
	tg := target(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte(`{"error":"db down"}`))
	})
	_, err := httpx.New(httpx.Config{}).Do(context.Background(), tg, httpx.Request{Method: "GET", Path: "/"})
	var e *reliapi.Error
	errors.As(err, &e)
	b, _ := json.Marshal(e.Details["body"])
	if string(b) != `{"error":"db down"}` {
		t.Fatalf("details body = %s", b)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := httpx.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestStream: a 2xx answer comes back open and is read as it arrives,
// however long it takes in all, as long as it never stays silent longer
// than the target's timeout; then the read fails with TIMEOUT. An error
// answer is read whole and coded like Do's.
func TestStream(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	tg := target(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "fail":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":"down"}`))
			return
		case "stall":
			w.Write([]byte("data: first\n\n"))
			w.(http.Flusher).Flush()
			select {
			case <-stall:
			case <-r.Context().Done():
			}
			return
		}
		// Four pieces 0.1 s apart: 0.4 s in all, longer than the timeout.
		for i := range 4 {
			if i > 0 {
				select { // the upstream's pace, not a wait in the test
				case <-time.After(timeout / 3):
				case <-r.Context().Done():
					return
				}
			}
			w.Write([]byte("data: piece\n\n"))
			w.(http.Flusher).Flush()
		}
	})
	tg.Timeout = timeout
	c := httpx.New(httpx.Config{})
	stream := func(mode string) (*http.Response, *reliapi.HTTPResponse, error) {
		return c.Stream(context.Background(), tg, httpx.Request{Method: "GET", Path: "/", Query: url.Values{"mode": {mode}}})
	}

	live, whole, err := stream("slow")
	if err != nil || whole != nil {
		t.Fatalf("slow stream: %v %v", whole, err)
	}
	body, err := io.ReadAll(live.Body)
	live.Body.Close()
	if err != nil || strings.Count(string(body), "piece") != 4 {
		t.Fatalf("slow stream: %q %v", body, err)
	}

	live, _, err = stream("stall")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(live.Body)
	live.Body.Close()
	var e *reliapi.Error
	if !errors.As(err, &e) || e.Code != reliapi.CodeTimeout || reliapi.Classify(err) != reliapi.ClassTimeout {
		t.Fatalf("stalled stream: %v", err)
	}

	live, _, err = stream("fail")
	if live != nil || !errors.As(err, &e) || e.Code != reliapi.CodeServerError || e.UpstreamStatus != 503 || e.RetryAfter != time.Second {
		t.Fatalf("failed stream: %v %v", live, err)
	}
}

// TestStreamAnsweredWhole: a 2xx answer to a streamed request that is one
// document (its type says JSON, or it begins as JSON or markup does, or it
// is empty) is read whole and returned as Do returns it; one that begins
// as events streams whatever its type says.
func TestStreamAnsweredWhole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, contentType, body string
		whole                   string // the whole answer's body; "" for a stream
	}{
		{"json", "application/json", `{"choices":[]}`, `{"choices":[]}`},
		{"json with a charset", "application/json; charset=utf-8", `  {"a":1}`, `  {"a":1}`},
		{"json typed as events", "text/event-stream", "\n {\"a\":1}", "\n {\"a\":1}"},
		{"problem json", "application/problem+json", `{"title":"x"}`, `{"title":"x"}`},
		{"an html page", "text/html", "<html>Bad gateway</html>", `{"raw":"\u003chtml\u003eBad gateway\u003c/html\u003e"}`},
		{"empty", "", "", "null"},
		{"events", "text/event-stream", "data: x\n\n", ""},
		{"events typed as text", "text/plain", ": comment\ndata: x\n\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := target(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.Write([]byte(tt.body))
			})
			live, whole, err := httpx.New(httpx.Config{}).Stream(context.Background(), tg, httpx.Request{Method: "POST", Path: "/"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.whole == "" {
				if whole != nil || live == nil {
					t.Fatalf("not a stream: %+v", whole)
				}
				got, _ := io.ReadAll(live.Body)
				live.Body.Close()
				if string(got) != tt.body {
					t.Fatalf("stream read %q, want %q", got, tt.body)
				}
				return
			}
			if live != nil || whole == nil || whole.StatusCode != 200 || string(whole.Body) != tt.whole {
				t.Fatalf("live %v, whole %+v, want body %s", live, whole, tt.whole)
			}
		})
	}
}

func TestRateLimitReset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"openai, requests left", map[string]string{
			"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s",
			"x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6m0s"}, 0},
		{"openai, requests used up", map[string]string{
			"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30.5s",
			"x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6m0s"}, 90500 * time.Millisecond},
		{"openai, both used up: the longer", map[string]string{
			"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20ms",
			"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}, 6 * time.Minute},
		{"anthropic", map[string]string{
			"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2026-11-27T12:00:42Z",
			"anthropic-ratelimit-tokens-remaining": "1000", "anthropic-ratelimit-tokens-reset": "2026-11-27T12:05:00Z"}, 42 * time.Second},
		{"ietf draft", map[string]string{"ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": "7"}, 7 * time.Second},
		{"used up, reset unreadable", map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon"}, 0},
		{"reset capped", map[string]string{"ratelimit-remaining": "0", "ratelimit-reset": "99999999"}, 24 * time.Hour},
		{"none", map[string]string{"content-type": "application/json"}, 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.headers {
			h.Set(k, v)
		}
		if got := httpx.RateLimitReset(h, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}

	// A 429 without Retry-After waits for the exhausted window instead.
	tg := target(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
		w.Header().Set("X-Ratelimit-Reset-Requests", "3s")
		w.WriteHeader(429)
	})
	_, err := httpx.New(httpx.Config{}).Do(context.Background(), tg, httpx.Request{Method: "GET", Path: "/"})
	var e *reliapi.Error
	if !errors.As(err, &e) || e.RetryAfter != 3*time.Second {
		t.Fatalf("429 without Retry-After: %v", err)
	}
}

// FuzzParseRetryAfter: any header value gives a wait of 0 or more, never a
// panic.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, seed := range []string{"", "2", "0.5", "-1", "1e9", "NaN", "Inf", "0x10", now.Add(time.Hour).Format(http.TimeFormat), "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := httpx.ParseRetryAfter(v, now); d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}
