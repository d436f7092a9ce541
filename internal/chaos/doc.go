// Package chaos holds the fault scenarios of `make chaos`: a real fleet
// (redis-server, api and worker processes, a local upstream) on 127.0.0.1,
// a fault injected for a bounded time, then the count of calls accepted,
// completed, failed with a clear error, lost, and duplicated at the
// upstream. The scenarios are tests: `go test ./internal/chaos` (so
// `make test`) runs them short; `make chaos` runs them full and prints the
// table. The package has no code of its own beyond them.
//
// The scenarios, one fault each:
//
//   - Redis unreachable (TestRedisUnreachable, chaos_test.go): every
//     connection cut and new ones refused, data intact.
//   - Redis SIGKILLed and restarted on its append-only file
//     (TestRedisRestartAOF).
//   - Redis slow (TestRedisSlow, slow_test.go): the TCP proxy delays every
//     byte 50 ms each way.
//   - A Sentinel failover (TestSentinelFailover, failover_test.go): the
//     master SIGKILLed, its replica promoted by 3 Sentinels.
//   - The upstream answering 503 (TestUpstreamStorm), or slower than its
//     timeout (TestLatencySpike).
//   - A webhook receiver failing its first attempts (TestFlappingReceiver).
//   - A worker SIGKILLed while it runs jobs (TestWorkerKilled), or cut off
//     from Redis, its bytes blackholed, while the others are fine
//     (TestWorkerCutOff, cut_test.go).
//
// fleet_test.go starts a fleet (newFleet), proxy_test.go is the TCP proxy
// between it and Redis that injects the network faults (outage, latency,
// blackhole).
package chaos
