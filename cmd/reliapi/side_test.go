package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/testenv"
)

// TestWorkersShareOneHost starts three workers with no metrics address set
// on one machine: each serves its health on an address of its own on
// loopback (the first may get config.DefaultMetricsListen, if nothing else
// holds it; the others take free ports). A worker told to use an address
// that is taken, by flag or config, refuses to start and says why. The test
// works whether or not something else holds the default port, and leaves
// nothing listening.
func TestWorkersShareOneHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	r := testenv.StartRedis(t)
	env := []string{"REDIS_URL=" + r.URL()}
	cfg := fleetConfig("http://127.0.0.1:1")
	path := testenv.WriteConfig(t, cfg)

	workers := make([]*testenv.Process, 3)
	for i := range workers {
		workers[i] = startProc(t, fmt.Sprintf("worker-%d", i), env, "worker", "--config", path)
	}
	addrs := make([]string, len(workers))
	for i, w := range workers {
		addrs[i] = startedAddr(t, w)
		if host, _, _ := net.SplitHostPort(addrs[i]); host != "127.0.0.1" {
			t.Errorf("%s serves metrics on %s, not on loopback", w.Name, addrs[i])
		}
		for j := range i {
			if addrs[j] == addrs[i] {
				t.Fatalf("%s and %s both say they serve metrics on %s", workers[j].Name, w.Name, addrs[i])
			}
		}
		testenv.WaitReady(t, "http://"+addrs[i]+"/readyz", w)
		moved := strings.Contains(w.Output(), "the default metrics address is taken")
		if moved == (addrs[i] == config.DefaultMetricsListen) {
			t.Errorf("%s serves on %s, and says it moved off the default: %v", w.Name, addrs[i], moved)
		}
	}

	// An address someone set is kept, and a taken one stops the worker:
	// here worker-0's, given by flag, then by the config.
	cfg.Worker["metrics_listen"] = fmt.Sprintf("%q", addrs[0])
	for name, args := range map[string][]string{
		"flag":   {"worker", "--config", path, "--metrics-listen", addrs[0]},
		"config": {"worker", "--config", testenv.WriteConfig(t, cfg)},
	} {
		p := startProc(t, "worker-taken-by-"+name, env, args...)
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("a worker whose %s names a taken address is still running:\n%s", name, p.Output())
		}
		out := p.Output()
		if p.Exited() == nil || !strings.Contains(out, "worker metrics: listening on "+addrs[0]) || !strings.Contains(out, "address already in use") {
			t.Errorf("a worker whose %s names a taken address: %v\n%s", name, p.Exited(), out)
		}
	}

	for i, w := range workers {
		terminate(t, w)
		if c, err := net.DialTimeout("tcp", addrs[i], time.Second); err == nil {
			c.Close()
			t.Errorf("%s's %s still accepts connections after it exited", w.Name, addrs[i])
		}
	}
}

// startedAddr waits for p's "worker started" log line and returns the
// metrics address it names.
func startedAddr(t *testing.T, p *testenv.Process) string {
	t.Helper()
	var addr string
	err := testenv.Poll(context.Background(), 30*time.Second, p.Name+" to log that it started", func(context.Context) error {
		for line := range strings.Lines(p.Output()) {
			var entry struct {
				Msg         string `json:"msg"`
				MetricsAddr string `json:"metrics_addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "worker started" {
				addr = entry.MetricsAddr
				return nil
			}
		}
		if err := p.Exited(); err != nil {
			return testenv.Permanent(err)
		}
		return errors.New("not yet")
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	return addr
}
