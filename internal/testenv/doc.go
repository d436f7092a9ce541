// Package testenv is the harness tests use to stand up real dependencies,
// and the one set of helpers the tests, the chaos scenarios and the
// benchmark share to drive them.
//
// It owns starting and stopping a private redis-server per test
// ([StartRedis], or [StartRedisWith] for more redis-server arguments, such
// as an append-only file that survives a restart), a fake upstream HTTP
// server that serves the [httpbin] handler, counts what it receives and
// can be made slow, failing or blocked ([StartUpstream]; [KeyLog] plays a
// provider that answers by API key), the YAML config a fleet runs with
// ([Config], [FleetConfig]), a client that sends JSON with an API key and
// decodes the answer ([Client]), building the reliapi binary once per
// process ([Binary]), running it as a child process ([StartReliAPI],
// [WaitReady]; [Process] is any child, redis-server included), reading
// its metrics ([Metric]), waiting for a condition with a bound
// ([Eventually]) and picking free loopback ports ([FreePort]).
//
// Everything listens on 127.0.0.1 only, on ports chosen at run time, so
// tests can run in parallel and never touch a shared Redis (such as one on
// port 6379). Every helper that takes a testing.TB registers its own
// cleanup with it and fails the test on error. Programs that are not tests
// (the benchmark report) use the variants that return an error and leave
// stopping to their caller: [StartRedisProcess], [StartProcess],
// [NewUpstream], [BuildBinary], [FindFreePort], [AwaitReady], [Poll],
// [Client.Send] and [Config.Write].
//
// [httpbin]: github.com/reliapi/reliapi/internal/httpbin
package testenv
