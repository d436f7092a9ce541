package chaos_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

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
// (persistence is off without them). See spec for the rest.
func startFleet(t *testing.T, workers int, up testenv.Section, extraYAML string, redisArgs ...string) *fleet {
	t.Helper()
	return newFleet(t, spec{workers: workers, up: up, extra: extraYAML, redisArgs: redisArgs})
}

// spec is what a scenario's fleet is made of.
type spec struct {
	workers   int             // worker processes reaching Redis through the fleet's proxy
	up        testenv.Section // more settings of the target "up"
	server    testenv.Section // more settings of the server section
	extra     string          // more top-level YAML
	redisArgs []string        // redis-server's command line (persistence is off without them)
	// redis, when set, is the config's redis section (a Sentinel's, say):
	// the fleet starts no Redis and no proxy of its own.
	redis testenv.Section
}

// newFleet starts a fleet as s says. The upstream answers POST or GET
// /work with 200 {"ok":true} after 2 ms, as real calls take a moment. Its
// jobs.timeout (5 min) outlasts orphanBound: a job a dead worker held must
// still have time to run once asynq recovers it, or it ends as a TIMEOUT
// instead of succeeding.
func newFleet(t *testing.T, s spec) *fleet {
	t.Helper()
	f := &fleet{t: t, up: testenv.StartUpstream(t)}
	f.up.CountBy(callKey)
	f.up.Handle("/work", testenv.Answer(2*time.Millisecond, `{"ok":true}`))
	cfg := testenv.FleetConfig(f.up.URL)
	redisAddr := "" // the processes' REDIS_URL, none with a redis section
	if s.redis == nil {
		f.redis = testenv.StartRedisWith(t, s.redisArgs...)
		f.proxy = newTCPProxy(t, f.redis.Addr)
		redisAddr = f.proxy.addr
	}
	cfg.Redis = s.redis
	cfg.Worker["shutdown_timeout"] = "5s"
	cfg.Jobs = testenv.Section{"timeout": "5m"}
	maps.Copy(cfg.Targets["up"], s.up)
	maps.Copy(cfg.Server, s.server)
	cfg.Extra = s.extra
	f.cfg = testenv.WriteConfig(t, cfg)
	f.env = append(os.Environ(), "RELIAPI_API_KEY="+apiKey, "LOG_LEVEL=error")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	f.api = testenv.StartReliAPI(t, "api", f.redisEnv(redisAddr), "api", "--config", f.cfg, "--listen", addr)
	f.url = "http://" + addr
	testenv.WaitReady(t, f.url+"/readyz", f.api)
	for range s.workers {
		f.workers = append(f.workers, f.startWorker(redisAddr))
	}
	return f
}

// redisEnv is the fleet's environment with REDIS_URL on the Redis at
// addr (the fleet's proxy, or one of a worker's own); "" leaves it out.
func (f *fleet) redisEnv(addr string) []string {
	if addr == "" {
		return slices.Clone(f.env)
	}
	return append(slices.Clone(f.env), "REDIS_URL=redis://"+addr+"/0")
}

// startWorker starts one more worker process, reaching Redis at
// redisAddr, with env (NAME=value) added to the fleet's environment, and
// waits until it is ready.
func (f *fleet) startWorker(redisAddr string, env ...string) *testenv.Process {
	f.t.Helper()
	waddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(f.t))
	name := fmt.Sprintf("worker-%d", len(f.workers))
	w := testenv.StartReliAPI(f.t, name, append(f.redisEnv(redisAddr), env...), "worker", "--config", f.cfg, "--metrics-listen", waddr)
	testenv.WaitReady(f.t, "http://"+waddr+"/readyz", w)
	return w
}

// client calls the fleet's api with its key, giving up on a call after
// timeout.
func (f *fleet) client(timeout time.Duration) *testenv.Client {
	return &testenv.Client{BaseURL: f.url, APIKey: apiKey, HTTP: &http.Client{Timeout: timeout}}
}

// whereIs says what Redis holds of a job that did not end: its record's
// status, attempts and task, and that task's state in asynq ("missing"
// when asynq has no such task), read straight from the fleet's Redis.
func (f *fleet) whereIs(id string) string {
	return whereIs(f.redis.Client(f.t), id)
}

// whereIs is fleet.whereIs on the Redis rdb.
func whereIs(rdb *redis.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
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
