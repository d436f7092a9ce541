package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/tasks"
)

// metrics are the worker's Prometheus series.
type metrics struct {
	jobs           *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	redisFallbacks *prometheus.CounterVec
	rateWaits      *prometheus.CounterVec
	keySwitches    *prometheus.CounterVec
	// webhookDeliveries counts delivery attempts by outcome;
	// webhookSeconds times them.
	webhookDeliveries *prometheus.CounterVec
	webhookSeconds    prometheus.Histogram
	// spend sums what priced LLM calls cost, by the target that answered.
	spend *prometheus.CounterVec
	// queueWait times jobs from their submission to their first start.
	queueWait *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reliapi_jobs_total",
			Help: "Jobs finished by this worker, by terminal status.",
		}, []string{"status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reliapi_upstream_attempts_total",
			Help: "Upstream attempts by target and outcome (ok, 429, 5xx, net, timeout, circuit_open, error).",
		}, []string{"target", "outcome"}),
		redisFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reliapi_redis_fallbacks_total",
			Help: "Times a reliability control could not reach Redis and applied reliability.on_redis_error.",
		}, []string{"control", "policy"}),
	}
	m.rateWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reliapi_ratelimit_waits_total",
		Help: "Calls that waited for a rate-limit slot or a free pool key, by the bucket that made them wait (provider_key, profile, tenant, key_pool).",
	}, []string{"bucket"})
	m.keySwitches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reliapi_key_switches_total",
		Help: "Calls moved to another pool key within one attempt, by provider (pool) and reason (rate_limited, unauthorized).",
	}, []string{"provider", "reason"})
	m.webhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reliapi_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome (delivered, gone, 3xx, 4xx, 5xx, error: no answer).",
	}, []string{"outcome"})
	m.webhookSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "reliapi_webhook_delivery_seconds",
		Help:    "Time of one webhook delivery attempt, until the receiver's answer or the failure.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
	})
	m.spend = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reliapi_llm_cost_usd_total",
		Help: "What priced LLM calls cost, in USD, by the target that answered (a fallback's own).",
	}, []string{"target"})
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "reliapi_queue_wait_seconds",
		Help:    "Time jobs waited from their submission to their first start (both by Redis's clock), by queue (sync, async) and tenant tier (free, developer, pro, enterprise, unknown).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
	}, []string{"queue", "tenant_tier"})
	reg.MustRegister(m.jobs, m.attempts, m.redisFallbacks, m.rateWaits, m.keySwitches, m.webhookDeliveries, m.webhookSeconds, m.spend, m.queueWait)
	return m
}

// outcomeLabel is the attempts label for one attempt's error.
func outcomeLabel(err error, class string) string {
	switch {
	case err == nil:
		return "ok"
	case class == "permanent":
		return "error"
	default:
		return class
	}
}

// observeWait times job's wait in its queue when this delivery is its
// first start: a later one (a takeover, a run after a requeue) was not
// waiting since the submission.
func (m *metrics) observeWait(job *reliapi.Job, tier string) {
	if job.Attempts != 1 || job.StartedAt.IsZero() || job.CreatedAt.IsZero() {
		return
	}
	wait := max(job.StartedAt.Sub(job.CreatedAt), 0)
	m.queueWait.WithLabelValues(tasks.KindOf(job.Queue), config.TierLabel(tier)).Observe(wait.Seconds())
}
