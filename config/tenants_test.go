package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func digest(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

func TestTenants(t *testing.T) {
	t.Parallel()
	doc := fmt.Sprintf(`
auth:
  admin_key: ${ADMIN}
tenants:
  acme:
    tier: pro
    limits: {rpm: 10, allowed_models: [gpt-4o-mini]}
    api_keys:
      - {id: main, sha256: %s}
      - {id: ci, key: "${ACME_CI}", revoked: true}
  solo:
    api_key: ${SOLO}
tiers:
  free: {rpm: 30, streaming: true}
`, strings.ToUpper(digest("acme-key")))
	c, err := Parse([]byte(doc), "t.yaml", env(map[string]string{"ADMIN": "adm", "ACME_CI": "ci-key", "SOLO": "solo-key"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Mode != AuthKeys || !c.HasAPIKeys() || !c.Auth.HasAdminKey() || c.Auth.AdminKey.Value() != "adm" {
		t.Fatalf("auth = %#v", c.Auth)
	}
	acme := c.Tenants["acme"]
	if got := acme.APIKeys[0].Digest(); got != digest("acme-key") {
		t.Errorf("sha256 key digest = %s (hex is lower-cased)", got)
	}
	if got := acme.APIKeys[1].Digest(); got != digest("ci-key") || !acme.APIKeys[1].Revoked {
		t.Errorf("env key = %s revoked %v", got, acme.APIKeys[1].Revoked)
	}
	solo := c.Tenants["solo"]
	if keys := solo.AllKeys(); len(keys) != 1 || keys[0].Digest() != digest("solo-key") || solo.Tier != TierFree || solo.Profile != DefaultProfile {
		t.Errorf("solo = %+v", solo)
	}

	l := c.TenantLimits("acme", "")
	if l.Tier != TierPro || l.RPM != 10 || l.Burst != 200 || !l.Streaming {
		t.Errorf("acme limits = %+v: want pro's with rpm 10", l)
	}
	if !l.AllowsModel("gpt-4o-mini") || l.AllowsModel("gpt-4o") {
		t.Error("acme: want gpt-4o-mini allowed, gpt-4o not")
	}
	free := c.TenantLimits("solo", "")
	if free.RPM != 30 || !free.Streaming || free.Idempotency || free.IPRPM != 20 {
		t.Errorf("solo limits = %+v: want free's with rpm 30 and streaming", free)
	}
	for model, ok := range map[string]bool{"gpt-4o-mini": true, "GPT-4o-mini-2024-07-18": true, "gpt-4o": false, "gpt-4": false,
		"claude-3-haiku-20240307": true, "claude-3-opus-20240229": false, "mistral-small-latest": true, "mistral-large-latest": false} {
		if free.AllowsModel(model) != ok {
			t.Errorf("free tier AllowsModel(%q) = %v, want %v", model, !ok, ok)
		}
	}
	if ent := c.TenantLimits("nobody", TierEnterprise); ent.RPM != 0 || !ent.AllowsModel("anything") {
		t.Errorf("enterprise = %+v: want no limits", ent)
	}

	// The dump names variables, never values.
	if s := fmt.Sprintf("%v %+v %#v", c.Auth.AdminKey, acme.APIKeys[1], solo.APIKey); strings.Contains(s, "ci-key") || strings.Contains(s, "adm}") || strings.Contains(s, "solo-key") {
		t.Errorf("a secret printed: %s", s)
	}
}

func TestTenantErrors(t *testing.T) {
	t.Parallel()
	d := digest("k")
	for _, tt := range []struct{ name, doc, want string }{
		{"plain key in the file", "tenants:\n  a:\n    api_key: sk-plain\n",
			`tenants.a.api_key: must be a reference to an environment variable`},
		{"default in a reference", "tenants:\n  a:\n    api_keys: [{key: \"${K:-x}\"}]\n",
			`tenants.a.api_keys[0].key: must be a reference`},
		{"unset variable", "tenants:\n  a:\n    api_keys: [{key: \"${UNSET}\"}]\n",
			`tenants.a.api_keys[0].key: environment variable UNSET is not set`},
		{"no key", "tenants:\n  a: {tier: pro}\n", `tenants.a.api_keys: a tenant needs at least one key`},
		{"bad digest", "tenants:\n  a:\n    api_keys: [{sha256: abc}]\n", `tenants.a.api_keys[0].sha256: must be 64 hex digits`},
		{"both forms", fmt.Sprintf("tenants:\n  a:\n    api_keys: [{sha256: %s, key: \"${K}\"}]\n", d), `tenants.a.api_keys[0]: set sha256 or key, not both`},
		{"key of two tenants", fmt.Sprintf("tenants:\n  a:\n    api_keys: [{sha256: %s}]\n  b:\n    api_keys: [{key: \"${K}\"}]\n", d),
			`tenants.b.api_keys[0]: the same key is already configured at tenants.a.api_keys[0]`},
		{"bad tier", fmt.Sprintf("tenants:\n  a:\n    tier: gold\n    api_keys: [{sha256: %s}]\n", d), `tenants.a.tier: must be one of`},
		{"unknown profile", fmt.Sprintf("tenants:\n  a:\n    profile: cursor\n    api_keys: [{sha256: %s}]\n", d), `tenants.a.profile: no such client profile "cursor"`},
		{"negative limit", "tiers:\n  free: {rpm: -1}\n", `tiers.free.rpm: must be 0 or more`},
		{"unknown tier", "tiers:\n  gold: {rpm: 1}\n", `tiers.gold: unknown tier`},
		{"bad model pattern", "tiers:\n  free: {allowed_models: [\"gpt-*-mini\"]}\n", `tiers.free.allowed_models[0]: must be a model name, or a prefix`},
		{"bad mode", "auth: {mode: none}\n", `auth.mode: must be one of`},
		{"bad proxy", "server: {trusted_proxies: [10.0.0.0/8, lb.internal]}\n", `server.trusted_proxies[1]: must be an IP address or a CIDR`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "t.yaml", env(map[string]string{"K": "k"}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "sk-plain") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestAddAPIKey(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.HasAPIKeys() {
		t.Fatal("the default config has keys")
	}
	c.AddAPIKey("RELIAPI_API_KEY", "k")
	if !c.HasAPIKeys() || c.Tenants[DefaultTenant].Tier != TierEnterprise || c.Tenants[DefaultTenant].APIKeys[0].Digest() != digest("k") {
		t.Fatalf("tenant default = %+v", c.Tenants[DefaultTenant])
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
