// Package cache is the response cache: successful GET and HEAD answers
// (status < 400) kept in Redis per tenant over the canonical request, and
// the collapsing of identical requests that miss while one of them is
// already on its way to the upstream.
//
// A lookup is one Lua script over two keys that share a hash tag: the
// entry, and an in-flight marker naming the job that will fill it. The
// first caller to miss becomes the leader (its job calls the upstream);
// callers that miss while the marker stands follow that job instead of
// starting their own, so N identical concurrent requests make one
// upstream call. The worker stores the answer and clears the marker; a
// failed call only clears the marker, so the next request tries again.
package cache
