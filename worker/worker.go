package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/providers"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/breaker"
	"github.com/reliapi/reliapi/reliability/quota"
	"github.com/reliapi/reliapi/reliability/ratelimit"
	"github.com/reliapi/reliapi/reliability/retry"
	"github.com/reliapi/reliapi/tasks"
	"github.com/reliapi/reliapi/webhook"
)

// Config configures a Worker.
type Config struct {
	// Redis is the process's shared client; asynq runs on it too. Required.
	Redis redis.UniversalClient
	// Settings is the worker's part of the configuration
	// (config.Config.ForWorker): no tenant's API key. Required.
	Settings *config.WorkerSettings
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the worker's metrics. Default: a private registry.
	Registerer prometheus.Registerer
	// HTTP makes upstream calls. Default: httpx.New with jobs.max_result_bytes.
	HTTP *httpx.Client
}

// Worker runs jobs from the queues until stopped.
type Worker struct {
	cfg       Config
	log       *slog.Logger
	srv       *asynq.Server
	lifecycle *lifecycle.Manager
	store     *jobs.Store
	http      *httpx.Client
	metrics   *metrics
	targets   map[string]target
	breakers  *breaker.Breakers
	limiter   *ratelimit.Limiter
	// quota holds the parallel-request slots of client profiles.
	quota *quota.Quota
	// claims are the running jobs' claims, renewed together.
	claims      *claims
	renewOnce   sync.Once
	stopRenewal context.CancelFunc
	// published is closed when the running jobs' publisher has removed
	// this process's record, after stopRenewal.
	published chan struct{}
	// lane takes jobs from the wake-up lane.
	lane *laneRunner
	// hooks takes deliveries from the webhook lane; its slots bound the
	// deliveries this process makes at once.
	hooks *hookRunner
	// jobsFirst tells the webhook lane's poppers when jobs wait for slots.
	jobsFirst *jobsFirst
	// syncRuns, when set, runs the api's sync calls in this process (an
	// api replica's, or dev mode's).
	syncRuns *SyncRunner
	// webhookSrv serves the webhooks queue with a pool of its own.
	webhookSrv     *asynq.Server
	webhookClient  *http.Client
	webhookSecrets map[string][]webhook.Secret

	stopOnce sync.Once
}

// target is a configured target prepared for calls.
type target struct {
	upstream httpx.Target
	retries  retry.Matrix
	breaker  breaker.Settings
	// slowCall, when set, makes slower successful calls count as breaker
	// failures.
	slowCall time.Duration
	// pool is the target's key pool; nil when it has none.
	pool *pool
	// secret is the target's own credential (auth.env_var); a pool key
	// replaces it.
	secret string
	// httpAuth renders a credential for proxied HTTP calls, in the form
	// the target's auth block names.
	httpAuth func(secret string) map[string]string
	// llm is the adapter of an LLM target's provider; nil otherwise.
	llm reliapi.LLMProvider
}

// New builds a Worker. It does not start processing; call Start.
func New(cfg Config) (*Worker, error) {
	if cfg.Redis == nil || cfg.Settings == nil {
		return nil, errors.New("worker: Redis and Settings are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	s := cfg.Settings
	if cfg.HTTP == nil {
		cfg.HTTP = httpx.New(httpx.Config{MaxBodyBytes: s.Jobs.MaxResultBytes})
	}
	w := &Worker{
		cfg:      cfg,
		log:      cfg.Logger,
		http:     cfg.HTTP,
		metrics:  newMetrics(cfg.Registerer),
		breakers: breaker.New(cfg.Redis),
		limiter:  ratelimit.New(cfg.Redis),
		quota:    quota.New(cfg.Redis),
	}
	patience, fallback := webhookLaneFallback(s.Webhooks.Timeout())
	if schedule := s.Webhooks.Schedule(); len(schedule) > 0 && schedule[0] > 0 {
		fallback = 0 // a first attempt that waits is asynq's to schedule
	}
	var err error
	w.lifecycle, err = lifecycle.New(lifecycle.Config{
		Redis: cfg.Redis, Logger: cfg.Logger, Timeout: s.Jobs.Timeout.Duration, Retention: s.Jobs.Retention.Duration,
		QueueShards: s.QueueShards,
		OnEnd:       func(st reliapi.JobStatus) { w.metrics.jobs.WithLabelValues(string(st)).Inc() },
		WebhookLane: fallback,
	})
	if err != nil {
		return nil, err
	}
	w.store = w.lifecycle.Store()
	w.claims = newClaims(w.store, cfg.Logger)
	w.lane = newLaneRunner(w, s.Worker.Concurrency)
	w.jobsFirst = newJobsFirst()
	w.hooks = newHookRunner(w, s.Webhooks.Concurrency, patience)
	if w.targets, err = w.prepareTargets(os.Getenv); err != nil {
		return nil, err
	}
	if w.webhookSecrets, err = parseSecrets(s.Webhooks.Secrets); err != nil {
		return nil, err
	}
	w.webhookClient = newWebhookClient(s.Webhooks.Guard(), s.Webhooks.Concurrency)
	w.srv, w.webhookSrv = newServers(cfg.Redis, s, cfg.Logger)
	return w, nil
}

// parseSecrets reads every tenant's webhook signing secrets.
func parseSecrets(raw map[string][]string) (map[string][]webhook.Secret, error) {
	out := make(map[string][]webhook.Secret, len(raw))
	for tenant, list := range raw {
		for _, r := range list {
			secret, err := webhook.ParseSecret(r)
			if err != nil {
				return nil, fmt.Errorf("worker: webhooks.secrets.%s: %w", tenant, err)
			}
			out[tenant] = append(out[tenant], secret)
		}
	}
	return out, nil
}

// newServers are the worker's two asynq servers: one for the job queues,
// sync before async, and one with a pool of its own for the webhook
// deliveries, so that slow receivers never hold the workers of jobs.
func newServers(rdb redis.UniversalClient, s *config.WorkerSettings, log *slog.Logger) (jobs, webhooks *asynq.Server) {
	jobs = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              s.Worker.Concurrency,
		Queues:                   tasks.JobQueues(s.QueueShards),
		TaskCheckInterval:        s.Worker.TaskCheckInterval.Duration,
		DelayedTaskCheckInterval: s.Worker.DelayedTaskCheckInterval.Duration,
		ShutdownTimeout:          s.Worker.ShutdownTimeout.Duration,
		RetryDelayFunc:           jobRetryDelay,
		// A job held by another delivery's live claim is looked at again
		// later, as often as need be: that is no failure.
		IsFailure: func(err error) bool { return !errors.As(err, new(*heldElsewhere)) },
		Logger:    asynqLogger{log},
		LogLevel:  asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if errors.As(err, new(*heldElsewhere)) {
				return
			}
			id, _ := asynq.GetTaskID(ctx)
			log.Warn("task failed, asynq will retry it", "task_id", id, "type", t.Type(), "error", err)
		}),
	})
	webhooks = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       s.Webhooks.Concurrency,
		Queues:            webhookQueues(s.QueueShards),
		TaskCheckInterval: s.Worker.TaskCheckInterval.Duration,
		// Retries of deliveries are seconds to hours apart: their forwarder
		// need not look often.
		DelayedTaskCheckInterval: max(s.Worker.DelayedTaskCheckInterval.Duration, webhookForwardInterval),
		ShutdownTimeout:          s.Worker.ShutdownTimeout.Duration,
		RetryDelayFunc:           webhookRetryDelay,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		// The handler logs failed attempts itself.
	})
	return jobs, webhooks
}

// prepareTargets readies every target for calls: its URL, retry matrix,
// breaker settings, credentials and key pool. A pool key whose secret is not
// set stops the worker from starting.
func (w *Worker) prepareTargets(getenv func(string) string) (map[string]target, error) {
	s := w.cfg.Settings
	out := make(map[string]target, len(s.Targets))
	for name, t := range s.Targets {
		base, err := url.Parse(t.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("worker: target %s: base_url: %w", name, err)
		}
		m := retry.Matrix{}
		for _, class := range []reliapi.Class{reliapi.ClassRateLimited, reliapi.ClassServer, reliapi.ClassNetwork, reliapi.ClassTimeout} {
			if p, ok := t.Retry(string(class)); ok {
				m[class] = retry.Policy{Attempts: p.Attempts, Backoff: p.Backoff, Base: p.Base(), Max: p.Max()}
			}
		}
		header, prefix := t.Auth.Format()
		tg := target{
			upstream: httpx.Target{Name: name, BaseURL: base, Timeout: t.Timeout()},
			// The secret is read from the environment once, here; it stays in
			// this process's memory and in the upstream request, nowhere else.
			secret: t.Auth.Secret(),
			httpAuth: func(secret string) map[string]string {
				if secret == "" {
					return nil
				}
				return map[string]string{header: prefix + secret}
			},
			retries:  m,
			breaker:  breakerSettings(t),
			slowCall: time.Duration(t.Circuit.SlowCallMS) * time.Millisecond,
		}
		if t.LLM != nil {
			var ok bool
			if tg.llm, ok = providers.LLM(t.Provider()); !ok {
				return nil, fmt.Errorf("worker: target %s: no adapter for provider %q", name, t.Provider())
			}
		}
		if poolName, cfg := s.PoolFor(name); cfg != nil {
			if tg.pool, err = newPool(w, poolName, cfg, t, getenv); err != nil {
				return nil, err
			}
		}
		out[name] = tg
	}
	return out, nil
}

// jobRetryDelay spaces a job task's asynq-level retries: as a delivery
// that found its job held by another asked, else as infraRetryDelay.
func jobRetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var held *heldElsewhere
	if errors.As(err, &held) {
		return held.wait
	}
	return infraRetryDelay(n, err, t)
}

// infraRetryDelay spaces asynq-level retries, which only happen when the
// handler could not record an outcome (Redis trouble): soon, then backing
// off to 30 s.
func infraRetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := min(time.Second<<min(n, 5), 30*time.Second)
	return d/2 + rand.N(d/2)
}

// Start begins processing tasks. It returns once the asynq server runs.
func (w *Worker) Start(context.Context) error {
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeHTTP, w.handler(func(p tasks.Payload) bool { return p.HTTP != nil }, w.callHTTP))
	mux.Handle(tasks.TypeLLM, w.handler(func(p tasks.Payload) bool { return p.LLM != nil }, w.callLLM))
	if err := w.srv.Start(mux); err != nil {
		return fmt.Errorf("worker: starting asynq server: %w", err)
	}
	w.startRenewal()
	w.lane.start(w.cfg.Settings.QueueShards)
	w.hooks.start(w.cfg.Settings.QueueShards)
	hooks := asynq.NewServeMux()
	hooks.HandleFunc(tasks.TypeWebhook, w.deliverWebhook)
	if err := w.webhookSrv.Start(hooks); err != nil {
		w.hooks.shutdown(0)
		w.lane.shutdown(0)
		w.srv.Shutdown()
		w.stopRenewal()
		return fmt.Errorf("worker: starting the webhooks server: %w", err)
	}
	return nil
}

// startRenewal starts, once, what every running job of this process
// needs: its claim renewed, its cancel heard, the running jobs per tenant
// published.
func (w *Worker) startRenewal() {
	w.renewOnce.Do(func() {
		renewal, stop := context.WithCancel(context.Background())
		w.stopRenewal = stop
		go w.claims.renew(renewal)
		w.published = make(chan struct{})
		go func() {
			defer close(w.published)
			w.claims.publishRunning(renewal)
		}()
		w.store.WatchCanceled(renewal, w.claims.stopJob)
	})
}

// Stop stops fetching new tasks, waits up to worker.shutdown_timeout for
// running ones, and puts the rest back on their queues for another worker.
// It is safe to call more than once.
func (w *Worker) Stop() {
	w.stopOnce.Do(func() {
		var wg sync.WaitGroup
		if w.syncRuns != nil {
			wg.Go(func() { w.syncRuns.Stop(w.cfg.Settings.Worker.ShutdownTimeout.Duration) })
		}
		wg.Go(func() { w.lane.shutdown(w.cfg.Settings.Worker.ShutdownTimeout.Duration) })
		wg.Go(func() { w.hooks.shutdown(w.cfg.Settings.Worker.ShutdownTimeout.Duration) })
		wg.Go(w.srv.Shutdown)
		wg.Go(w.webhookSrv.Shutdown)
		wg.Wait()
		// Running jobs have ended or been handed back: nothing to renew.
		if w.stopRenewal != nil {
			w.stopRenewal()
			<-w.published
		}
	})
}

// webhookForwardInterval is the least time between two looks of the
// webhooks server for delivery retries that came due.
const webhookForwardInterval = 5 * time.Second

// webhookQueues are the webhook queue's shards, all of one priority.
func webhookQueues(shards int) map[string]int {
	out := map[string]int{}
	for _, q := range tasks.ShardsOf(tasks.QueueWebhooks, shards) {
		out[q] = 1
	}
	return out
}
