// Package lifecycle owns a job's life, from the moment a validated call
// becomes a job to every way it ends. The api and the worker both call it;
// neither records a transition or its side effects itself.
//
//   - Submit turns a call into a queued job: the tenant's budget hold, the
//     job record (at most once per ID: an idempotency key's repeat attaches
//     to its job), the tenant's concurrent-job slot, and the asynq task. A
//     step that fails undoes the ones before it, so a failed submit leaves
//     nothing behind that would block a retry of the same request.
//   - Begin, Finish and Requeue are a worker's delivery of a job's task:
//     start it (or do what a delivery that cannot run owes), record its
//     outcome, or hand it back to the queue to run later.
//   - Cancel, and EndOverdue on every read for a caller, end a job from the
//     api: canceled, expired past its deadline, or lost with its task.
//
// Every end has the same consequences wherever it happens: waiters are
// told (the jobs package's scripts publish the end), the concurrent-job
// slot and the cache claim are released, the budget hold is settled, and
// the webhook's delivery is queued. The record's transitions themselves
// are Lua scripts in package jobs; this package decides which to run and
// what follows from them.
package lifecycle
