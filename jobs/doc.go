// Package jobs owns job records in Redis: creating a job (at most once per
// ID, which is what makes idempotency keys safe across api replicas), the
// status transitions queued → running → succeeded | failed | canceled |
// expired (and back to queued when a job waits for its rate-limit slot in
// the queue), listing a tenant's jobs, and waiting for a job to finish.
// Which transition to make, and what follows from it, is package
// lifecycle's to decide; the scripts here make each one atomically.
//
// Every transition is one Lua script on the job's own hash, so it is atomic
// and runs unchanged on Redis Cluster (each job key carries its ID as hash
// tag). Scripts read time with Redis TIME, so timestamps from different
// machines never disagree. A finished job is announced on a pub/sub channel;
// Waiter turns those announcements into wake-ups for synchronous callers and
// long polls, and falls back to polling when a message is lost.
package jobs
