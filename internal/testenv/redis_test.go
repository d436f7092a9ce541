package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisStopRestart(t *testing.T) {
	t.Parallel()

	r := StartRedis(t)
	if _, port, _ := net.SplitHostPort(r.Addr); port == "6379" {
		t.Fatal("StartRedis used the shared Redis port 6379")
	}
	opt, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", r.URL(), err)
	}
	if opt.Addr != r.Addr || opt.DB != 0 {
		t.Fatalf("URL() = %q, want address %s and database 0", r.URL(), r.Addr)
	}

	c := r.Client(t)
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(t.Context(), "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}

	addr := r.Addr
	r.Stop()
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Fatal("PING after Stop succeeded, want an error")
	}
	if _, err := probeRedis(addr); err == nil {
		t.Fatal("probe after Stop succeeded, want an error")
	}
	r.Stop() // Stopping twice is allowed.

	r.Restart(t)
	if r.Addr != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, r.Addr)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if err := c.Get(t.Context(), "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after Restart = %v, want redis.Nil (a restarted server starts empty)", err)
	}

	r.Restart(t) // Restarting a running server replaces it.
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after a second Restart: %v", err)
	}
}

func TestRedisRestartReplaysAOF(t *testing.T) {
	t.Parallel()

	r := StartRedisWith(t, "--appendonly", "yes", "--appendfsync", "everysec")
	c := r.Client(t)
	dir, err := filepath.EvalSymlinks(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"appendonly": "yes", "appendfsync": "everysec", "dir": dir} {
		got, err := c.ConfigGet(t.Context(), name).Result()
		if err != nil || got[name] != want {
			t.Fatalf("CONFIG GET %s = %v, %v; want %q", name, got, err, want)
		}
	}

	const value = "written-before-the-crash"
	if err := c.Set(t.Context(), "k", value, 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	// Redis writes the AOF before it replies, so the SET is in the file (in
	// the kernel's cache, which a SIGKILL leaves alone) by now; poll rather
	// than assume, since a slow fsync may postpone the write.
	Eventually(t, 5*time.Second, "the SET to reach an append-only file in "+r.dir, func() bool {
		return aofHolds(t, r.dir, value)
	})

	r.Stop()
	r.Restart(t)
	if got, err := c.Get(t.Context(), "k").Result(); err != nil || got != value {
		t.Fatalf("GET after Stop and Restart = %q, %v; want %q replayed from the AOF", got, err, value)
	}
}

// aofHolds reports whether an append-only file under dir contains s.
func aofHolds(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(d.Name(), ".aof") {
			return err
		}
		data, err := os.ReadFile(path)
		found = found || bytes.Contains(data, []byte(s))
		return err
	})
	if err != nil {
		t.Fatalf("reading the append-only files: %v", err)
	}
	return found
}

func TestStartRedisConcurrently(t *testing.T) {
	t.Parallel()

	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (%v); run `make test`, which installs it", err)
	}
	const n = 4
	type result struct {
		r   *Redis
		err error
	}
	results := make(chan result, n)
	for range n {
		dir := t.TempDir()
		go func() {
			r, err := startRedis(bin, dir)
			results <- result{r, err}
		}()
	}
	seen := make(map[string]bool)
	var errs []error
	for range n {
		res := <-results
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		t.Cleanup(res.r.Stop)
		if seen[res.r.Addr] {
			t.Errorf("two servers share %s", res.r.Addr)
		}
		seen[res.r.Addr] = true
		pid, err := probeRedis(res.r.Addr)
		if err != nil || pid != res.r.proc.Pid() {
			t.Errorf("%s answered pid %d, %v; want our process %d", res.r.Addr, pid, err, res.r.proc.Pid())
		}
	}
	if len(errs) > 0 {
		t.Fatalf("starting servers: %v", errors.Join(errs...))
	}
}

func TestRestartWhilePortIsTaken(t *testing.T) {
	t.Parallel()

	// A second server on the port makes our restart fail to bind; it must
	// report the taken port rather than adopt the other server.
	a := StartRedis(t)
	a.Stop()
	other, err := startRedisProcess(a.bin, t.TempDir(), portOf(t, a))
	if err != nil {
		t.Fatalf("starting a squatter on %s: %v", a.Addr, err)
	}
	t.Cleanup(other.Kill)

	_, portErr := startRedisProcess(a.bin, a.dir, portOf(t, a))
	if !errors.Is(portErr, errPortInUse) {
		t.Fatalf("starting on a taken port = %v, want errPortInUse", portErr)
	}
}

func portOf(t *testing.T, r *Redis) int {
	t.Helper()
	port, err := r.port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	cc := c.Client(t)
	ctx := context.Background()
	// Keys in every slot range are served.
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		if err := cc.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil || len(shards) != 3 {
		t.Fatalf("shards: %d %v", len(shards), err)
	}
}
