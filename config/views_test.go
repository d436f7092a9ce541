package config

import (
	"reflect"
	"slices"
	"testing"
)

// TestViewsKeepSecretsApart: the api's part of the configuration holds no
// provider key and no webhook signing secret; the worker's holds no
// tenant's API key and no admin key. Each still has what it needs of them.
func TestViewsKeepSecretsApart(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
auth: {admin_key: "${ADMIN}"}
tenants:
  acme: {api_key: "${ACME}"}
targets:
  oai:
    base_url: https://api.openai.com/v1
    llm: {provider: openai, default_model: gpt-4o-mini}
provider_key_pools:
  openai:
    keys:
      - {id: k1, api_key: "${POOL}", rate_limit: {max_qps: 5, max_concurrent: 3}}
webhooks:
  secrets: {acme: ["${HOOK}"]}
`), "t.yaml", env(map[string]string{
		"ADMIN": "admin-secret", "ACME": "tenant-secret", "POOL": "sk-pool-secret",
		"HOOK": "whsec_c2lnbmluZy1zZWNyZXQtb2YtYWNtZS0xMjM0NTY=",
	}))
	if err != nil {
		t.Fatal(err)
	}
	api, worker := reachableStrings(c.ForAPI()), reachableStrings(c.ForWorker())
	for _, tt := range []struct {
		view    string
		holds   []string
		secret  string
		present bool
	}{
		{"api", api, "sk-pool-secret", false},
		{"api", api, "whsec_c2lnbmluZy1zZWNyZXQtb2YtYWNtZS0xMjM0NTY=", false},
		{"api", api, "tenant-secret", true},
		{"api", api, "admin-secret", true},
		{"worker", worker, "tenant-secret", false},
		{"worker", worker, "admin-secret", false},
		{"worker", worker, "sk-pool-secret", true},
		{"worker", worker, "whsec_c2lnbmluZy1zZWNyZXQtb2YtYWNtZS0xMjM0NTY=", true},
	} {
		if got := slices.Contains(tt.holds, tt.secret); got != tt.present {
			t.Errorf("the %s's settings hold %q: %v, want %v", tt.view, tt.secret, got, tt.present)
		}
	}
	a := c.ForAPI()
	if p := a.KeyPools["oai"]; p.Name != "openai" || len(p.Keys) != 1 || p.Keys[0] != (PoolKeyStatus{ID: "k1", MaxConcurrent: 3}) {
		t.Errorf("the api's key pool of oai = %+v", p)
	}
	if !a.Webhooks.Signed["acme"] || a.Webhooks.Signed["other"] {
		t.Errorf("the api's signing tenants = %v, want acme only", a.Webhooks.Signed)
	}
}

// reachableStrings lists every string reachable from v, unexported fields included.
func reachableStrings(v any) []string {
	var out []string
	seen := map[uintptr]bool{}
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			out = append(out, v.String())
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return
			}
			if v.Kind() == reflect.Pointer {
				if seen[v.Pointer()] {
					return
				}
				seen[v.Pointer()] = true
			}
			walk(v.Elem())
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Key())
				walk(it.Value())
			}
		}
	}
	walk(reflect.ValueOf(v))
	return out
}
