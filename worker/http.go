package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/retry"
	"github.com/reliapi/reliapi/tasks"
)

// resultMargin is kept free before asynq's deadline to record the outcome.
const resultMargin = 2 * time.Second

// handleHTTP executes one generic HTTP job.
func (w *Worker) handleHTTP(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode(t.Payload())
	if err == nil && p.HTTP == nil {
		err = errors.New("HTTP task without a request")
	}
	if err != nil {
		// Retrying cannot help; asynq archives the task for inspection.
		w.log.Error("dropping undecodable task", "job_id", p.JobID, "error", err)
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	taskID, _ := asynq.GetTaskID(ctx)
	// Attributes, not a derived logger: building one per job costs more
	// than the few lines a job usually logs.
	tag := []any{"job_id", p.JobID, "target", p.Target}

	job, run, err := w.store.Start(ctx, p.JobID, taskID)
	if err != nil {
		return err
	}
	if !run {
		w.log.Debug("skipping job that is not runnable", append(tag, "status", jobStatus(job))...)
		return nil
	}
	if job.Attempts > 1 {
		w.log.Warn("running job again after an interrupted delivery", append(tag, "attempts", job.Attempts)...)
	}
	tg, ok := w.targets[p.Target]
	if !ok {
		return w.finish(ctx, p.JobID, taskID, &reliapi.Result{
			Error: reliapi.Errorf(reliapi.CodeNotFound, "Target %q is not configured on this worker", p.Target),
		})
	}

	runCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-resultMargin))
		defer cancel()
	}
	res := w.callHTTP(runCtx, tag, p, tg)
	w.fillCache(ctx, p, res)
	if ctx.Err() != nil {
		// Canceled by a cancel request (the record already says canceled) or
		// past asynq's deadline: asynq has taken the task back already.
		w.log.Info("job context ended", append(tag, "error", ctx.Err())...)
	}
	return w.finish(ctx, p.JobID, taskID, res)
}

// callHTTP runs the upstream call under the target's retry matrix.
func (w *Worker) callHTTP(ctx context.Context, tag []any, p tasks.Payload, tg target) *reliapi.Result {
	r := p.HTTP
	req := httpx.Request{
		Method: r.Method, Path: r.Path, Query: r.Query, Headers: r.Headers,
		Body: r.Body, IdempotencyKey: p.IdempotencyKey,
	}
	matrix := tg.retries
	if !retrySafe(r.Method, p.IdempotencyKey) {
		matrix = nil
	}

	var resp *reliapi.HTTPResponse
	retries, err := retry.Do(ctx, matrix, func(ctx context.Context, attempt int) error {
		err := w.guarded(ctx, p.Target, tg, func(ctx context.Context) error {
			var err error
			resp, err = w.http.Do(ctx, tg.upstream, req)
			return err
		})
		class := reliapi.Classify(err)
		w.metrics.attempts.WithLabelValues(p.Target, outcome(err, string(class))).Inc()
		if err != nil {
			w.log.Warn("upstream attempt failed", append(tag, "attempt", attempt, "class", string(class), "error", err)...)
		}
		return err
	})
	meta := reliapi.ResultMeta{Retries: retries}
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}
	}
	return &reliapi.Result{Data: data, Meta: meta}
}

// retrySafe reports whether a call may be repeated: POST and PATCH only with
// an idempotency key, which the upstream receives.
func retrySafe(method, idempotencyKey string) bool {
	if method == http.MethodPost || method == http.MethodPatch {
		return idempotencyKey != ""
	}
	return true
}

// asError turns any failure into the error a job records. Errors without a
// code are bugs or cancellations; their Go text stays in the logs.
func asError(err error) *reliapi.Error {
	var e *reliapi.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &reliapi.Error{Code: reliapi.CodeTimeout, Message: "Job deadline exceeded", Source: reliapi.SourceReliAPI, Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &reliapi.Error{Code: reliapi.CodeJobCanceled, Message: "Job was canceled", Source: reliapi.SourceReliAPI, Err: err}
	}
	return &reliapi.Error{Code: reliapi.CodeInternal, Message: "Internal error while executing the job", Source: reliapi.SourceReliAPI, Retryable: true, Err: err}
}

func jobStatus(j *reliapi.Job) string {
	if j == nil {
		return "gone"
	}
	return string(j.Status)
}
