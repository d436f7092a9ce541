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
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
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
}

// Server is the HTTP front door. Its Handler serves every route.
type Server struct {
	cfg       Config
	log       *slog.Logger
	settings  *config.APISettings
	lifecycle *lifecycle.Manager
	store     *jobs.Store
	waiter    *jobs.Waiter
	inspector *asynq.Inspector
	metrics   *metrics
	engine    *gin.Engine
	handler   http.Handler
	keys      *keyring
	docs      *apiDocs
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
	// the api never holds their secrets.
	pools   map[string]*keypool.Pool
	maxBody int64
	// redisTimeout bounds each Redis step of a request, so that an outage
	// answers 503 quickly instead of hanging.
	redisTimeout time.Duration

	draining atomic.Bool
	// handoff is closed when waiting synchronous calls must answer 202 now.
	handoff     chan struct{}
	handoffOnce sync.Once
	stopOnce    sync.Once
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
	targets := make(map[string]*url.URL, len(st.Targets))
	for name, t := range st.Targets {
		u, err := url.Parse(t.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("api: target %s: base_url: %w", name, err)
		}
		targets[name] = u
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
		inspector:    asynq.NewInspectorFromRedisClient(cfg.Redis),
		targets:      targets,
		targetNames:  sortedNames(targets),
		breakers:     breaker.New(cfg.Redis),
		cache:        cache.New(cfg.Redis),
		ledger:       budget.NewLedger(cfg.Redis),
		maxBody:      st.Server.MaxBodyBytes,
		redisTimeout: 1500 * time.Millisecond,
		handoff:      make(chan struct{}),
		keys:         newKeyring(st),
		quota:        quota.New(cfg.Redis),
		rapid:        rapidapi.NewStore(cfg.Redis),
	}
	s.pools = map[string]*keypool.Pool{}
	for target, p := range st.KeyPools {
		keys := make([]keypool.Key, len(p.Keys))
		for i, k := range p.Keys {
			keys[i] = keypool.Key{ID: k.ID, MaxConcurrent: k.MaxConcurrent}
		}
		s.pools[target] = keypool.New(cfg.Redis, p.Name, keys, keypool.Settings{})
	}
	s.metrics = newMetrics(cfg.Registry, s.inspector, st.QueueShards)
	cfg.Registry.MustRegister(breakerStates{s}, poolKeys{s})
	docs, err := loadDocs()
	if err != nil {
		return nil, err
	}
	s.docs = docs
	s.ui = newQueueUI(cfg.Redis)
	engine, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.engine = engine
	s.handler = headAsGet(withCORS(engine, st.Server.CORSOrigins))
	return s, nil
}

func (s *Server) routes() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// The client IP is the socket's peer, unless the peer is a trusted
	// proxy: then X-Forwarded-For (read from the right, skipping trusted
	// proxies) or X-Real-IP names it. Gin trusts every peer by default.
	if err := r.SetTrustedProxies(s.settings.Server.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: server.trusted_proxies: %w", err)
	}
	r.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	r.Use(s.requestContext, gin.CustomRecovery(recoverPanic), limitHeaders, s.observe)

	r.GET("/health", s.health)
	r.GET("/healthz", s.healthz)
	r.GET("/livez", s.livez)
	r.GET("/readyz", s.readyz)
	r.GET("/openapi.json", s.openapi)
	r.GET("/docs", s.docsHTML)
	r.GET("/metrics", s.requireAdminIfSet, gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))
	r.POST("/v1/targets/:target/keys/:id/enable", s.requireAdmin, s.enableKey)
	r.GET("/v1/admin/queues", s.requireAdmin, s.adminQueues)
	r.POST("/v1/admin/jobs/:id/run", s.requireAdmin, s.adminRunJob)
	r.GET(queueUIPath, func(c *gin.Context) { c.Redirect(http.StatusFound, queueUIPath+"/") })
	r.Any(queueUIPath+"/*page", s.requireAdminBrowser, s.queueUI)

	// RapidAPI's webhook authenticates by its signature.
	r.POST("/v1/webhooks/rapidapi", s.rapidAPIWebhook)
	r.POST("/webhooks/rapidapi", s.rapidAPIWebhook)

	// Every other route serves a tenant, found from its API key.
	t := r.Group("", s.authenticate)
	t.GET("/v1/rapidapi/status", s.rapidAPIStatus)
	t.GET("/rapidapi/status", s.rapidAPIStatus)
	for _, prefix := range []string{"/v1", ""} {
		t.POST(prefix+"/proxy/http", s.limitBody, s.admit, s.proxyHTTP)
		t.POST(prefix+"/proxy/llm", s.limitBody, s.admit, s.proxyLLM)
	}
	// The OpenAI-compatible API, at both base URLs SDKs are pointed at.
	for _, base := range []string{"/v1", "/proxy/llm"} {
		t.POST(base+"/chat/completions", s.limitBody, s.admit, s.chatCompletions)
		t.GET(base+"/models", s.listModels)
	}
	v1 := t.Group("/v1")
	v1.POST("/jobs", s.limitBody, s.admit, s.createJob)
	v1.GET("/jobs", s.listJobs)
	v1.GET("/jobs/:id", s.getJob)
	v1.GET("/jobs/:id/events", s.streamEvents)
	v1.POST("/jobs/:id/cancel", s.cancelJob)
	v1.POST("/jobs/:id/webhook/replay", s.admit, s.replayWebhook)
	v1.GET("/webhooks/failed", s.failedWebhooks)
	v1.GET("/targets", s.listTargets)
	v1.GET("/usage", s.usage)

	r.NoRoute(func(c *gin.Context) {
		writeError(c, reliapi.Errorf(reliapi.CodeNotFound, "No route %s %s", c.Request.Method, c.Request.URL.Path), meta{RequestID: requestID(c)})
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, reliapi.Errorf(reliapi.CodeMethodNotAllowed, "Method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path), meta{RequestID: requestID(c)})
	})
	return r, nil
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

// Start subscribes to job announcements, which synchronous calls wait on.
func (s *Server) Start(ctx context.Context) {
	s.waiter.Start(ctx)
}

// Drain makes /readyz fail, so load balancers stop sending traffic while
// in-flight requests finish. Call it first when shutting down.
func (s *Server) Drain() { s.draining.Store(true) }

// HandOff makes every synchronous call still waiting answer 202 with its
// job at once; the jobs keep running. Call it when the shutdown grace period
// is over. It is safe to call more than once.
func (s *Server) HandOff() {
	s.handoffOnce.Do(func() { close(s.handoff) })
}

// Stop releases the subscription. Call it after the HTTP server has shut
// down; it does not close the shared Redis client. It is safe to call more
// than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.Drain()
		s.waiter.Stop()
	})
}

// redisCtx bounds one Redis step of a request.
func (s *Server) redisCtx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.redisTimeout)
}

// Routes lists the routes the Handler serves, for tests and docs.
func (s *Server) Routes() gin.RoutesInfo { return s.engine.Routes() }
