package chaos_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
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
	up      *testenv.Upstream
	cfg     string
	env     []string
	api     *testenv.Process
	workers []*testenv.Process
	url     string
}

// callKey is what the upstream counts a call under: the scenario's own
// call ID (the X-Call header) where it sets one, else the call's
// Idempotency-Key, whose successes tell a call that ran twice.
func callKey(r *http.Request) string {
	return cmp.Or(r.Header.Get("X-Call"), r.Header.Get("Idempotency-Key"))
}

// startFleet starts a fleet; up holds more settings of the target "up",
// extraYAML more top-level YAML, redisArgs redis-server's command line
// (persistence is off without them). The upstream answers POST or GET
// /work with 200 {"ok":true} after 2 ms, as real calls take a moment. Its
// jobs.timeout (5 min) outlasts orphanBound: a job a dead worker held must
// still have time to run once asynq recovers it, or it ends as a TIMEOUT
// instead of succeeding.
func startFleet(t *testing.T, workers int, up testenv.Section, extraYAML string, redisArgs ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, redis: testenv.StartRedisWith(t, redisArgs...), up: testenv.StartUpstream(t)}
	f.up.CountBy(callKey)
	f.up.Handle("/work", testenv.Answer(2*time.Millisecond, `{"ok":true}`))
	f.proxy = newTCPProxy(t, f.redis.Addr)
	cfg := testenv.FleetConfig(f.up.URL)
	cfg.Worker["shutdown_timeout"] = "5s"
	cfg.Jobs = testenv.Section{"timeout": "5m"}
	maps.Copy(cfg.Targets["up"], up)
	cfg.Extra = extraYAML
	f.cfg = testenv.WriteConfig(t, cfg)
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

// client calls the fleet's api with its key, giving up on a call after
// timeout.
func (f *fleet) client(timeout time.Duration) *testenv.Client {
	return &testenv.Client{BaseURL: f.url, APIKey: apiKey, HTTP: &http.Client{Timeout: timeout}}
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
