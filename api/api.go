package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/rapidapi"
	"github.com/reliapi/reliapi/reliability/breaker"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/reliability/quota"
)

// Config configures a Server.
type Config struct {
	// Redis is the process's shared client; asynq enqueues on it too.
	// Required.
	Redis redis.UniversalClient
	// Settings is the api's part of the configuration
	// (config.Config.ForAPI): no provider key or webhook secret. Required.
	Settings *config.APISettings
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
	// Registry receives the api's metrics and is served on /metrics.
	// Default: a new registry.
	Registry *prometheus.Registry
	// Version is reported by GET /health.
	Version string
	// Runner, when set, runs synchronous calls in this process while it
	// has a free slot (a worker.SyncRunner: see cmd/reliapi); without it,
	// or when its slots are busy, every call goes through the workers.
	Runner Runner
}

// Runner runs the jobs of synchronous calls in the api's own process:
// Submit creates such a job running under the api's claim
// (lifecycle.Submission.Run), and the call waits for its end as it waits
// for a worker's.
type Runner interface {
	// Take takes a slot for one call without waiting; false when all are
	// busy.
	Take() bool
	// Run runs the job on the slot taken, and returns at once; the round
	// trip that creates the job may still be on its way (see
	// lifecycle.Run.Landed).
	Run(*lifecycle.Run)
	// Release gives back a slot taken for a call that made no run.
	Release()
}

// Server is the HTTP front door. Its Handler serves every route.
type Server struct {
	cfg       Config
	log       *slog.Logger
	settings  *config.APISettings
	lifecycle *lifecycle.Manager
	store     *jobs.Store
	waiter    *jobs.Waiter
	gone      *jobs.GoneURLs
	inspector *asynq.Inspector
	metrics   *metrics
	engine    *gin.Engine
	handler   http.Handler
	keys      *keyring
	routing   *routing
	ui        http.Handler
	quota     *quota.Quota
	rapid     *rapidapi.Store

	// targets holds each target's parsed base URL, for path validation.
	targets     map[string]*url.URL
	targetNames []string
	breakers    *breaker.Breakers
	cache       *cache.Cache
	ledger      *budget.Ledger
	// pools are the targets' key pools, for status and re-enabling keys;
	// the api never holds their secrets (its Runner does).
	pools   map[string]*keypool.Pool
	maxBody int64
	// redisTimeout bounds each Redis step of a request, so that an outage
	// answers 503 quickly instead of hanging.
	redisTimeout time.Duration

	draining atomic.Bool
	// handoff ends when waiting synchronous calls must answer 202 now
	// (HandOff): a context, so that each wait can register on it without a
	// goroutine of its own (waitCtx).
	handoff  context.Context
	handOff  context.CancelFunc
	stopOnce sync.Once
}

// New builds a Server. Call Start before serving and Stop after.
func New(cfg Config) (*Server, error) {
	if cfg.Redis == nil || cfg.Settings == nil {
		return nil, errors.New("api: Redis and Settings are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	st := cfg.Settings
	targets, err := parseTargets(st.Targets)
	if err != nil {
		return nil, err
	}
	life, err := lifecycle.New(lifecycle.Config{
		Redis: cfg.Redis, Logger: cfg.Logger, Timeout: st.Jobs.Timeout.Duration, Retention: st.Jobs.Retention.Duration,
		QueueShards: st.QueueShards, BudgetCaps: budgetCaps(st),
	})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		settings:     st,
		lifecycle:    life,
		store:        life.Store(),
		waiter:       jobs.NewWaiter(life.Store(), cfg.Logger),
		gone:         jobs.NewGoneURLs(life.Store(), cfg.Logger),
		inspector:    asynq.NewInspectorFromRedisClient(cfg.Redis),
		targets:      targets,
		targetNames:  sortedNames(targets),
		breakers:     breaker.New(cfg.Redis),
		cache:        cache.New(cfg.Redis),
		ledger:       budget.NewLedger(cfg.Redis),
		maxBody:      st.Server.MaxBodyBytes,
		redisTimeout: 1500 * time.Millisecond,
		keys:         newKeyring(st),
		quota:        quota.New(cfg.Redis),
		rapid:        rapidapi.NewStore(cfg.Redis),
		pools:        statusPools(cfg.Redis, st.KeyPools),
	}
	s.handoff, s.handOff = context.WithCancel(context.Background())
	s.metrics = newMetrics(cfg.Registry, cfg.Redis, s.inspector, st.QueueShards)
	s.routing = newRouting(st, s.targetNames, cfg.Registry)
	cfg.Registry.MustRegister(breakerStates{s}, poolKeys{s})
	if err := s.buildHandler(); err != nil {
		return nil, err
	}
	return s, nil
}

// buildHandler builds the queue UI and routes every path.
func (s *Server) buildHandler() (err error) {
	s.ui = newQueueUI(s.cfg.Redis)
	if s.engine, err = s.routes(); err != nil {
		return err
	}
	s.handler = headAsGet(withCORS(s.engine, s.settings.Server.CORSOrigins))
	return nil
}

// parseTargets parses each target's base URL, for path validation.
func parseTargets(targets map[string]*config.Target) (map[string]*url.URL, error) {
	out := make(map[string]*url.URL, len(targets))
	for name, t := range targets {
		u, err := url.Parse(t.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("api: target %s: base_url: %w", name, err)
		}
		out[name] = u
	}
	return out, nil
}

// statusPools are the targets' key pools, for their status and for
// re-enabling keys; the api never holds their secrets.
func statusPools(rdb redis.UniversalClient, pools map[string]config.PoolStatus) map[string]*keypool.Pool {
	out := make(map[string]*keypool.Pool, len(pools))
	for target, p := range pools {
		keys := make([]keypool.Key, len(p.Keys))
		for i, k := range p.Keys {
			keys[i] = keypool.Key{ID: k.ID, MaxConcurrent: k.MaxConcurrent}
		}
		out[target] = keypool.New(rdb, p.Name, keys, keypool.Settings{})
	}
	return out
}

// Handler serves every route.
func (s *Server) Handler() http.Handler { return s.handler }

// headAsGet answers HEAD as the GET of the same URL, without its body, as
// RFC 9110 asks of every GET resource (probes and monitors use it); Gin
// routes GET alone. The response writer belongs to the HEAD request, so
// net/http sends the headers and drops what the GET handler writes.
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		h.ServeHTTP(w, r)
	})
}

// Start subscribes to job announcements, which synchronous calls wait on,
// and to changes of the webhook URLs gone, which submits check.
func (s *Server) Start(ctx context.Context) {
	s.waiter.Start(ctx)
	s.gone.Start(ctx)
}

// Drain makes /readyz fail, so load balancers stop sending traffic while
// in-flight requests finish. Call it first when shutting down.
func (s *Server) Drain() { s.draining.Store(true) }

// HandOff makes every synchronous call still waiting answer 202 with its
// job at once; the jobs keep running. Call it when the shutdown grace period
// is over. It is safe to call more than once.
func (s *Server) HandOff() { s.handOff() }

// Stop releases the subscriptions. Call it after the HTTP server has shut
// down; it does not close the shared Redis client. It is safe to call more
// than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.Drain()
		s.waiter.Stop()
		s.gone.Stop()
	})
}

// redisCtx bounds one Redis step of a request.
func (s *Server) redisCtx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.redisTimeout)
}

// Routes lists the routes the Handler serves, for tests and docs.
func (s *Server) Routes() gin.RoutesInfo { return s.engine.Routes() }
