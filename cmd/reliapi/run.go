package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/api"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/fakellm"
	"github.com/reliapi/reliapi/internal/httpbin"
	"github.com/reliapi/reliapi/worker"
)

// common is what every role builds first: the settings, the process's one
// Redis client and its metrics registry.
type common struct {
	settings *config.Config
	rdb      redis.UniversalClient
	reg      *prometheus.Registry
}

func setup(ctx context.Context, o options, log *slog.Logger) (*common, error) {
	settings, err := loadSettings(o, log)
	if err != nil {
		return nil, err
	}
	rdb, err := connect(ctx, o, settings, log)
	if err != nil {
		return nil, err
	}
	return &common{settings: settings, rdb: rdb, reg: newRegistry()}, nil
}

// newAPI builds the api; runner, when set, runs its sync calls (see
// server.run_sync_calls).
func (c *common) newAPI(log *slog.Logger, runner *worker.SyncRunner) (*api.Server, error) {
	cfg := api.Config{Redis: c.rdb, Settings: c.settings.ForAPI(), Logger: log, Registry: c.reg, Version: version}
	if runner != nil { // a nil *SyncRunner would make a Runner that is not nil
		cfg.Runner = runner
	}
	return api.New(cfg)
}

func (c *common) newWorker(log *slog.Logger) (*worker.Worker, error) {
	return worker.New(worker.Config{Redis: c.rdb, Settings: c.settings.ForWorker(), Logger: log, Registerer: c.reg})
}

// runAPI serves the HTTP API until ctx ends.
func runAPI(ctx context.Context, o options, log *slog.Logger) error {
	c, err := setup(ctx, o, log)
	if err != nil {
		return err
	}
	defer c.rdb.Close()
	switch {
	case c.settings.Auth.Mode == config.AuthOpen:
		return errors.New("auth.mode: open is only for `reliapi dev`; the api needs API keys (see the README's \"Tenants, API keys and limits\")")
	case !c.settings.HasAPIKeys():
		return errors.New("no API key is configured, so no call could be authenticated: add tenants with api_keys to the config, or set RELIAPI_API_KEY (see the README's \"Tenants, API keys and limits\")")
	}
	var runner *worker.SyncRunner
	if n := c.settings.Server.SyncRunSlots(); n > 0 {
		// The sync calls this replica runs itself need a worker's attempt
		// chain; its queues are the worker processes' to serve.
		w, err := c.newWorker(log)
		if err != nil {
			return fmt.Errorf("running sync calls in the api (server.run_sync_calls: %d; 0 leaves them to the workers): %w", n, err)
		}
		runner = w.SyncRunner(n)
		// After serveAPI, which waited for the calls: their runs handed off
		// as 202 get a little longer, within the deployment's grace period
		// (server.shutdown_timeout + 15 s); the rest are taken over.
		defer w.Stop()
		defer runner.Stop(syncRunGrace)
	}
	srv, err := c.newAPI(log, runner)
	if err != nil {
		return err
	}
	return serveAPI(ctx, srv, listenAddr(o.listen, c.settings.Server.Listen), c.settings, log)
}

// syncRunGrace is how long a stopping api waits for the sync calls it runs
// that outlived its HTTP shutdown.
const syncRunGrace = 10 * time.Second

// runWorker executes jobs until ctx ends, serving its metrics and health on
// the side.
func runWorker(ctx context.Context, o options, log *slog.Logger) error {
	c, err := setup(ctx, o, log)
	if err != nil {
		return err
	}
	defer c.rdb.Close()
	w, err := c.newWorker(log)
	if err != nil {
		return err
	}
	side, err := listenMetrics(o.metricsListen, c.settings.Worker.MetricsListen, log)
	if err != nil {
		return fmt.Errorf("worker metrics: %w", err)
	}
	sideSrv := &http.Server{Handler: workerSideHandler(c.rdb, c.reg, c.settings.Auth), ReadHeaderTimeout: 5 * time.Second}
	go sideSrv.Serve(side)
	defer sideSrv.Close()

	if err := w.Start(ctx); err != nil {
		return err
	}
	log.Info("worker started", "concurrency", c.settings.Worker.Concurrency,
		"metrics_addr", side.Addr().String(), "task_check_interval", c.settings.Worker.TaskCheckInterval.String())
	<-ctx.Done()
	// Shutdown order: stop fetching and let running jobs finish (asynq puts
	// back what does not finish in time), then the side server, then Redis.
	log.Info("worker shutting down")
	w.Stop()
	log.Info("worker stopped")
	return nil
}

// runDev runs the api, a worker and the demo upstream in one process, on an
// embedded Redis unless REDIS_URL is set.
func runDev(ctx context.Context, o options, log *slog.Logger) error {
	if o.redisURL == "" {
		emb, err := startEmbeddedRedis(log)
		if err != nil {
			return err
		}
		defer emb.close()
		o.redisURL = emb.url()
		log.Warn("REDIS_URL is not set: using an embedded in-memory Redis (miniredis); data is lost on exit. Set REDIS_URL to use a real Redis; operator commands (reliapi jobs, queues, targets) reach this one with REDIS_URL set to redis_url.",
			"redis_url", o.redisURL)
	}
	if o.demoListen != "" && os.Getenv(demoKeyVar) == "" {
		// The demo LLM targets read their key from the environment, as real
		// ones do; give them one.
		os.Setenv(demoKeyVar, "sk-demo")
	}
	c, err := setup(ctx, o, log)
	if err != nil {
		return err
	}
	defer c.rdb.Close()
	devAuth(c.settings, log)
	devWebhooks(c.settings, log)
	if o.demoListen != "" {
		l, err := listen(o.demoListen)
		if err != nil {
			return fmt.Errorf("demo upstream: %w (use --demo-listen to move it, or --demo-listen= to disable it)", err)
		}
		demo := &http.Server{Handler: demoHandler(), ReadHeaderTimeout: 5 * time.Second}
		go demo.Serve(l)
		defer demo.Close()
		log.Info("demo upstream listening: httpbin at /, fake LLM providers at /openai/v1, /anthropic/v1, /mistral/v1",
			"addr", "http://"+l.Addr().String())
	}
	w, err := c.newWorker(log)
	if err != nil {
		return err
	}
	var runner *worker.SyncRunner
	if n := c.settings.Server.SyncRunSlots(); n > 0 {
		runner = w.SyncRunner(n)
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	// Deferred calls run last-in first-out: the worker (and the sync calls
	// it runs for the api) stops after the api, then the demo upstream,
	// then Redis.
	defer w.Stop()
	srv, err := c.newAPI(log, runner)
	if err != nil {
		return err
	}
	return serveAPI(ctx, srv, listenAddr(o.listen, c.settings.Server.Listen), c.settings, log)
}

// devSecret signs dev mode's webhooks when the config has no secret for
// the default tenant. It is published in the README: never a secret.
const devSecret = "whsec_ZGV2LW1vZGUtb25seS13ZWJob29rLXNlY3JldCEh"

// devWebhooks lets dev mode deliver webhooks to receivers on this machine,
// signed with the published dev secret unless the config names one.
func devWebhooks(s *config.Config, log *slog.Logger) {
	s.Webhooks.AllowPrivateNetworks = true
	if len(s.Webhooks.Secrets["default"]) == 0 {
		s.Webhooks.Secrets["default"] = []string{devSecret}
		log.Warn("dev mode signs webhooks with the public dev secret from the README, and delivers them to private addresses; configure webhooks: for anything else")
	}
}

// devAuth lets every caller in when the config has no API key: dev mode
// then needs none, and every caller is the tenant "default".
func devAuth(s *config.Config, log *slog.Logger) {
	if s.Auth.Mode == config.AuthOpen || !s.HasAPIKeys() {
		s.Auth.Mode = config.AuthOpen
		log.Warn("dev mode runs without authentication (auth.mode: open): every caller is the tenant \"default\"; configure tenants to try API keys")
	}
}

// demoHandler is dev mode's demo upstream: httpbin, and fake OpenAI,
// Anthropic and Mistral APIs under their names.
func demoHandler() http.Handler {
	mux := http.NewServeMux()
	fake := fakellm.New()
	for _, p := range []string{"/openai/", "/anthropic/", "/mistral/"} {
		mux.Handle(p, fake)
	}
	mux.Handle("/", httpbin.New())
	return mux
}

// demoKeyVar holds the key dev mode's demo LLM targets send; the fake
// providers only check that one is sent.
const demoKeyVar = "RELIAPI_DEMO_LLM_KEY"

// serveAPI serves srv until ctx ends, then shuts down in order: readiness
// fails first, new connections are refused, in-flight requests finish until
// server.shutdown_timeout, and synchronous calls still waiting then are
// handed off as 202 with their job (the job itself keeps running).
func serveAPI(ctx context.Context, srv *api.Server, addr string, settings *config.Config, log *slog.Logger) error {
	l, err := listen(addr)
	if err != nil {
		return err
	}
	s := settings.Server
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		// Long enough for the longest wait a caller may ask for.
		WriteTimeout: max(s.SyncTimeout.Duration, s.MaxWait.Duration) + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	srv.Start(ctx)
	defer srv.Stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	log.Info("api listening", "addr", l.Addr().String(), "sync_timeout", s.SyncTimeout.String())

	select {
	case err := <-errc:
		return fmt.Errorf("api server: %w", err)
	case <-ctx.Done():
	}
	log.Info("api shutting down", "shutdown_timeout", s.ShutdownTimeout.String())
	srv.Drain()
	const handoffGrace = 2 * time.Second
	graceful, cancel := context.WithTimeout(context.Background(), max(s.ShutdownTimeout.Duration-handoffGrace, handoffGrace))
	defer cancel()
	if err := hs.Shutdown(graceful); errors.Is(err, context.DeadlineExceeded) {
		srv.HandOff()
		final, cancel := context.WithTimeout(context.Background(), handoffGrace)
		defer cancel()
		if err := hs.Shutdown(final); err != nil {
			log.Warn("closing connections that did not finish", "error", err)
			hs.Close()
		}
	}
	log.Info("api stopped")
	return nil
}

func loadSettings(o options, log *slog.Logger) (*config.Config, error) {
	settings, err := config.Load(o.configPath)
	if err != nil {
		return nil, err
	}
	for name, t := range settings.Targets {
		if t.Auth != nil {
			if _, _, ok := t.Auth.Header(); !ok {
				log.Warn("target credentials are not set; calls go out without auth", "target", name, "env_var", t.Auth.EnvVar)
			}
		}
	}
	if o.apiKey != "" {
		settings.AddAPIKey("RELIAPI_API_KEY", o.apiKey)
	}
	log.Info("config loaded", "path", o.configPath, "targets", len(settings.Targets), "tenants", len(settings.Tenants))
	return settings, nil
}

// connect opens the process's one Redis client: REDIS_URL wins over
// redis.url. A Redis that does not answer yet is logged, not fatal: the
// service reports not-ready and recovers when Redis comes up.
func connect(ctx context.Context, o options, settings *config.Config, log *slog.Logger) (redis.UniversalClient, error) {
	if mode := settings.Redis.Mode; mode != config.RedisSingle {
		if o.redisURL != "" {
			log.Warn("REDIS_URL is ignored: redis.mode is "+mode+", which connects to redis.addrs", "mode", mode)
		}
		rdb := newRedisTopology(settings.Redis)
		if err := prepareRedis(ctx, rdb); err != nil {
			log.Warn("redis is not ready yet; continuing", "mode", mode, "error", err)
		}
		return rdb, nil
	}
	url := o.redisURL
	if url == "" {
		url = settings.Redis.URL
	}
	if url == "" {
		return nil, errors.New("REDIS_URL is not set (or use `reliapi dev`, which embeds a Redis)")
	}
	rdb, err := newRedis(url)
	if err != nil {
		return nil, err
	}
	if err := prepareRedis(ctx, rdb); err != nil {
		log.Warn("redis is not ready yet; continuing", "error", err)
	}
	return rdb, nil
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return l, nil
}

func listenAddr(flagValue, configValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return configValue
}
