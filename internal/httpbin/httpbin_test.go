package httpbin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve sends req to h through a recorder, checks the Content-Type and
// returns the recorder.
func serve(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Fatalf("%s %s: Content-Type = %q, want application/json", req.Method, req.URL, got)
	}
	return rec
}

// decode parses rec's body as a JSON object.
func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("decoding body %q: %v", rec.Body.String(), err)
	}
	return m
}

func TestEcho(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		want        map[string]any // expected top-level fields, compared after a JSON round trip
		absent      []string       // fields that must not be present
	}{
		{
			name:   "get with repeated args",
			method: http.MethodGet,
			target: "/get?a=1&a=2&b=x",
			want: map[string]any{
				"method": "GET",
				"url":    "http://example.com/get?a=1&a=2&b=x",
				"args":   map[string]any{"a": []any{"1", "2"}, "b": []any{"x"}},
				"origin": "192.0.2.1",
			},
			absent: []string{"body", "json", "delay_ms"},
		},
		{
			name:   "get with any method and no args",
			method: http.MethodDelete,
			target: "/get",
			want:   map[string]any{"method": "DELETE", "args": map[string]any{}},
			absent: []string{"body", "json"},
		},
		{
			name:        "anything with json body",
			method:      http.MethodPost,
			target:      "/anything?q=1",
			contentType: "application/json",
			body:        `{"n":1,"s":["a","b"]}`,
			want: map[string]any{
				"method": "POST",
				"url":    "http://example.com/anything?q=1",
				"args":   map[string]any{"q": []any{"1"}},
				"body":   `{"n":1,"s":["a","b"]}`,
				"json":   map[string]any{"n": 1.0, "s": []any{"a", "b"}},
			},
		},
		{
			name:   "anything with a deeper path and a text body",
			method: http.MethodPut,
			target: "/anything/a/b/c",
			body:   "plain text",
			want: map[string]any{
				"method": "PUT",
				"url":    "http://example.com/anything/a/b/c",
				"body":   "plain text",
				"json":   nil,
			},
		},
		{
			name:   "anything without a body",
			method: http.MethodGet,
			target: "/anything/",
			want:   map[string]any{"body": "", "json": nil},
		},
	}
	h := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			req.Header.Set("X-Test", "one")
			req.Header.Add("X-Test", "two")
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := serve(t, h, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			got := decode(t, rec)
			for k, want := range tt.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s present (%#v), want absent", k, got[k])
				}
			}
			hdrs, _ := got["headers"].(map[string]any)
			if hdrs["X-Test"] != "one, two" || hdrs["Host"] != "example.com" {
				t.Errorf("headers = %#v, want X-Test %q and Host %q", hdrs, "one, two", "example.com")
			}
		})
	}
}

func TestEchoHeadHasNoBody(t *testing.T) {
	t.Parallel()

	srv := httptest.NewServer(New())
	t.Cleanup(srv.Close)
	resp, err := http.Head(srv.URL + "/get")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD /get = %d with %d body bytes, want 200 and none", resp.StatusCode, len(body))
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", got)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()

	body := strings.NewReader(strings.Repeat("x", MaxBodyBytes+1))
	rec := serve(t, New(), httptest.NewRequest(http.MethodPost, "/anything", body))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", rec.Code)
	}
	if got := decode(t, rec)["error"]; got != "request body too large" {
		t.Fatalf("error = %v", got)
	}

	body = strings.NewReader(strings.Repeat("x", MaxBodyBytes))
	rec = serve(t, New(), httptest.NewRequest(http.MethodPost, "/anything", body))
	if rec.Code != http.StatusOK {
		t.Fatalf("status for a body of exactly MaxBodyBytes = %d, want 200", rec.Code)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()

	tests := []struct {
		target     string
		wantCode   int
		wantBody   bool // whether {"status": wantCode} is expected
		retryAfter string
	}{
		{target: "/status/200", wantCode: 200, wantBody: true},
		{target: "/status/201", wantCode: 201, wantBody: true},
		{target: "/status/418", wantCode: 418, wantBody: true},
		{target: "/status/500", wantCode: 500, wantBody: true},
		{target: "/status/599", wantCode: 599, wantBody: true},
		{target: "/status/429?retry_after=7", wantCode: 429, wantBody: true, retryAfter: "7"},
		{target: "/status/503?retry_after=Wed,%2021%20Oct%202015%2007:28:00%20GMT", wantCode: 503, wantBody: true, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"},
		{target: "/status/204", wantCode: 204},
		{target: "/status/304", wantCode: 304},
		{target: "/status/100", wantCode: 100},
		{target: "/status/99", wantCode: 400},
		{target: "/status/600", wantCode: 400},
		{target: "/status/-200", wantCode: 400},
		{target: "/status/abc", wantCode: 400},
	}
	h := New()
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			switch {
			case tt.wantCode == http.StatusBadRequest:
				if _, ok := decode(t, rec)["error"].(string); !ok {
					t.Errorf("body %s has no error", rec.Body)
				}
			case tt.wantBody:
				if got := decode(t, rec)["status"]; got != float64(tt.wantCode) {
					t.Errorf("body status = %v, want %d", got, tt.wantCode)
				}
			default:
				if rec.Body.Len() != 0 {
					t.Errorf("body = %q, want empty", rec.Body)
				}
			}
		})
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()

	h := New()
	start := time.Now()
	rec := serve(t, h, httptest.NewRequest(http.MethodGet, "/delay/30?x=1", nil))
	elapsed := time.Since(start)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if elapsed < 30*time.Millisecond {
		t.Errorf("answered after %v, want at least 30ms", elapsed)
	}
	got := decode(t, rec)
	if got["delay_ms"] != 30.0 || got["method"] != "GET" || got["url"] != "http://example.com/delay/30?x=1" {
		t.Errorf("body = %v, want delay_ms 30 and the /get echo", got)
	}

	for _, target := range []string{"/delay/-1", "/delay/abc", "/delay/1.5"} {
		rec := serve(t, h, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status = %d, want 400", target, rec.Code)
		}
	}
}

func TestDelayReturnsWhenClientGoesAway(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/delay/60000", nil)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		New().ServeHTTP(rec, req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still waiting 10s after the client went away")
	}
	if rec.Body.Len() != 0 {
		t.Fatalf("body = %q, want nothing written for a departed client", rec.Body)
	}
}

func TestDelayFor(t *testing.T) {
	t.Parallel()

	tests := []struct {
		ms   int
		want time.Duration
	}{
		{0, 0},
		{250, 250 * time.Millisecond},
		{60000, 60 * time.Second},
		{60001, MaxDelay},
		{1 << 62, MaxDelay},
	}
	for _, tt := range tests {
		if got := delayFor(tt.ms); got != tt.want {
			t.Errorf("delayFor(%d) = %v, want %v", tt.ms, got, tt.want)
		}
	}
}

func TestFlaky(t *testing.T) {
	t.Parallel()

	type step struct {
		target   string
		wantCode int
		wantCall int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "first N calls fail",
			steps: []step{
				{"/flaky?fail=2&key=a", 503, 1},
				{"/flaky?fail=2&key=a", 503, 2},
				{"/flaky?fail=2&key=a", 200, 3},
				{"/flaky?fail=2&key=a", 200, 4},
			},
		},
		{
			name: "keys are independent and default to empty",
			steps: []step{
				{"/flaky?fail=1&key=x", 503, 1},
				{"/flaky?fail=1&key=y", 503, 1},
				{"/flaky?fail=1", 503, 1},
				{"/flaky?fail=1&key=", 200, 2},
				{"/flaky?fail=1&key=x", 200, 2},
			},
		},
		{
			name: "fail defaults to zero",
			steps: []step{
				{"/flaky", 200, 1},
				{"/flaky?fail=0", 200, 2},
			},
		},
		{
			name: "bad fail is rejected without counting",
			steps: []step{
				{"/flaky?fail=abc", 400, 0},
				{"/flaky?fail=-1", 400, 0},
				{"/flaky?fail=1", 503, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := New() // Fresh state per case.
			for i, s := range tt.steps {
				rec := serve(t, h, httptest.NewRequest(http.MethodGet, s.target, nil))
				if rec.Code != s.wantCode {
					t.Fatalf("step %d %s: status = %d, want %d", i, s.target, rec.Code, s.wantCode)
				}
				got := decode(t, rec)
				switch s.wantCode {
				case 503:
					if got["error"] != "flaky" || got["call"] != float64(s.wantCall) {
						t.Fatalf("step %d %s: body = %v, want error flaky, call %d", i, s.target, got, s.wantCall)
					}
				case 200:
					if got["ok"] != true || got["call"] != float64(s.wantCall) {
						t.Fatalf("step %d %s: body = %v, want ok, call %d", i, s.target, got, s.wantCall)
					}
				}
			}
		})
	}
}

func TestFlakyRetryAfter(t *testing.T) {
	t.Parallel()

	h := New()
	rec := serve(t, h, httptest.NewRequest(http.MethodGet, "/flaky?fail=1&retry_after=3", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("failure = %d with Retry-After %q, want 503 and 3", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec = serve(t, h, httptest.NewRequest(http.MethodGet, "/flaky?fail=1&retry_after=3", nil))
	if rec.Code != 200 || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("success = %d with Retry-After %q, want 200 and none", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestFlakyStateIsPerHandler(t *testing.T) {
	t.Parallel()

	a, b := New(), New()
	serve(t, a, httptest.NewRequest(http.MethodGet, "/flaky?fail=1", nil))
	rec := serve(t, b, httptest.NewRequest(http.MethodGet, "/flaky?fail=1", nil))
	if rec.Code != 503 {
		t.Fatalf("first call on a second handler = %d, want 503", rec.Code)
	}
}

func TestFlakyConcurrent(t *testing.T) {
	t.Parallel()

	const calls, fail = 100, 10
	h := New()
	codes := make(chan int, calls)
	for range calls {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/flaky?fail=10&key=c", nil))
			codes <- rec.Code
		}()
	}
	failed := 0
	for range calls {
		if <-codes == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed != fail {
		t.Fatalf("%d of %d concurrent calls failed, want exactly %d", failed, calls, fail)
	}
}

func TestFlakyIsBounded(t *testing.T) {
	t.Parallel()

	f := &flaky{calls: make(map[string]int)}
	for i := range maxFlakyKeys + 500 {
		f.next("key-" + strconv.Itoa(i))
	}
	if n := len(f.calls); n != maxFlakyKeys {
		t.Fatalf("remembered %d keys, want the cap %d", n, maxFlakyKeys)
	}
	if got := f.next("new"); got != 1 {
		t.Fatalf("first call for a new key at the cap = %d, want 1", got)
	}
	if n := len(f.calls); n != maxFlakyKeys {
		t.Fatalf("remembered %d keys after one more, want the cap %d", n, maxFlakyKeys)
	}
}

func TestSmallRoutes(t *testing.T) {
	t.Parallel()

	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tests := []struct {
		target   string
		wantCode int
		check    func(t *testing.T, body map[string]any)
	}{
		{"/headers", 200, func(t *testing.T, body map[string]any) {
			hdrs, _ := body["headers"].(map[string]any)
			if hdrs["X-Test"] != "one, two" || hdrs["Host"] != "example.com" {
				t.Errorf("headers = %v", body["headers"])
			}
		}},
		{"/ip", 200, func(t *testing.T, body map[string]any) {
			if body["origin"] != "192.0.2.1" {
				t.Errorf("origin = %v, want 192.0.2.1", body["origin"])
			}
		}},
		{"/uuid", 200, func(t *testing.T, body map[string]any) {
			if s, _ := body["uuid"].(string); !uuidRE.MatchString(s) {
				t.Errorf("uuid = %v, want a version 4 UUID", body["uuid"])
			}
		}},
		{"/", 404, nil},
		{"/nope", 404, nil},
		{"/get/extra", 404, nil},
		{"/status/", 404, nil},
		{"/status/200/extra", 404, nil},
		{"/delay/", 404, nil},
		{"/anythingelse", 404, nil},
	}
	h := New()
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			req.Header.Add("X-Test", "one")
			req.Header.Add("X-Test", "two")
			rec := serve(t, h, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			body := decode(t, rec)
			if tt.wantCode == http.StatusNotFound {
				if body["error"] != "not found" || body["path"] != tt.target {
					t.Errorf("body = %v, want not found for %s", body, tt.target)
				}
				return
			}
			tt.check(t, body)
		})
	}
}

func TestUUIDsDiffer(t *testing.T) {
	t.Parallel()

	seen := make(map[string]bool)
	for range 100 {
		u := newUUID()
		if seen[u] {
			t.Fatalf("newUUID repeated %s", u)
		}
		seen[u] = true
	}
}
