package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigPath: --config, then RELIAPI_CONFIG_PATH (the seed's name),
// then RELIAPI_CONFIG, then config.yaml; an empty one counts as unset.
func TestConfigPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"nothing set", "", nil, "config.yaml"},
		{"RELIAPI_CONFIG", "", map[string]string{"RELIAPI_CONFIG": "b.yaml"}, "b.yaml"},
		{"RELIAPI_CONFIG_PATH", "", map[string]string{"RELIAPI_CONFIG_PATH": "a.yaml"}, "a.yaml"},
		{"RELIAPI_CONFIG_PATH before RELIAPI_CONFIG", "", map[string]string{"RELIAPI_CONFIG_PATH": "a.yaml", "RELIAPI_CONFIG": "b.yaml"}, "a.yaml"},
		{"an empty RELIAPI_CONFIG_PATH is unset", "", map[string]string{"RELIAPI_CONFIG_PATH": "", "RELIAPI_CONFIG": "b.yaml"}, "b.yaml"},
		{"an empty RELIAPI_CONFIG is unset", "", map[string]string{"RELIAPI_CONFIG": ""}, "config.yaml"},
		{"the flag wins", "f.yaml", map[string]string{"RELIAPI_CONFIG_PATH": "a.yaml", "RELIAPI_CONFIG": "b.yaml"}, "f.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tt.env[k] }
			if got := configPath(tt.flag, getenv); got != tt.want {
				t.Errorf("configPath = %q, want %q", got, tt.want)
			}
			if got := opsOptions(tt.flag, getenv).configPath; got != tt.want {
				t.Errorf("operator commands' config path = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServeReadsRELIAPI_CONFIG_PATH: a service role loads the file
// RELIAPI_CONFIG_PATH names, not RELIAPI_CONFIG's (neither exists here, so
// the error names the one it tried).
func TestServeReadsRELIAPI_CONFIG_PATH(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"RELIAPI_CONFIG_PATH": filepath.Join(dir, "path.yaml"), "RELIAPI_CONFIG": filepath.Join(dir, "config.yaml")}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"worker"}, func(k string) string { return env[k] }, nil, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "path.yaml") || strings.Contains(errOut.String(), "config.yaml") {
		t.Fatalf("exit %d, stderr %q; want 1 and an error about path.yaml", code, errOut.String())
	}
}
