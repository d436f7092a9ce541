package worker

import "github.com/prometheus/client_golang/prometheus"

// metrics are the worker's Prometheus series.
type metrics struct {
	jobs           *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	redisFallbacks *prometheus.CounterVec
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
	reg.MustRegister(m.jobs, m.attempts, m.redisFallbacks)
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
