package testenv

import (
	"os"
	"testing"
)

func TestConfigYAML(t *testing.T) {
	t.Parallel()

	c := FleetConfig("http://127.0.0.1:9")
	c.Worker["shutdown_timeout"] = "5s"
	c.Targets["up"]["cache"] = "{enabled: false}"
	c.Targets["other"] = Section{"base_url": `"http://127.0.0.1:10"`}
	c.Tenants = map[string]Section{"small": {"tier": "pro", "api_keys": `[{key: "${SMALL_KEY}"}]`}}
	c.Extra = "\nwebhooks:\n  allow_private_networks: true\n"
	want := `server:
  sync_timeout: 20s
worker:
  concurrency: 32
  shutdown_timeout: 5s
  task_check_interval: 2ms
targets:
  other:
    base_url: "http://127.0.0.1:10"
  up:
    base_url: "http://127.0.0.1:9"
    cache: {enabled: false}
tenants:
  small:
    api_keys: [{key: "${SMALL_KEY}"}]
    tier: pro
webhooks:
  allow_private_networks: true
`
	if got := c.YAML(); got != want {
		t.Fatalf("YAML() =\n%s\nwant\n%s", got, want)
	}
	path := WriteConfig(t, c)
	if data, err := os.ReadFile(path); err != nil || string(data) != want {
		t.Fatalf("WriteConfig wrote %q (%v)", data, err)
	}
}
