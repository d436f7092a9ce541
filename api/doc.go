// Package api is ReliAPI's HTTP front door: Gin routes for the proxy and
// jobs APIs, request validation, the Prefer-driven sync / async / wait
// modes, health and metrics. Its handlers translate, nothing more: they
// turn a request into a call of package lifecycle (Submit, Cancel, Get…)
// and its answer into HTTP. It never calls an upstream itself: it submits
// jobs and waits for their outcome or hands the caller a job to poll; a
// sync call's job may run in the same process, on the Runner cmd/reliapi
// gives it (a worker's SyncRunner), which holds the credentials.
//
// Every error leaves through writeError in errors.go, in the one envelope
// of the HTTP contract (README, docs/ARCHITECTURE.md); render.StatusOf
// (render/errors.go) is the one place where error codes become HTTP
// statuses.
//
// The API is described in openapi.yaml (served as /openapi.json, and kept
// in step with the routes by TestOpenAPICoversRoutes) and shown by the
// reference pages of docsui.go: Swagger UI at /docs and ReDoc at /redoc,
// embedded from docsui/ so that they work offline.
package api
