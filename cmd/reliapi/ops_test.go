package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOperatorCommands runs each operator command against the Redis of a
// running api, on jobs the api accepted (no worker, so they stay queued).
func TestOperatorCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Parallel()
	c := startCluster(t, 1, 0, nil)
	var ids []string
	for range 2 {
		status, job := call(t, http.DefaultClient, "POST", c.apis[0]+"/v1/jobs",
			map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}})
		if status != 202 {
			t.Fatalf("submit: %d %v", status, job)
		}
		ids = append(ids, job["id"].(string))
	}
	env := map[string]string{"REDIS_URL": c.redis.URL(), "RELIAPI_API_KEY": testAPIKey}
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), append(args, "--config", c.cfg), func(k string) string { return env[k] }, nil, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	if code, out, errOut := cli("jobs", "list"); code != 0 || !strings.Contains(out, ids[0]) || !strings.Contains(out, ids[1]) || !strings.Contains(out, "queued") {
		t.Errorf("jobs list: %d\n%s%s", code, out, errOut)
	}
	code, out, _ := cli("jobs", "list", "--json", "--status", "queued")
	var list struct{ Data []map[string]any }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Data) != 2 {
		t.Errorf("jobs list --json: %d %s", code, out)
	}
	if code, out, errOut := cli("jobs", "get", ids[0]); code != 0 || !strings.Contains(out, ids[0]) || !strings.Contains(out, "STATUS") {
		t.Errorf("jobs get: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli("jobs", "get", ids[0], "--tenant", "someone-else"); code != 1 || !strings.Contains(errOut, "JOB_NOT_FOUND") {
		t.Errorf("jobs get of another tenant: %d %s", code, errOut)
	}
	if code, out, errOut := cli("jobs", "cancel", ids[0]); code != 0 || !strings.Contains(out, "canceled") {
		t.Errorf("jobs cancel: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli("jobs", "retry", ids[0]); code != 1 || !strings.Contains(errOut, "has ended") {
		t.Errorf("jobs retry of a canceled job: %d %s", code, errOut)
	}
	if code, out, errOut := cli("jobs", "retry", ids[1]); code != 0 || !strings.Contains(out, "queued") {
		t.Errorf("jobs retry of a queued job: %d\n%s%s", code, out, errOut)
	}
	// Both jobs still wait in the async lane (the canceled one until a
	// worker pops its entry and skips it), as the default tenant's.
	if code, out, errOut := cli("queues", "stats"); code != 0 || !strings.Contains(out, "async") || !strings.Contains(out, "PENDING") ||
		!strings.Contains(out, "READY ASYNC") || !regexp.MustCompile(`(?m)^default\s+enterprise\s+0\s+2\s+0\s*$`).MatchString(out) {
		t.Errorf("queues stats: %d\n%s%s", code, out, errOut)
	}
	code, out, _ = cli("queues", "stats", "--json")
	var stats struct {
		Data    []map[string]any
		Tenants []map[string]any
	}
	if code != 0 || json.Unmarshal([]byte(out), &stats) != nil || len(stats.Data) == 0 || len(stats.Tenants) != 1 ||
		stats.Tenants[0]["tenant"] != "default" || stats.Tenants[0]["ready_async"] != 2.0 || stats.Tenants[0]["running"] != 0.0 {
		t.Errorf("queues stats --json: %d %s", code, out)
	}
	if code, out, errOut := cli("targets"); code != 0 || !strings.Contains(out, "up") || !strings.Contains(out, "closed") {
		t.Errorf("targets: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli("jobs", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown subcommand: %d %s", code, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("targets:\n  a:\n    base_url: ftp://x\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "../../config.example.yaml"}, os.Getenv, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ok — 3 targets") {
		t.Errorf("config check of the example: %d %s %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"config", "check", bad}, os.Getenv, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "targets.a.base_url") {
		t.Errorf("config check of a bad file: %d %s", code, errOut.String())
	}
}
