package api

import (
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reliapi/reliapi/tasks"
)

// metrics are the api's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	cache    *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, inspector *asynq.Inspector, shards int) *metrics {
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
	reg.MustRegister(m.requests, m.duration, m.cache, m.refused, queueDepth{inspector, shards})
	return m
}

// queueDepth reports the size of each queue at scrape time, read from
// Redis through asynq (so every api replica reports the same numbers).
type queueDepth struct {
	inspector *asynq.Inspector
	shards    int
}

var queueDepthDesc = prometheus.NewDesc("reliapi_queue_depth",
	"Tasks waiting in a queue (pending + scheduled + retry), read at scrape time.", []string{"queue"}, nil)

// Describe implements prometheus.Collector.
func (q queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepthDesc }

// Collect implements prometheus.Collector. A queue asynq has not seen yet
// is reported as empty; a Redis failure reports nothing.
func (q queueDepth) Collect(ch chan<- prometheus.Metric) {
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
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(depth), name)
	}
}
