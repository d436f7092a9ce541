// Package keypool spreads calls over several API keys of one provider and
// keeps each key's health in Redis, shared by every worker.
//
// A call leases the least-loaded usable key (fewest calls in flight with
// it, first in configuration order on a tie) and returns the lease with
// the outcome. A 429 rests the key for its Retry-After (or the pool's
// cooldown); a 401 or 403 quarantines it until an operator re-enables it
// or, when configured, until a probe call succeeds. A key at its
// concurrency limit is skipped. Leases expire by themselves, so a worker
// that dies mid-call does not hold a key's capacity forever.
//
// Key secrets never enter Redis: keys are named by their id everywhere.
package keypool
