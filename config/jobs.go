package config

import (
	"time"
)

// Jobs configures job records and limits.
type Jobs struct {
	// Retention is how long job records and results are kept; at least 1m
	// and at least Timeout. Default 24h.
	Retention Duration `yaml:"retention"`
	// Timeout is the longest one job may run, retries included; at least
	// 1s. Default 10m.
	Timeout Duration `yaml:"timeout"`
	// MaxResultBytes is the largest upstream body a job keeps; a larger
	// body fails the job. Default 10 MiB.
	MaxResultBytes int64 `yaml:"max_result_bytes"`
}

// setDefaults fills every zero field of j with its default.
func (j *Jobs) setDefaults() {
	setDefault(&j.Retention, Duration{24 * time.Hour})
	setDefault(&j.Timeout, Duration{10 * time.Minute})
	setDefault(&j.MaxResultBytes, 10<<20)
}

// jobs checks the jobs section.
func (v *validator) jobs(j Jobs) {
	switch {
	case j.Retention.Duration < time.Minute:
		v.add("jobs.retention", "must be at least 1m (got %s)", j.Retention)
	case j.Retention.Duration < j.Timeout.Duration:
		// A record that expired while its job ran would be gone when the job
		// ends: its caller could not read the end, and an idempotency key
		// could start the call again.
		v.add("jobs.retention", "must be at least jobs.timeout (%s): a job's record must outlive its run (got %s)", j.Timeout, j.Retention)
	}
	v.check("jobs.timeout", j.Timeout.Duration >= time.Second, "must be at least 1s (got %s)", j.Timeout)
	v.check("jobs.max_result_bytes", j.MaxResultBytes > 0, "must be > 0 (got %d)", j.MaxResultBytes)
}
