// Package reliability groups the reliability primitives, one subpackage
// each: idempotency, retry, and (as they land) breaker, ratelimit, keypool,
// cache and budget. They import only the standard library, go-redis and
// go-retry, never the api, worker or tasks packages.
package reliability
