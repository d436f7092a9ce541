// Package reliapi holds ReliAPI's domain vocabulary: jobs and their
// statuses, the error codes every layer speaks, and Classify, the one place
// that decides whether a failure is retryable.
//
// ReliAPI is a reliability layer for HTTP and LLM API calls. A Gin front door
// (package api) accepts a call, enqueues it with asynq on Redis (package
// tasks), and horizontally scaled workers (package worker) execute it through
// the primitives in package reliability against the adapters in package
// providers. The composition root is cmd/reliapi.
//
// This package imports nothing but the standard library; every other package
// may import it.
package reliapi
