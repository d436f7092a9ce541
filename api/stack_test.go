package api_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/api"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/worker"
)

// stack is one api and (optionally) one worker in process, on a private
// Redis, in front of a fake upstream: the bundle each test gets.
type stack struct {
	t        testing.TB
	redis    *testenv.Redis
	rdb      redis.UniversalClient
	upstream *testenv.Upstream
	settings *config.Config
	api      *api.Server
	url      string
	client   *testenv.Client // calls the api at url
	logs     *testenv.Buffer
	worker   *worker.Worker
	// reg holds the api's and the worker's metrics, as in `reliapi dev`.
	reg *prometheus.Registry
}

type stackOptions struct {
	// extraYAML is appended under the top level of the config.
	extraYAML string
	// authYAML configures auth and tenants; default "auth: {mode: open}".
	authYAML string
	// serverYAML is appended under "server".
	serverYAML string
	// env is the environment ${VAR} references in the config read.
	env map[string]string
	// targetYAML is appended under the "up" target.
	targetYAML string
	// noWorker leaves jobs queued until startWorker is called.
	noWorker bool
	// syncTimeout is server.sync_timeout; default 10s.
	syncTimeout string
	// extraTargets is appended under "targets"; %UP% stands for the
	// upstream's URL.
	extraTargets string
}

func newStack(t testing.TB, opt stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, upstream: testenv.StartUpstream(t), logs: &testenv.Buffer{}}
	yaml := fmt.Sprintf(`
server:
  sync_timeout: %s
  max_wait: 10s
  max_body_bytes: 65536
%s
worker:
  concurrency: 16
  task_check_interval: 1ms
  shutdown_timeout: 2s
%s
%s
targets:
  up:
    base_url: %q
    timeout_ms: 5000
    # Tests of other behaviour send failures on purpose and repeat calls;
    # the breaker and the cache have tests of their own.
    circuit: {error_threshold: 1000}
    cache: {enabled: false}
    retry_matrix:
      "429": {attempts: 3, backoff: fixed, base_s: 0.01}
      "5xx": {attempts: 3, backoff: fixed, base_s: 0.01}
      "net": {attempts: 2, backoff: fixed, base_s: 0.01}
%s
%s
`, cmp.Or(opt.syncTimeout, "10s"), indent(opt.serverYAML, "  "), cmp.Or(opt.authYAML, "auth: {mode: open}"), opt.extraYAML, s.upstream.URL, indent(opt.targetYAML, "    "),
		indent(strings.ReplaceAll(opt.extraTargets, "%UP%", s.upstream.URL), "  "))
	settings, err := config.Parse([]byte(yaml), "test.yaml", func(k string) string { return opt.env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s.settings = settings
	client := s.connect()
	t.Cleanup(func() { client.Close() })
	s.rdb = client

	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.reg = prometheus.NewRegistry()
	srv, err := api.New(api.Config{Redis: client, Settings: settings.ForAPI(), Logger: log, Registry: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	t.Cleanup(srv.Stop)
	s.api = srv
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	s.url = hs.URL
	s.client = &testenv.Client{BaseURL: hs.URL}
	if !opt.noWorker {
		s.startWorker()
	}
	return s
}

// onCluster says whether stacks run on a Redis Cluster instead of one
// redis-server: RELIAPI_TEST_REDIS=cluster (make test-cluster) runs the
// whole suite on a 3-master cluster the harness starts for each stack.
var onCluster = os.Getenv("RELIAPI_TEST_REDIS") == "cluster"

// connect starts the stack's Redis (a server, or a cluster) and returns a
// client on it with the short timeouts the service uses (cmd/reliapi's
// redisIOTimeout: a lane pop's pipelined BLPOP waits 1 s within it).
func (s *stack) connect() redis.UniversalClient {
	s.t.Helper()
	opt := &redis.UniversalOptions{
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		DialerRetries: 1, MaxRetries: 1, ContextTimeoutEnabled: true,
	}
	if onCluster {
		opt.Addrs, opt.IsClusterMode = testenv.StartCluster(s.t, 3).Addrs, true
	} else {
		s.redis = testenv.StartRedis(s.t)
		opt.Addrs = []string{s.redis.Addr}
	}
	rdb := redis.NewUniversalClient(opt)
	// As reliapi does at start (prepareRedis).
	if err := luascript.Load(context.Background(), rdb); err != nil {
		s.t.Fatal(err)
	}
	return rdb
}

// needOneServer skips a test that stops or restarts the stack's Redis,
// which a cluster run cannot do the same way.
func (s *stack) needOneServer() {
	if s.redis == nil {
		s.t.Skip("stops and restarts a single redis-server; not run on a cluster")
	}
}

// keys lists the keys matching pattern on every node.
func (s *stack) keys(pattern string) []string {
	s.t.Helper()
	ctx := context.Background()
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, pattern).Result()
		out = append(out, ks...)
		return err
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, c)
		})
	} else {
		err = scan(ctx, s.rdb.(*redis.Client))
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// startWorker starts the stack's worker; cleanup stops it first (before
// the Redis and upstream it uses).
func (s *stack) startWorker() {
	s.t.Helper()
	log := slog.New(slog.NewJSONHandler(s.logs, nil))
	w, err := worker.New(worker.Config{Redis: s.rdb, Settings: s.settings.ForWorker(), Logger: log, Registerer: s.reg})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.worker = w
	s.t.Cleanup(w.Stop)
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// response is an HTTP answer with its body decoded.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request (a JSON body; a string goes as it is) and decodes the
// answer, which must be a JSON object when it has a body.
func (s *stack) do(method, path string, body any, headers ...string) response {
	s.t.Helper()
	r := s.request(method, path, body, headers...)
	if len(r.raw) > 0 && r.body == nil {
		s.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, r.raw)
	}
	return r
}

// raw is do without a body, for answers that may not be JSON.
func (s *stack) raw(method, path string, headers ...string) response {
	s.t.Helper()
	return s.request(method, path, nil, headers...)
}

// request sends a request with the stack's client and fails the test if no
// answer comes.
func (s *stack) request(method, path string, body any, headers ...string) response {
	s.t.Helper()
	r, err := s.client.Send(context.Background(), method, path, body, headers...)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return response{status: r.Status, header: r.Header, raw: r.Raw, body: r.Body}
}

// proxy sends a proxy call for the "up" target.
func (s *stack) proxy(method, path string, headers ...string) response {
	s.t.Helper()
	return s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": method, "path": path}, headers...)
}

// waitJob long-polls a job until it is terminal (bounded).
func (s *stack) waitJob(id string, headers ...string) response {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r := s.do("GET", "/v1/jobs/"+id+"?wait=5", nil, headers...)
		if st := r.body["status"]; st == "succeeded" || st == "failed" || st == "canceled" {
			return r
		}
	}
	s.t.Fatalf("job %s did not finish", id)
	return response{}
}

// eventually polls cond until it holds, failing after a bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, what, cond)
}

// get walks a decoded JSON value: get(m, "meta", "job_id").
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
