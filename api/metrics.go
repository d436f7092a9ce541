package api

import (
	"context"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/tasks"
)

// metrics are the api's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	cache    *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// scrapeTimeout bounds the Redis reads of one scrape's collectors.
const scrapeTimeout = 2 * time.Second

func newMetrics(reg prometheus.Registerer, rdb redis.UniversalClient, inspector *asynq.Inspector, shards int) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reliapi_requests_total",
			Help: "API requests by target, HTTP status and mode (sync, async, wait, poll).",
		}, []string{"target", "status", "mode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reliapi_request_duration_seconds",
			Help:    "API request duration by mode, waiting for the result included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"mode"}),
	}
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reliapi_cache_hits_total",
		Help: "Response cache lookups by target and result: hit, miss (this call fills it), collapsed (it waits for an identical call in flight) or unavailable (Redis did not answer; reliability.on_redis_error applied).",
	}, []string{"target", "result"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reliapi_limit_refusals_total",
		Help: "Calls refused at the front door by the caller's tier limits, by limit (tenant_rpm, tenant_burst, ip, client, banned, concurrent_jobs) and tier.",
	}, []string{"limit", "tier"})
	reg.MustRegister(m.requests, m.duration, m.cache, m.refused, queueTasks{inspector, shards},
		queueDepth{rdb: rdb, shards: shards, timeout: scrapeTimeout})
	return m
}

// queueTasks reports the size of each queue at scrape time, read from
// Redis through asynq (so every api replica reports the same numbers).
type queueTasks struct {
	inspector *asynq.Inspector
	shards    int
}

var queueTasksDesc = prometheus.NewDesc("reliapi_queue_tasks",
	"Tasks in an asynq queue (pending + scheduled + retry; every job not ended has one, its fallback), by queue shard (sync, async, webhooks and their shards), read at scrape time.", []string{"queue"}, nil)

// Describe implements prometheus.Collector.
func (q queueTasks) Describe(ch chan<- *prometheus.Desc) { ch <- queueTasksDesc }

// Collect implements prometheus.Collector. A queue asynq has not seen yet
// is reported as empty; a Redis failure reports nothing.
func (q queueTasks) Collect(ch chan<- prometheus.Metric) {
	known, err := q.inspector.Queues()
	if err != nil {
		return
	}
	for _, name := range tasks.AllQueues(q.shards) {
		depth := 0
		if slices.Contains(known, name) {
			info, err := q.inspector.GetQueueInfo(name)
			if err != nil {
				continue
			}
			depth = info.Pending + info.Scheduled + info.Retry
		}
		ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(depth), name)
	}
}

// queueDepth reports at scrape time the jobs waiting for a worker in the
// wake-up lanes, by kind and tier: a few round trips per scrape (two per
// queue shard), bounded by timeout. Not per tenant: a label per tenant
// would grow without bound (GET /v1/admin/queues has them).
type queueDepth struct {
	rdb     redis.UniversalClient
	shards  int
	timeout time.Duration
}

var queueDepthDesc = prometheus.NewDesc("reliapi_queue_depth",
	"Jobs waiting for a worker in the wake-up lanes, summed over shards, by queue (sync, async) and tenant tier (free, developer, pro, enterprise; unknown: a job handed to a worker that has not taken it yet, or of an unrecorded tier), read at scrape time.",
	[]string{"queue", "tenant_tier"}, nil)

// Describe implements prometheus.Collector.
func (q queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepthDesc }

// Collect implements prometheus.Collector. Every kind and tier is reported,
// 0 when nothing waits (unknown only when something does); a Redis
// failure reports nothing rather than failing the scrape.
func (q queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	defer cancel()
	depths, err := lane.Stats(ctx, q.rdb, jobQueues(q.shards)...)
	if err != nil {
		return
	}
	type series struct{ kind, tier string }
	sums := map[series]int64{}
	for _, d := range depths {
		kind := tasks.KindOf(d.Queue)
		sums[series{kind, config.TierUnknown}] += d.HandedOff
		for _, r := range d.Tenants {
			sums[series{kind, config.TierLabel(r.Tier)}] += r.Jobs
		}
	}
	for _, kind := range []string{tasks.QueueSync, tasks.QueueAsync} {
		for _, tier := range slices.Concat(config.TierNames, []string{config.TierUnknown}) {
			n := sums[series{kind, tier}]
			if tier == config.TierUnknown && n == 0 {
				continue
			}
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), kind, tier)
		}
	}
}
