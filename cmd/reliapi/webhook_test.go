package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/webhook"
)

func TestWebhookVerifyCommand(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	s, _ := webhook.ParseSecret(secret)
	body := `{"type":"job.succeeded","data":{"id":"job_1"}}`
	req := httptest.NewRequest("POST", "http://receiver.example/hook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	webhook.Sign(req.Header, []webhook.Secret{s}, "msg_1", time.Now(), []byte(body))
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	h := req.Header
	noEnv := func(string) string { return "" }
	tests := []struct {
		name     string
		args     []string
		getenv   func(string) string
		stdin    string
		wantCode int
		wantOut  string
	}{
		{"whole request", []string{"webhook", "verify", "--secret", secret}, noEnv, wire.String(), 0, "ok: webhook-id msg_1"},
		{"secret from the environment", []string{"webhook", "verify"}, func(k string) string {
			if k == "RELIAPI_WEBHOOK_SECRET" {
				return "whsec_bmV3LXNlY3JldC1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q= " + secret
			}
			return ""
		}, wire.String(), 0, "ok:"},
		{"body with header flags", []string{"webhook", "verify", "--secret", secret,
			"--id", h.Get(webhook.HeaderID), "--timestamp", h.Get(webhook.HeaderTimestamp), "--signature", h.Get(webhook.HeaderSignature)}, noEnv, body, 0, "ok:"},
		{"changed body", []string{"webhook", "verify", "--secret", secret,
			"--id", h.Get(webhook.HeaderID), "--timestamp", h.Get(webhook.HeaderTimestamp), "--signature", h.Get(webhook.HeaderSignature)}, noEnv, body + " ", 1, "FAILED"},
		{"wrong secret", []string{"webhook", "verify", "--secret", "whsec_bmV3LXNlY3JldC1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q="}, noEnv, wire.String(), 1, "no signature matches"},
		{"no secret", []string{"webhook", "verify"}, noEnv, wire.String(), 2, "no secret"},
		{"not a request", []string{"webhook", "verify", "--secret", secret}, noEnv, body, 2, "not an HTTP request"},
		{"no subcommand", []string{"webhook"}, noEnv, "", 2, "usage"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, tt.getenv, strings.NewReader(tt.stdin), &out, &errOut)
		if code != tt.wantCode || !strings.Contains(out.String()+errOut.String(), tt.wantOut) {
			t.Errorf("%s: exit %d, %q %q; want %d and %q", tt.name, code, out.String(), errOut.String(), tt.wantCode, tt.wantOut)
		}
	}
}
