package webhook_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reliapi/reliapi/webhook"
)

// Two secrets, as during a rotation.
const (
	oldSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret = "whsec_" + "bmV3LXNlY3JldC1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q="
)

func secrets(t *testing.T, raw ...string) []webhook.Secret {
	t.Helper()
	var out []webhook.Secret
	for _, r := range raw {
		s, err := webhook.ParseSecret(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestSignedDeliveriesVerifyElsewhere: signatures made here verify with
// the Standard Webhooks reference library, one per secret during a
// rotation; and its signatures verify here.
func TestSignedDeliveriesVerifyElsewhere(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"job.succeeded","timestamp":"2026-11-27T12:00:00Z","data":{"id":"job_1"}}`)
	h := http.Header{}
	webhook.Sign(h, secrets(t, oldSecret, newSecret), "msg_1", time.Now(), body)
	if n := len(strings.Fields(h.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("signatures = %q, want one per secret", h.Get(webhook.HeaderSignature))
	}
	for _, s := range []string{oldSecret, newSecret} {
		ref, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.Verify(body, h); err != nil {
			t.Errorf("reference library rejects our signature with %s: %v", s[:10], err)
		}
		if err := ref.Verify(append(bytes.Clone(body), ' '), h); err == nil {
			t.Error("reference library accepts a changed body")
		}
	}

	ref, _ := standardwebhooks.NewWebhook(newSecret)
	now := time.Now()
	sig, err := ref.Sign("msg_2", now, body)
	if err != nil {
		t.Fatal(err)
	}
	theirs := http.Header{}
	theirs.Set(webhook.HeaderID, "msg_2")
	theirs.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	theirs.Set(webhook.HeaderSignature, sig)
	if err := webhook.Verify(theirs, body, secrets(t, oldSecret, newSecret), now); err != nil {
		t.Fatalf("Verify rejects the reference library's signature: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	body := []byte(`{"ok":true}`)
	sent := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	signed := func() http.Header {
		h := http.Header{}
		webhook.Sign(h, secrets(t, oldSecret), "msg_1", sent, body)
		return h
	}
	tests := []struct {
		name   string
		header func() http.Header
		body   []byte
		at     time.Time
		keys   []string
		want   error
	}{
		{"good", signed, body, sent.Add(time.Minute), []string{oldSecret}, nil},
		{"good, with the next secret too", signed, body, sent, []string{newSecret, oldSecret}, nil},
		{"other secret", signed, body, sent, []string{newSecret}, webhook.ErrSignature},
		{"changed body", signed, []byte(`{"ok":false}`), sent, []string{oldSecret}, webhook.ErrSignature},
		{"too old", signed, body, sent.Add(6 * time.Minute), []string{oldSecret}, webhook.ErrTimestamp},
		{"from the future", signed, body, sent.Add(-6 * time.Minute), []string{oldSecret}, webhook.ErrTimestamp},
		{"no id", func() http.Header { h := signed(); h.Del(webhook.HeaderID); return h }, body, sent, []string{oldSecret}, webhook.ErrMissingHeaders},
		{"other id", func() http.Header { h := signed(); h.Set(webhook.HeaderID, "msg_2"); return h }, body, sent, []string{oldSecret}, webhook.ErrSignature},
	}
	for _, tt := range tests {
		if err := webhook.Verify(tt.header(), tt.body, secrets(t, tt.keys...), tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, bad := range []string{"whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := webhook.ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
	if s := secrets(t, oldSecret)[0]; strings.Contains(s.String(), "MfKQ") {
		t.Error("a Secret prints its key")
	}
}

func TestPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fd00:ec2::254": false, "100.64.0.1": false, "0.0.0.0": false, "::": false,
		"224.0.0.1": false, "255.255.255.255": false, "fe80::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::7f00:1": false, "2002:7f00:1::": false, "198.18.0.1": false,
	} {
		if got := webhook.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	var g webhook.Guard
	for raw, wantErr := range map[string]bool{
		"https://example.com/hook":         false,
		"http://hooks.example.com:8080/x":  false,
		"https://93.184.216.34/hook":       false,
		"http://localhost/hook":            false, // a name: checked when dialled
		"http://127.0.0.1/hook":            true,
		"http://[::1]:9000/hook":           true,
		"http://169.254.169.254/latest":    true,
		"http://10.0.0.1/":                 true,
		"ftp://example.com/":               true,
		"https://user:pw@example.com/hook": true,
		"/relative":                        true,
		"https://":                         true,
		"mailto:ops@example.com":           true,
	} {
		if _, err := g.CheckURL(raw); (err != nil) != wantErr {
			t.Errorf("CheckURL(%q) = %v, want error %v", raw, err, wantErr)
		}
	}
	if _, err := (webhook.Guard{AllowPrivate: true}).CheckURL("http://127.0.0.1:8080/hook"); err != nil {
		t.Errorf("private networks allowed: %v", err)
	}
}

// TestGuardedDial: with the guard a client cannot reach a loopback
// receiver, by address, by a name that resolves to it, or by a redirect
// from a public-looking URL; allowed, it can.
func TestGuardedDial(t *testing.T) {
	t.Parallel()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(receiver.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(receiver.URL, "http://"))

	client := func(g webhook.Guard) *http.Client {
		return &http.Client{
			Transport:     &http.Transport{DialContext: g.Dialer().DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       5 * time.Second,
		}
	}
	for _, u := range []string{receiver.URL, "http://localhost:" + port + "/", "http://[::1]:" + port + "/"} {
		_, err := client(webhook.Guard{}).Get(u)
		if !errors.Is(err, webhook.ErrForbiddenAddress) {
			t.Errorf("GET %s through the guard: %v, want ErrForbiddenAddress", u, err)
		}
	}
	resp, err := client(webhook.Guard{AllowPrivate: true}).Get(receiver.URL)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("allowed: %v %v", resp, err)
	}
	resp.Body.Close()

	// A redirect to loopback is not followed: the 3xx is the answer.
	redirector := httptest.NewServer(http.RedirectHandler(receiver.URL, http.StatusFound))
	t.Cleanup(redirector.Close)
	resp, err = client(webhook.Guard{AllowPrivate: true}).Get(redirector.URL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect: %v %v", resp, err)
	}
	resp.Body.Close()
}
