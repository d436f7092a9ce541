package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters only, each a redis-server on a
// free loopback port, started for one test.
type Cluster struct {
	// Addrs are the nodes' addresses, "127.0.0.1:PORT".
	Addrs []string
}

// StartCluster starts masters redis-server processes in cluster mode,
// joins them with `redis-cli --cluster create` (slots spread evenly, no
// replicas), waits until every node reports the cluster ok, and registers
// cleanups that stop them.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("testenv: redis-server is not installed (%v); run `make test`, which installs it", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("testenv: redis-cli is not installed (%v); run `make test`, which installs it", err)
	}
	c := &Cluster{}
	for range masters {
		r, err := startRedis(bin, tb.TempDir(), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		if err != nil {
			tb.Fatalf("testenv: cluster node: %v", err)
		}
		tb.Cleanup(r.Stop)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs {
		node := redis.NewClient(&redis.Options{Addr: addr})
		Eventually(tb, 30*time.Second, "cluster node "+addr+" to report cluster_state:ok", func() bool {
			info, err := node.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		node.Close()
	}
	return c
}

// Client returns a cluster client on c and registers a cleanup that
// closes it.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// StartSentinel starts a Redis Sentinel on a free loopback port that
// watches master under the name masterName (quorum 1), and registers a
// cleanup that stops it. It returns the sentinel's address.
func StartSentinel(tb testing.TB, master *Redis, masterName string) string {
	tb.Helper()
	return startSentinel(tb, master, masterName, 1, "")
}

// StartSentinels starts n Sentinels that watch master under masterName and
// agree on a failover with quorum of them, quick to act as a test needs:
// a master that does not answer for 1 s is down, and a failover not done
// within 3 s is tried again. It registers cleanups that stop them and
// returns their addresses. Wait until they know each other and the
// replicas before a failover (SENTINEL MASTER's num-other-sentinels and
// num-slaves).
func StartSentinels(tb testing.TB, master *Redis, masterName string, n, quorum int) []string {
	tb.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = startSentinel(tb, master, masterName, quorum, fmt.Sprintf("sentinel failover-timeout %s 3000\n", masterName))
	}
	return addrs
}

// startSentinel starts one Sentinel watching master (down after 1 s) with
// quorum and more lines of configuration.
func startSentinel(tb testing.TB, master *Redis, masterName string, quorum int, more string) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("testenv: redis-server is not installed (%v); run `make test`, which installs it", err)
	}
	for attempt := 1; ; attempt++ {
		port, err := FindFreePort()
		if err != nil {
			tb.Fatal(err)
		}
		host, masterPort, _ := net.SplitHostPort(master.Addr)
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nsentinel monitor %s %s %s %d\nsentinel down-after-milliseconds %s 1000\n%s",
			port, dir, masterName, host, masterPort, quorum, masterName, more)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
		p, err := StartProcess("redis sentinel", bin, nil, conf, "--sentinel")
		if err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		err = waitRedisReady(p, port)
		if err == nil {
			tb.Cleanup(p.Kill)
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		p.Kill()
		if !errors.Is(err, errPortInUse) || attempt == redisStartAttempts {
			tb.Fatalf("testenv: redis sentinel: %v", err)
		}
	}
}
