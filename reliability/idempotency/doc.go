// Package idempotency turns an idempotency key into a job identity.
//
// A job's ID is derived from the tenant and the key, so every api replica
// names the same job for the same key without talking to the others. The
// job store creates a job at most once per ID (one atomic Redis script),
// which makes the first request the one that runs; repeats attach to that
// job and compare request fingerprints to detect a conflicting reuse of the
// key. There is no separate idempotency record to keep in step with the job.
package idempotency
