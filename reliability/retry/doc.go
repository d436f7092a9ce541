// Package retry runs an upstream call under a target's retry matrix: one
// policy per failure class (429, 5xx, net, timeout), attempts counting the
// first try, backoff exp-jitter, exp, linear or fixed, and Retry-After
// honoured. It never sleeps past the context's deadline: when the next wait
// would end after it, it gives up at once with the last error.
package retry
