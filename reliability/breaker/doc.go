// Package breaker is a circuit breaker per target whose state lives in
// Redis, so that every worker replica sees the same breaker: one opened by
// one worker is open for all, and after the cooldown exactly one caller in
// the whole fleet holds the half-open probe.
//
// States: closed (calls flow; consecutive failures are counted, and
// optionally the failure rate over a window) → open (calls are refused with
// the time left of the cooldown) → half-open (one probe lease; its success
// closes, its failure re-opens; a lease whose holder vanished expires and
// goes to the next caller). Every decision is one Lua script reading Redis
// TIME, so clocks of different machines never disagree — except admitting
// a call through a closed breaker, which changes nothing and is a plain
// read (AllowIn).
//
// Results carry the generation they were admitted in: a result that
// arrives after the breaker changed state (a slow call admitted before it
// opened, say) is ignored instead of counted against the new state.
package breaker
