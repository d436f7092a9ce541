package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/reliapi/reliapi/rapidapi"
)

func rapidStack(t *testing.T, rapidYAML string) *stack {
	t.Helper()
	return newStack(t, stackOptions{noWorker: true, authYAML: fmt.Sprintf(`
tenants:
  a:
    api_keys: [{sha256: %s}]
%s`, sha("key-a"), rapidYAML), env: map[string]string{"PROXY": "proxy-secret", "HOOK": "hook-secret"}})
}

const rapidSecrets = "rapidapi: {proxy_secret: \"${PROXY}\", webhook_secret: \"${HOOK}\"}\n"

// TestRapidAPIHeadersNeedTheProxySecret: RapidAPI's headers name the
// tenant and tier only with the right proxy secret; otherwise they are
// ignored and the call needs an API key like any other.
func TestRapidAPIHeadersNeedTheProxySecret(t *testing.T) {
	t.Parallel()
	s := rapidStack(t, rapidSecrets)
	spoof := []string{"X-RapidAPI-User", "mallory", "X-RapidAPI-Subscription", "enterprise"}
	for name, extra := range map[string][]string{
		"no proxy secret":    nil,
		"wrong proxy secret": {"X-RapidAPI-Proxy-Secret", "guess"},
		"prefix of it":       {"X-RapidAPI-Proxy-Secret", "proxy"},
	} {
		if r := s.do("GET", "/v1/rapidapi/status", nil, append(spoof, extra...)...); r.status != 401 {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
		// With a key, the call is the key's tenant, on the key's tier.
		r := s.do("GET", "/v1/rapidapi/status", nil, append(append(spoof, extra...), "X-API-Key", "key-a")...)
		if r.status != 200 || r.body["tenant"] != "a" || r.body["tier"] != "free" {
			t.Errorf("%s, with a key: %d %s", name, r.status, r.raw)
		}
	}
	real := []string{"X-RapidAPI-Proxy-Secret", "proxy-secret", "X-RapidAPI-User", "u1", "X-RapidAPI-Subscription", "ULTRA"}
	for range 2 {
		s.do("GET", "/v1/jobs", nil, real...)
	}
	r := s.do("GET", "/rapidapi/status", nil, real...)
	if r.status != 200 || r.body["tenant"] != "rapidapi:u1" || r.body["tier"] != "pro" || get(r.body, "usage", "requests_count") != 3.0 ||
		get(r.body, "usage", "requests_limit") != 100000.0 || r.body["status"] != "configured" {
		t.Fatalf("RapidAPI caller: %d %s", r.status, r.raw)
	}
	if r := s.do("GET", "/v1/jobs", nil, "X-RapidAPI-Proxy-Secret", "proxy-secret", "X-RapidAPI-User", "bad user}"); r.status != 401 {
		t.Errorf("invalid user: %d %s", r.status, r.raw)
	}
	// One RapidAPI user never sees another's jobs.
	job := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}}, real...)
	if job.status != 202 {
		t.Fatalf("submit: %d %s", job.status, job.raw)
	}
	other := []string{"X-RapidAPI-Proxy-Secret", "proxy-secret", "X-RapidAPI-User", "u2"}
	if r := s.do("GET", "/v1/jobs/"+job.body["id"].(string), nil, other...); r.status != 404 {
		t.Errorf("another RapidAPI user reads the job: %d", r.status)
	}
}

// TestRapidAPIIgnoredWithoutASecret: with no proxy secret configured,
// RapidAPI's headers mean nothing, whatever secret they bring.
func TestRapidAPIIgnoredWithoutASecret(t *testing.T) {
	t.Parallel()
	s := rapidStack(t, "")
	r := s.do("GET", "/v1/rapidapi/status", nil, "X-RapidAPI-Proxy-Secret", "", "X-RapidAPI-User", "u1", "X-RapidAPI-Proxy-Secret", "anything")
	if r.status != 401 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	body := `{"type":"subscription.created","id":"e1","data":{"user_id":"u1","tier":"enterprise"}}`
	if r := s.do("POST", "/v1/webhooks/rapidapi", body, "X-RapidAPI-Signature", rapidapi.Sign("", []byte(body))); r.status != 403 {
		t.Fatalf("webhook without a secret: %d %s", r.status, r.raw)
	}
}

func TestRapidAPIWebhook(t *testing.T) {
	t.Parallel()
	s := rapidStack(t, rapidSecrets)
	send := func(body string, sig ...string) response {
		signature := rapidapi.Sign("hook-secret", []byte(body))
		if len(sig) > 0 {
			signature = sig[0]
		}
		return s.do("POST", "/v1/webhooks/rapidapi", body, "X-RapidAPI-Signature", signature)
	}
	user := []string{"X-RapidAPI-Proxy-Secret", "proxy-secret", "X-RapidAPI-User", "u9"}
	tier := func() any { return s.do("GET", "/v1/rapidapi/status", nil, user...).body["tier"] }

	created := `{"type":"subscription.created","id":"evt-1","data":{"user_id":"u9","tier":"enterprise"}}`
	if r := send(created, rapidapi.Sign("wrong", []byte(created))); r.status != 401 {
		t.Fatalf("bad signature: %d %s", r.status, r.raw)
	}
	if r := send(created, ""); r.status != 401 {
		t.Fatalf("no signature: %d %s", r.status, r.raw)
	}
	if tier() != "free" {
		t.Fatal("an unsigned event applied")
	}
	if r := send(created); r.status != 200 || r.body["applied"] != true {
		t.Fatalf("created: %d %s", r.status, r.raw)
	}
	if got := tier(); got != "enterprise" {
		t.Fatalf("tier after subscription.created: %v", got)
	}
	if r := send(created); r.status != 200 || r.body["duplicate"] != true {
		t.Fatalf("repeat: %d %s", r.status, r.raw)
	}
	updated := `{"type":"subscription.updated","event_id":"evt-2","data":{"user_id":"u9","subscription":"pro"}}`
	if r := send(updated); r.status != 200 || tier() != "developer" {
		t.Fatalf("updated: %d %s, tier %v", r.status, r.raw, tier())
	}
	// A plan named in the header wins; a plan this build does not know
	// leaves the tier the webhook set.
	for plan, want := range map[string]string{"BASIC": "free", "Ultra": "pro", "custom-gold": "developer"} {
		if got := s.do("GET", "/v1/rapidapi/status", nil, append(user, "X-RapidAPI-Subscription", plan)...).body["tier"]; got != want {
			t.Errorf("subscription %q: tier %v, want %s", plan, got, want)
		}
	}
	if r := send(`{"type":"subscription.cancelled","id":"evt-3","data":{"user_id":"u9"}}`); r.status != 200 || tier() != "free" {
		t.Fatalf("cancelled: %d %s, tier %v", r.status, r.raw, tier())
	}
	if r := send(`{"type":"usage.alert","id":"evt-4","data":{}}`); r.status != 200 || r.body["applied"] != false {
		t.Fatalf("usage alert: %d %s", r.status, r.raw)
	}
	for name, body := range map[string]string{
		"not JSON": `{"type":`,
		"no user":  `{"type":"subscription.created","id":"evt-5","data":{}}`,
		"odd id":   `{"type":"subscription.created","id":"a}b","data":{"user_id":"u9"}}`,
		"no type":  `{"id":"evt-6"}`,
		"bad user": `{"type":"subscription.created","data":{"user_id":"a b"}}`,
	} {
		if r := send(body); r.status != 400 || get(r.body, "error", "code") != "INVALID_REQUEST" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	big := `{"type":"usage.alert","data":{"pad":"` + strings.Repeat("x", 11<<10) + `"}}`
	if r := send(big); r.status != 413 {
		t.Errorf("11 KiB body: %d %s", r.status, r.raw)
	}
}

// TestRapidAPIForgeriesAreRefused: an address sending badly signed
// webhooks is refused for a minute after ten; signed ones never are.
func TestRapidAPIForgeriesAreRefused(t *testing.T) {
	t.Parallel()
	s := rapidStack(t, rapidSecrets)
	body := `{"type":"usage.alert","data":{}}`
	for i := range 10 {
		if r := s.do("POST", "/v1/webhooks/rapidapi", body, "X-RapidAPI-Signature", "00"); r.status != 401 {
			t.Fatalf("forgery %d: %d", i+1, r.status)
		}
	}
	r := s.do("POST", "/v1/webhooks/rapidapi", body, "X-RapidAPI-Signature", rapidapi.Sign("hook-secret", []byte(body)))
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("after ten forgeries: %d %s", r.status, r.raw)
	}
}
