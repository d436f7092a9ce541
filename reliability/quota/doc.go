// Package quota is admission control at the front door: rolling request
// windows and bans in Redis, shared by every api replica, so that a
// tenant limited to 60 calls a minute gets 60 however many replicas its
// calls are spread over.
//
// Unlike the rate scheduler (package ratelimit), which makes work wait for
// its slot, a quota refuses: the caller is told how long until the window
// has room (Retry-After), and nothing is queued.
//
// A window is a sorted set of the calls admitted in the last Period, by
// Redis TIME: exact at every instant, with no burst at a window boundary.
// A call's windows are checked in one pipelined round trip, one script
// per window (each its own hash tag, so it runs on Redis Cluster); when
// any refuses, the call is taken back out of the others, so a refused call
// never uses up capacity.
//
// A subject (an API key, a client IP) that keeps being refused can be
// banned for a while: Violation counts refusals and sets the ban, which
// expires by itself.
package quota
