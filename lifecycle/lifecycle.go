package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/reliability/breaker"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/reliability/quota"
)

// Config configures a Manager.
type Config struct {
	// Redis is the process's shared client; asynq enqueues on it too.
	// Required.
	Redis redis.UniversalClient
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
	// Timeout is jobs.timeout: how long a job may take from its creation,
	// reschedules included. Default 10m.
	Timeout time.Duration
	// Retention is jobs.retention: how long a job record is kept. Default
	// 24h.
	Retention time.Duration
	// QueueShards is redis.queue_shards: how many shards each kind of
	// queue has. Default 1.
	QueueShards int
	// BudgetCaps are the tenants' spend caps; a call's budget hold is
	// refused past them. Zero: no caps (holds only record spend).
	BudgetCaps budget.Caps
	// OnEnd, when set, is told of every end a worker records (succeeded,
	// failed, expired), for its metrics.
	OnEnd func(reliapi.JobStatus)
	// LaneGrace is how long after its submission a job's asynq task comes
	// due: the fallback that runs the job when no worker took it from the
	// wake-up lane (package lane) by then. Default 3s; negative: due at once
	// (the lane and asynq race for every job: tests).
	LaneGrace time.Duration
	// WebhookLane, when positive, has Finish queue the first delivery of a
	// job's webhook, when its event is wanted, in the webhook lane (package
	// lane) for a worker to take at once, its asynq task coming due this
	// long after as the fallback. Zero: the task is due at once, as every
	// other delivery's.
	WebhookLane time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.QueueShards < 1 {
		c.QueueShards = 1
	}
	if c.OnEnd == nil {
		c.OnEnd = func(reliapi.JobStatus) {}
	}
	if c.LaneGrace == 0 {
		c.LaneGrace = 3 * time.Second
	}
}

// Manager runs jobs' transitions and their consequences. It is safe for
// concurrent use; one per process is enough.
type Manager struct {
	cfg       Config
	rdb       redis.UniversalClient
	log       *slog.Logger
	store     *jobs.Store
	enqueuer  *asynq.Client
	inspector *asynq.Inspector
	slots     *quota.Quota
	cache     *cache.Cache
	ledger    *budget.Ledger
	breakers  *breaker.Breakers
	// queues are the queue names this Manager has published in asynq's
	// set of queues (see scheduleTask).
	queues sync.Map
	// handoffStarts says a lane push that hands its entry to a waiting
	// worker starts the job too (lane.Start): the job's record and the
	// lane live on one node. Not on a Redis Cluster.
	handoffStarts bool
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Redis == nil {
		return nil, errors.New("lifecycle: Redis is required")
	}
	cfg.setDefaults()
	_, cluster := cfg.Redis.(*redis.ClusterClient)
	return &Manager{
		cfg:           cfg,
		rdb:           cfg.Redis,
		log:           cfg.Logger,
		store:         jobs.NewStore(cfg.Redis, jobs.Config{Retention: cfg.Retention}),
		enqueuer:      asynq.NewClientFromRedisClient(cfg.Redis),
		inspector:     asynq.NewInspectorFromRedisClient(cfg.Redis),
		slots:         quota.New(cfg.Redis),
		cache:         cache.New(cfg.Redis),
		ledger:        budget.NewLedger(cfg.Redis),
		breakers:      breaker.New(cfg.Redis),
		handoffStarts: !cluster,
	}, nil
}

// ClaimLease is how long a claim on a running job holds without renewal:
// the claims workers take, and those a lane push takes for the worker it
// hands a job to (see queueing).
const ClaimLease = 5 * time.Second

// Store is the job records, for reading them (transitions go through the
// Manager).
func (m *Manager) Store() *jobs.Store { return m.store }

// unavailable is REDIS_UNAVAILABLE for a write that failed: the caller may
// retry, and is told so.
func unavailable(err error) error {
	return &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Storage is unavailable; try again shortly", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
}

// cleanupTimeout bounds each step of undoing or releasing, which runs
// even when the caller's context has ended.
const cleanupTimeout = 2 * time.Second

// cleanup is a context for a release that must happen even after ctx
// ended (the caller went away, the job's deadline passed).
func cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// persistWindow bounds how long a worker's record of a job's start or end
// is retried while Redis does not answer. A Redis outage shorter than this
// costs the job nothing: without it, the handler would fail, asynq could
// not record that either, and the job would wait for asynq's lease
// recovery (one to two minutes), or run its upstream call again.
const persistWindow = 30 * time.Second

// persist runs write until it succeeds, retrying with backoff within
// persistWindow; it goes on after ctx ends (the outcome must be written).
func (m *Manager) persist(ctx context.Context, what, jobID string, write func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), persistWindow)
	defer cancel()
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := write(ctx)
		if err == nil {
			if attempt > 1 {
				m.log.Info("recorded after Redis came back", "job_id", jobID, "what", what, "attempts", attempt)
			}
			return nil
		}
		if attempt == 1 {
			m.log.Warn("cannot record; retrying while Redis is away", "job_id", jobID, "what", what, "error", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
