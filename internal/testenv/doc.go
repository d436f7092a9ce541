// Package testenv is the harness tests use to stand up real dependencies.
//
// It owns starting and stopping a private redis-server per test
// ([StartRedis], or [StartRedisWith] for more redis-server arguments, such
// as an append-only file that survives a restart), a counting fake
// upstream HTTP server serving the [httpbin] handler ([StartUpstream]),
// building the reliapi binary once per test binary ([Binary]), running it
// as a child process ([StartReliAPI], [WaitReady]; [Process] is any child,
// redis-server included) and picking free loopback ports ([FreePort]).
//
// Everything listens on 127.0.0.1 only, on ports chosen at run time, so
// tests can run in parallel and never touch a shared Redis (such as one on
// port 6379). Every helper registers its own cleanup with testing.TB, except
// [StartRedisProcess] and [StartProcess], which serve programs that are not
// tests (the benchmark report) and leave stopping to their caller.
//
// [httpbin]: github.com/reliapi/reliapi/internal/httpbin
package testenv
