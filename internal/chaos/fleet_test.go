package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// apiKey is the fleet's RELIAPI_API_KEY.
const apiKey = "chaos-key"

// fleet is redis-server behind a TCP proxy (to cut it), an upstream whose
// failures the scenario sets, one api and some workers.
type fleet struct {
	t       *testing.T
	redis   *testenv.Redis
	proxy   *tcpProxy
	up      *upstream
	cfg     string
	env     []string
	api     *testenv.Process
	workers []*testenv.Process
	url     string
}

// startFleet starts a fleet; targetYAML goes under the target "up",
// extraYAML at the top level, redisArgs on redis-server's command line
// (persistence is off without them). Its jobs.timeout (5 min) outlasts
// orphanBound: a job a dead worker held must still have time to run once
// asynq recovers it, or it ends as a TIMEOUT instead of succeeding.
func startFleet(t *testing.T, workers int, targetYAML, extraYAML string, redisArgs ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, redis: testenv.StartRedisWith(t, redisArgs...), up: newUpstream(t)}
	f.proxy = newTCPProxy(t, f.redis.Addr)
	f.cfg = filepath.Join(t.TempDir(), "config.yaml")
	yaml := fmt.Sprintf(`server:
  sync_timeout: 20s
worker:
  concurrency: 32
  task_check_interval: 2ms
  shutdown_timeout: 5s
jobs:
  timeout: 5m
targets:
  up:
    base_url: %q
%s
%s
`, f.up.url, targetYAML, extraYAML)
	if err := os.WriteFile(f.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	f.env = append(os.Environ(), "REDIS_URL=redis://"+f.proxy.addr+"/0", "RELIAPI_API_KEY="+apiKey, "LOG_LEVEL=error")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	f.api = testenv.StartReliAPI(t, "api", f.env, "api", "--config", f.cfg, "--listen", addr)
	f.url = "http://" + addr
	testenv.WaitReady(t, f.url+"/readyz", f.api)
	for i := range workers {
		waddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		w := testenv.StartReliAPI(t, fmt.Sprintf("worker-%d", i), f.env, "worker", "--config", f.cfg, "--metrics-listen", waddr)
		testenv.WaitReady(t, "http://"+waddr+"/readyz", w)
		f.workers = append(f.workers, w)
	}
	return f
}

// tcpProxy forwards connections to a Redis and can cut them all and
// refuse new ones for a while: Redis unreachable, its data intact.
type tcpProxy struct {
	addr   string
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *tcpProxy) serve(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut closes every connection; with down set, new ones are refused too.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// outage makes Redis unreachable for d.
func (p *tcpProxy) outage(ctx context.Context, d time.Duration) {
	p.down.Store(true)
	p.cut()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	p.down.Store(false)
}

// whereIs says what Redis holds of a job that did not end: its record's
// status, attempts and task, and that task's state in asynq ("missing"
// when asynq has no such task), read straight from the fleet's Redis.
func (f *fleet) whereIs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rdb := f.redis.Client(f.t)
	j, err := jobs.NewStore(rdb, jobs.Config{}).Lookup(ctx, id)
	if errors.Is(err, reliapi.ErrNotFound) {
		return "no record"
	}
	if err != nil {
		return "record unreadable: " + err.Error()
	}
	task := "missing"
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(j.Queue, j.TaskID)
	switch {
	case err == nil:
		task = fmt.Sprintf("%s (retried %d, last error %q)", info.State, info.Retried, info.LastErr)
	case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
		task = "unreadable: " + err.Error()
	}
	return fmt.Sprintf("record %s, attempts %d, started %t; task %s in %s %s", j.Status, j.Attempts, !j.StartedAt.IsZero(), j.TaskID, j.Queue, task)
}
