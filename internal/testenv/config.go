package testenv

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Section is one block of a reliapi config: each setting's YAML value, a
// scalar or flow text such as "{enabled: false}" or `[{key: "${KEY}"}]`,
// written as it is (quote a string YAML would read otherwise).
type Section map[string]string

// Config is the YAML config a test fleet or the benchmark runs its api and
// worker processes with. Maps keep it easy to change one setting of a
// shared base (see FleetConfig); YAML renders it.
type Config struct {
	// Server, Redis, Worker and Jobs are the settings of those sections;
	// an empty one is left out.
	Server, Redis, Worker, Jobs Section
	// Targets maps a target's name to its settings, base_url among them.
	Targets map[string]Section
	// Tenants maps a tenant's name to its settings: tier, limits and
	// api_keys.
	Tenants map[string]Section
	// Extra is more top-level YAML (auth, webhooks, budget,
	// provider_key_pools...), appended as it is.
	Extra string
}

// FleetConfig returns the base the multi-process tests share: the target
// "up" on upstreamURL, synchronous calls that wait up to 20 s, and a worker
// that runs 32 jobs at once and looks for new ones every 2 ms, so that
// tests do not wait on polling.
func FleetConfig(upstreamURL string) Config {
	return Config{
		Server:  Section{"sync_timeout": "20s"},
		Worker:  Section{"concurrency": "32", "task_check_interval": "2ms"},
		Targets: map[string]Section{"up": {"base_url": fmt.Sprintf("%q", upstreamURL)}},
	}
}

// YAML renders c: its sections in a fixed order, each one's settings, and
// its targets and tenants, sorted by name.
func (c Config) YAML() string {
	var b strings.Builder
	for _, s := range []struct {
		name     string
		settings Section
	}{{"server", c.Server}, {"redis", c.Redis}, {"worker", c.Worker}, {"jobs", c.Jobs}} {
		if len(s.settings) > 0 {
			b.WriteString(s.name + ":\n")
			writeSection(&b, s.settings, "  ")
		}
	}
	for _, s := range []struct {
		name  string
		named map[string]Section
	}{{"targets", c.Targets}, {"tenants", c.Tenants}} {
		if len(s.named) == 0 {
			continue
		}
		b.WriteString(s.name + ":\n")
		for _, name := range slices.Sorted(maps.Keys(s.named)) {
			b.WriteString("  " + name + ":\n")
			writeSection(&b, s.named[name], "    ")
		}
	}
	if c.Extra != "" {
		b.WriteString(strings.Trim(c.Extra, "\n") + "\n")
	}
	return b.String()
}

// writeSection writes one "key: value" line per setting, sorted, each
// after indent.
func writeSection(b *strings.Builder, s Section, indent string) {
	for _, k := range slices.Sorted(maps.Keys(s)) {
		b.WriteString(indent + k + ": " + s[k] + "\n")
	}
}

// Write writes c's YAML to the file at path.
func (c Config) Write(path string) error {
	return os.WriteFile(path, []byte(c.YAML()), 0o600)
}

// WriteConfig writes c to config.yaml in a temporary directory of the
// test's and returns the file's path.
func WriteConfig(tb testing.TB, c Config) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "config.yaml")
	if err := c.Write(path); err != nil {
		tb.Fatalf("testenv: writing the config: %v", err)
	}
	return path
}
