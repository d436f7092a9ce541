package worker

import (
	"context"
	"time"

	"github.com/reliapi/reliapi"
)

// parallelPoll is how often a job looks again for a free parallel slot of
// its profile while it waits in the worker.
const parallelPoll = 25 * time.Millisecond

// parallelRequeue is how much later a job that found no parallel slot for
// maxInlineWait runs again, from the queue.
const parallelRequeue = 500 * time.Millisecond

// withParallelSlot runs exec holding one of the tenant's
// max_parallel_requests slots under the caller's client profile. A job
// that finds them all taken waits for one (polling for up to
// maxInlineWait, then from the queue); it fails with RATE_LIMIT_RELIAPI
// only when no slot comes before its deadline.
func (w *Worker) withParallelSlot(ctx context.Context, j *run, exec execute) (*reliapi.Result, time.Duration) {
	limit := j.profile.MaxParallelRequests
	if limit <= 0 {
		return exec(ctx, j)
	}
	name := "profile:" + j.profileName + ":tenant:" + j.payload.Tenant + ":running"
	start := time.Now()
	for {
		// The hold outlives the job's deadline, so that a slot whose release
		// is lost with a crashed worker frees itself.
		held, err := w.quota.Hold(ctx, name, j.payload.JobID, limit, time.Until(j.deadline)+time.Minute)
		if err != nil && !w.redisFailOpen(ctx, "parallel", err) {
			return &reliapi.Result{Error: &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Parallel-request state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}}, 0
		}
		if held || err != nil {
			break
		}
		w.metrics.rateWaits.WithLabelValues("parallel").Inc()
		if time.Since(start) >= maxInlineWait {
			if time.Now().Add(parallelRequeue).After(j.deadline) {
				return &reliapi.Result{Error: slotAfterDeadline("parallel", parallelRequeue)}, 0
			}
			return nil, parallelRequeue
		}
		if _, err := w.wait(ctx, j, parallelPoll, "parallel"); err != nil {
			return &reliapi.Result{Error: asError(err)}, 0
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := w.quota.Release(rctx, name, j.payload.JobID); err != nil {
			w.log.Warn("releasing a parallel-request slot", append(j.tag, "error", err)...)
		}
	}()
	return exec(ctx, j)
}
