package worker

import "github.com/prometheus/client_golang/prometheus"

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
	reg.MustRegister(m.jobs, m.attempts, m.redisFallbacks, m.rateWaits, m.keySwitches, m.webhookDeliveries, m.webhookSeconds, m.spend)
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
