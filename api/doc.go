// Package api is ReliAPI's HTTP front door: Gin routes for the proxy and
// jobs APIs, request validation, the Prefer-driven sync / async / wait
// modes, health and metrics. It never calls an upstream: it creates jobs,
// enqueues them, and waits for their outcome or hands the caller a job to
// poll.
//
// Every error leaves through writeError in errors.go, the one place where
// error codes become HTTP statuses, in the one envelope of DESIGN.md §3.
package api
