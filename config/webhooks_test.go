package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/config"
)

func TestWebhooksDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte("targets: {}\n"), "config.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhooks
	if w.Timeout() != 15*time.Second || w.AllowPrivateNetworks || !reflect.DeepEqual(w.ScheduleS, config.DefaultWebhookSchedule) || w.Schedule()[2] != 5*time.Minute {
		t.Fatalf("defaults: %+v", w)
	}
}

func TestWebhooksValidation(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	env := func(k string) string {
		if k == "HOOK_SECRET" {
			return secret
		}
		return ""
	}
	good := `
webhooks:
  timeout_s: 5
  schedule_s: [0, 1, 2]
  secrets: {default: ["${HOOK_SECRET}", "` + secret + `"]}
targets:
  pay:
    base_url: https://api.example.com
    webhook: {url: "https://hooks.example.com/reliapi", events: [job.failed]}
`
	c, err := config.Parse([]byte(good), "config.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Targets["pay"].Webhook; got.URL != "https://hooks.example.com/reliapi" || len(c.Webhooks.Secrets["default"]) != 2 {
		t.Fatalf("parsed: %+v %+v", got, c.Webhooks)
	}

	bad := `
webhooks:
  timeout_s: 99
  schedule_s: [-1]
  secrets: {default: ["whsec_c2hvcnQ="]}
targets:
  pay:
    base_url: https://api.example.com
    webhook: {url: "http://169.254.169.254/latest", events: [job.done]}
`
	_, err = config.Parse([]byte(bad), "config.yaml", env)
	for _, want := range []string{
		"webhooks.timeout_s: must be 1 to 60", "webhooks.schedule_s[0]: must be 0 to", "webhooks.secrets.default[0]: webhook secret: the key is 5 bytes",
		"targets.pay.webhook.url: webhook: the destination is a private", "targets.pay.webhook.events[0]: must be one of job.succeeded",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "c2hvcnQ") {
		t.Error("a secret's value is quoted in an error")
	}

	private := strings.Replace(good, "https://hooks.example.com/reliapi", "http://127.0.0.1:9000/hook", 1)
	if _, err := config.Parse([]byte(private), "config.yaml", env); err == nil {
		t.Error("a loopback webhook was accepted without allow_private_networks")
	}
	private = strings.Replace(private, "webhooks:\n", "webhooks:\n  allow_private_networks: true\n", 1)
	if _, err := config.Parse([]byte(private), "config.yaml", env); err != nil {
		t.Errorf("with allow_private_networks: %v", err)
	}
}
