// Package worker executes jobs: an asynq server whose handlers decode a
// task, mark the job running, call the upstream through the reliability
// primitives, record the outcome and announce it.
//
// asynq delivers at least once (a crash or a lost lease redelivers a task),
// so every handler is safe to run twice: the job store refuses to start a
// finished or canceled job, and refuses a result for a job that is no longer
// running under the same task.
package worker
