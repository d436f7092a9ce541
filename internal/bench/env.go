package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
)

// readyTimeout bounds every wait for something to come up.
const readyTimeout = 20 * time.Second

// env is the running system under test and the client side of it.
type env struct {
	dir      string // temporary files: config, redis working dir
	redis    *testenv.Redis
	rdb      *redis.Client // the bench's own connection, for INFO
	upstream *testenv.Upstream
	llm      *fakeProvider
	hooks    *hookReceiver
	api      *testenv.Process
	worker   *testenv.Process // the worker of every phase but scaling
	// scaleWorkers are the workers of the scaling run under way.
	scaleWorkers []*testenv.Process
	bin          string   // the reliapi binary
	cfgPath      string   // the config of the api and the worker
	childEnv     []string // the environment of the reliapi processes
	apiURL       string
	client       *http.Client    // keep-alive client for the api, the upstream and the LLM provider
	apiClient    *testenv.Client // calls the api with benchAPIKey through client
	pids         [4]int          // processes whose CPU is measured, in cpuProcs order
	rep          report

	cleanups []func() // run in reverse order by close
}

// setup starts redis-server, the upstream, and one api and one worker
// process, and waits until they serve. On error it stops what it started.
func setup(ctx context.Context, o options) (e *env, err error) {
	e = &env{client: newClient(64)}
	defer func() {
		if err != nil {
			err = e.withLogs(err)
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "reliapi-bench-"); err != nil {
		return e, err
	}
	e.defer_(func() { os.RemoveAll(e.dir) })

	if e.redis, err = testenv.StartRedisProcess(e.dir); err != nil {
		return e, err
	}
	e.defer_(e.redis.Stop)
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	e.defer_(func() { e.rdb.Close() })

	if e.upstream, err = startUpstream(); err != nil {
		return e, err
	}
	e.defer_(e.upstream.Close)
	if e.llm, err = startFakeProvider(); err != nil {
		return e, err
	}
	e.defer_(e.llm.close)
	if e.hooks, err = startHookReceiver(); err != nil {
		return e, err
	}
	e.defer_(e.hooks.close)

	buildStart := time.Now()
	if e.bin = o.binary; e.bin == "" {
		if e.bin, err = testenv.BuildBinary(); err != nil {
			return e, err
		}
		e.defer_(testenv.RemoveBinary)
	}
	e.rep.buildTime = time.Since(buildStart)

	cfg := benchConfig(e.upstream.URL, e.llm.url, o.concurrency)
	e.rep.config = cfg.YAML()
	e.cfgPath = filepath.Join(e.dir, "config.yaml")
	if err := cfg.Write(e.cfgPath); err != nil {
		return e, err
	}
	if err := e.startReliAPI(ctx, e.cfgPath); err != nil {
		return e, err
	}
	if err := e.cpuPIDs(ctx); err != nil {
		return e, err
	}
	e.rep.machine, err = machineInfo(ctx, e.rdb)
	e.rep.opts = o
	return e, err
}

// startReliAPI starts `reliapi api` and `reliapi worker` and waits until
// both are ready.
func (e *env) startReliAPI(ctx context.Context, cfgPath string) error {
	port, err := testenv.FindFreePort()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	e.apiURL = "http://" + addr
	e.apiClient = &testenv.Client{BaseURL: e.apiURL, APIKey: benchAPIKey, HTTP: e.client}
	e.childEnv = append(os.Environ(),
		"REDIS_URL="+e.redis.URL(),
		"LOG_LEVEL=error",
		"RELIAPI_CONFIG="+cfgPath,
		llmKeyEnv+"=sk-bench",
		"RELIAPI_API_KEY="+benchAPIKey,
	)
	if e.api, err = testenv.StartProcess("api", e.bin, e.childEnv, "api", "--listen", addr); err != nil {
		return err
	}
	e.defer_(e.api.Kill)
	if err := testenv.AwaitReady(ctx, e.apiURL+"/readyz", e.api, readyTimeout); err != nil {
		return err
	}
	e.worker, err = e.startWorker(ctx, "worker", cfgPath)
	return err
}

// startWorker starts one `reliapi worker` with the config at cfgPath and
// waits until its side port says it is ready.
func (e *env) startWorker(ctx context.Context, name, cfgPath string) (*testenv.Process, error) {
	port, err := testenv.FindFreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// The last RELIAPI_CONFIG in the list is the one the process sees.
	w, err := testenv.StartProcess(name, e.bin, append(slices.Clip(e.childEnv), "RELIAPI_CONFIG="+cfgPath), "worker", "--metrics-listen", addr)
	if err != nil {
		return nil, err
	}
	e.defer_(w.Kill)
	return w, testenv.AwaitReady(ctx, "http://"+addr+"/readyz", w, readyTimeout)
}

// workers are the worker processes running now.
func (e *env) workers() []*testenv.Process {
	if len(e.scaleWorkers) > 0 {
		return e.scaleWorkers
	}
	return []*testenv.Process{e.worker}
}

// benchConfig is config.example.yaml's shape with a target, "bench", on
// the local upstream, "cached" for the cache phase, and "llm" on the fake
// OpenAI provider, and the fair-share phase's tenants. Caching is off on
// the others so that every call reaches the worker and the upstream, which
// is what is measured.
// The worker's intervals are the product's defaults: what a user runs.
func benchConfig(upstreamURL, llmURL string, workerConcurrency int) testenv.Config {
	return testenv.Config{
		Server: testenv.Section{"sync_timeout": "30s", "max_wait": "60s"},
		Redis:  testenv.Section{"url": `"${REDIS_URL:-}"`},
		Worker: testenv.Section{
			"concurrency":      strconv.Itoa(workerConcurrency),
			"shutdown_timeout": "5s",
			"metrics_listen":   `"127.0.0.1:0"`,
		},
		Jobs: testenv.Section{"retention": "1h", "timeout": "1m"},
		Targets: map[string]testenv.Section{
			"bench":  {"base_url": fmt.Sprintf("%q", upstreamURL), "timeout_ms": "5000", "cache": "{enabled: false}"},
			"cached": {"base_url": fmt.Sprintf("%q", upstreamURL), "cache": "{ttl_s: 3600}"},
			"llm": {
				"base_url": fmt.Sprintf("%q", llmURL+"/openai/v1"),
				"llm":      "{provider: openai, default_model: gpt-4o-mini}",
				"auth":     fmt.Sprintf("{type: bearer_env, env_var: %s}", llmKeyEnv),
			},
		},
		Tenants: benchTenants(),
		Extra: fmt.Sprintf(`webhooks:
  # The receiver listens on loopback.
  allow_private_networks: true
  secrets: {default: [%q]}
`, benchSecret),
	}
}

// clientFor is the api's client for the tenant whose API key is key; the
// default tenant's when key is empty.
func (e *env) clientFor(key string) *testenv.Client {
	if key == "" {
		return e.apiClient
	}
	return &testenv.Client{BaseURL: e.apiURL, APIKey: key, HTTP: e.client}
}

// defer_ registers f to run when the environment closes.
func (e *env) defer_(f func()) { e.cleanups = append(e.cleanups, f) }

// close stops everything setup started, newest first.
func (e *env) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// withLogs appends the child processes' output to err: with LOG_LEVEL=error
// it holds exactly what went wrong inside them.
func (e *env) withLogs(err error) error {
	for _, p := range append([]*testenv.Process{e.api, e.worker}, e.scaleWorkers...) {
		if p != nil {
			if out := p.Output(); out != "" {
				err = fmt.Errorf("%w\n--- reliapi %s output (tail) ---\n%s", err, p.Name, out)
			}
		}
	}
	return err
}

// newClient is a keep-alive HTTP client that keeps conns idle connections
// per host, so that concurrent load reuses connections instead of paying a
// TCP handshake (Go's default keeps only 2 per host).
func newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * conns
	t.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: time.Minute}
}

// benchAPIKey is the api's key in the benchmark (RELIAPI_API_KEY: the
// tenant "default" on the enterprise tier, so no limit applies).
const benchAPIKey = "bench-key-of-the-default-tenant"

// upstreamBody is the small JSON answer of the upstream's GET /get.
var upstreamBody = []byte(`{"ok":true,"service":"bench-upstream"}`)

// startUpstream starts the local HTTP server every call ends at: its GET
// /get answers upstreamBody at once (after SetDelay's delay in the scaling
// runs), and it counts calls per "phase" query parameter, so that a phase
// can check that each of its requests reached it exactly once.
func startUpstream() (*testenv.Upstream, error) {
	u, err := testenv.NewUpstream()
	if err != nil {
		return nil, err
	}
	u.CountBy(func(r *http.Request) string { return r.URL.Query().Get("phase") })
	u.Handle("/get", testenv.Answer(0, string(upstreamBody)))
	return u, nil
}
