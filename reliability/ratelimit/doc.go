// Package ratelimit is the rate scheduler: GCRA buckets in Redis shared by
// every worker, so that a key's limit holds across the whole fleet.
//
// Buckets hand out reservations rather than refusals: a call over the
// limit is told how long to wait for its slot, and the slot is its own —
// work over the limit is delayed, never dropped. A caller that cannot wait
// that long cancels, which gives the slot back, so a rejected call never
// uses up capacity (also when a later bucket of the same call is the one
// that is full).
//
// Each bucket is one key with its own hash tag, holding its theoretical
// arrival time (TAT) in microseconds of Redis TIME; several buckets of one
// call are reserved in one pipelined round trip.
package ratelimit
