package worker

import "github.com/prometheus/client_golang/prometheus"

// metrics are the worker's Prometheus series.
type metrics struct {
	jobs           *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	redisFallbacks *prometheus.CounterVec
	rateWaits      *prometheus.CounterVec
	keySwitches    *prometheus.CounterVec
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
	reg.MustRegister(m.jobs, m.attempts, m.redisFallbacks, m.rateWaits, m.keySwitches)
	return m
}

// outcome is the attempts label for one attempt's error.
func outcome(err error, class string) string {
	switch {
	case err == nil:
		return "ok"
	case class == "permanent":
		return "error"
	default:
		return class
	}
}
