// Package chaos holds the fault scenarios of `make chaos`: a real fleet
// (redis-server, api and worker processes, a local upstream) on 127.0.0.1,
// a fault injected for a bounded time, then the count of calls accepted,
// completed, failed with a clear error, lost, and duplicated at the
// upstream. The scenarios are tests: `go test ./internal/chaos` (so
// `make test`) runs them short; `make chaos` runs them full and prints the
// table. The package has no code of its own beyond them.
package chaos
