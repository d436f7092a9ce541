package config

import (
	"strings"
	"testing"
)

const poolsYAML = `
targets:
  openai:
    base_url: https://api.openai.com/v1
    llm: {provider: openai}
  payments:
    base_url: https://pay.example.com
provider_key_pools:
  openai:
    keys:
      - {id: k1, api_key: "env:OPENAI_KEY_1", qps_limit: 3}
      - id: k2
        api_key: "env:OPENAI_KEY_2"
        rate_limit: {max_qps: 20}
  payments:
    max_key_switches: 1
    keys: [{id: p1, api_key: "${PAY_KEY}"}]
client_profiles:
  cursor: {max_qps_per_tenant: 5, max_qps_per_provider_key: 2}
`

func TestPoolsAndProfiles(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(poolsYAML), "c.yaml", env(map[string]string{"PAY_KEY": "pay-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	name, p := c.PoolFor("openai")
	if name != "openai" || len(p.Keys) != 2 || p.MaxKeySwitches != 3 || p.CooldownS != 5 {
		t.Fatalf("PoolFor(openai) = %s %+v", name, p)
	}
	if qps, burst, conc := p.Keys[0].Rate(); qps != 3 || burst != 1 || conc != 0 {
		t.Errorf("k1 rate = %v %v %v", qps, burst, conc)
	}
	if qps, burst, conc := p.Keys[1].Rate(); qps != 20 || burst != 5 || conc != 2 {
		t.Errorf("k2 rate = %v %v %v (defaults 5 and 2)", qps, burst, conc)
	}
	getenv := env(map[string]string{"OPENAI_KEY_1": "sk-one"})
	if s, err := p.Keys[0].Secret(getenv); s != "sk-one" || err != nil {
		t.Errorf("k1 secret = %q, %v", s, err)
	}
	if _, err := p.Keys[1].Secret(getenv); err == nil || !strings.Contains(err.Error(), "OPENAI_KEY_2") {
		t.Errorf("unset variable: %v", err)
	}
	if name, p := c.PoolFor("payments"); name != "payments" || p.MaxKeySwitches != 1 {
		t.Errorf("PoolFor(payments) = %s %+v", name, p)
	} else if s, _ := p.Keys[0].Secret(getenv); s != "pay-secret" {
		t.Errorf("expanded secret = %q", s)
	}
	if name, p := c.Profile("cursor"); name != "cursor" || p.MaxQPSPerTenant != 5 || p.BurstSize != 5 {
		t.Errorf("Profile(cursor) = %s %+v", name, p)
	}
	if name, p := c.Profile("unknown"); name != "default" || p == nil || p.MaxParallelRequests != 0 {
		t.Errorf("Profile(unknown) = %s %+v", name, p)
	}
}

func TestPoolValidation(t *testing.T) {
	t.Parallel()
	tests := []struct{ yaml, want string }{
		{"provider_key_pools:\n  p:\n    keys: []\n", "provider_key_pools.p.keys: a pool needs at least one key"},
		{"provider_key_pools:\n  p:\n    keys: [{id: a, api_key: env:A}, {id: a, api_key: env:B}]\n", `provider_key_pools.p.keys[1].id: duplicate key id "a"`},
		{"provider_key_pools:\n  p:\n    keys: [{id: a}]\n", "provider_key_pools.p.keys[0].api_key: is required"},
		{"provider_key_pools:\n  p:\n    keys: [{id: a, api_key: env:A, rate_limit: {max_qps: 0}}]\n", "provider_key_pools.p.keys[0].rate_limit.max_qps: must be > 0"},
		{"provider_key_pools:\n  p:\n    keys: [{id: 'a b', api_key: env:A}]\n", "provider_key_pools.p.keys[0].id: must be 1 to 64"},
		{"client_profiles:\n  x: {burst_size: -1}\n", "client_profiles.x.burst_size: must be > 0"},
		{"client_profiles:\n  x: {max_qps_per_tenant: -1}\n", "client_profiles.x.max_qps_per_tenant: must be 0 (none) or more"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "c.yaml", env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
