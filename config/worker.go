package config

import (
	"time"
)

// Worker configures the job-executing processes.
type Worker struct {
	// Concurrency is how many jobs one worker process runs at once, 1 to
	// 10000. Default 64.
	Concurrency int `yaml:"concurrency"`
	// TaskCheckInterval is how often an idle worker's asynq servers (jobs,
	// webhook deliveries) poll their queues. Jobs are picked up at once
	// from the wake-up lane; asynq's queues hold their fallbacks, so this
	// costs latency only when the lane is not used. At most 10s. Default
	// 1s.
	TaskCheckInterval Duration `yaml:"task_check_interval"`
	// DelayedTaskCheckInterval is how often scheduled and retried tasks
	// (the lane's fallbacks, jobs waiting for a rate-limit slot, webhook
	// retries) are moved to their queue when due. At most 10s. Default
	// 1s.
	DelayedTaskCheckInterval Duration `yaml:"delayed_task_check_interval"`
	// ShutdownTimeout is how long a worker lets running jobs finish on
	// shutdown before asynq requeues them. Default 25s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MetricsListen is the address of the worker's /metrics, /livez and
	// /readyz. Empty (the default) means DefaultMetricsListen, or a free
	// loopback port when that one is taken; an address set here is used
	// as it is, and a worker that cannot bind it does not start.
	MetricsListen string `yaml:"metrics_listen"`
}

// DefaultMetricsListen is where a worker serves its metrics and health when
// no address is set. It is loopback only, so that a default install
// exposes nothing; containers set the address they are scraped on. A
// second worker on the same host finds it taken and takes a free port
// instead, so that workers scale on one machine without any setting.
const DefaultMetricsListen = "127.0.0.1:9091"

// setDefaults fills every zero field of w with its default.
func (w *Worker) setDefaults() {
	setDefault(&w.Concurrency, 64)
	setDefault(&w.TaskCheckInterval, Duration{time.Second})
	setDefault(&w.DelayedTaskCheckInterval, Duration{time.Second})
	setDefault(&w.ShutdownTimeout, Duration{25 * time.Second})
}

// worker checks the worker section.
func (v *validator) worker(w Worker) {
	v.check("worker.concurrency", w.Concurrency >= 1 && w.Concurrency <= 10000, "must be 1 to 10000 (got %d)", w.Concurrency)
	v.upTo("worker.task_check_interval", w.TaskCheckInterval.Duration, 10*time.Second)
	v.upTo("worker.delayed_task_check_interval", w.DelayedTaskCheckInterval.Duration, 10*time.Second)
	v.positive("worker.shutdown_timeout", w.ShutdownTimeout.Duration)
	if w.MetricsListen != "" { // empty: DefaultMetricsListen, or a free port
		v.address("worker.metrics_listen", w.MetricsListen)
	}
}
