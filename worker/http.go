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
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/retry"
	"github.com/reliapi/reliapi/tasks"
)

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

	job, runnable, err := w.store.Start(ctx, p.JobID, taskID)
	if err != nil {
		return err
	}
	if !runnable {
		w.log.Debug("skipping job that is not runnable", append(tag, "status", jobStatus(job))...)
		return nil
	}
	if job.Attempts > 1 {
		w.log.Warn("running job again after an interrupted delivery", append(tag, "attempts", job.Attempts)...)
	}
	tg, ok := w.targets[p.Target]
	if !ok {
		res := &reliapi.Result{Error: reliapi.Errorf(reliapi.CodeNotFound, "Target %q is not configured on this worker", p.Target)}
		w.fillCache(ctx, p, res)
		return w.finish(ctx, p.JobID, taskID, res)
	}

	// The job's own deadline counts from its creation, across reschedules;
	// asynq's bounds this run, less the time to record the outcome.
	j := &run{payload: p, target: tg, tag: tag, deadline: job.CreatedAt.Add(w.cfg.Settings.Jobs.Timeout.Duration)}
	j.profileName, j.profile = w.cfg.Settings.Profile(p.Profile)
	runDeadline := j.deadline
	if d, ok := ctx.Deadline(); ok && d.Add(-tasks.RecordMargin).Before(runDeadline) {
		runDeadline = d.Add(-tasks.RecordMargin)
	}
	runCtx, cancel := context.WithDeadline(ctx, runDeadline)
	defer cancel()
	res, later := w.callHTTP(runCtx, j)
	if later > 0 {
		return w.reschedule(ctx, j, job, taskID, later)
	}
	w.fillCache(ctx, p, res)
	if ctx.Err() != nil {
		// Canceled by a cancel request (the record already says canceled) or
		// past asynq's deadline: asynq has taken the task back already.
		w.log.Info("job context ended", append(tag, "error", ctx.Err())...)
	}
	return w.finish(ctx, p.JobID, taskID, res)
}

// run is one execution of a job.
type run struct {
	payload     tasks.Payload
	target      target
	profileName string
	profile     *config.ClientProfile
	// deadline is the job's: created_at + jobs.timeout.
	deadline time.Time
	tag      []any
}

// callHTTP runs the upstream call under the target's retry matrix, through
// the rate scheduler, key pool and breaker on every attempt. A positive
// later means the job must wait that long for its rate-limit slot and
// should be handed back to the queue.
func (w *Worker) callHTTP(ctx context.Context, j *run) (res *reliapi.Result, later time.Duration) {
	p, tg, tag := j.payload, j.target, j.tag
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
		var err error
		resp, err = w.limited(ctx, j, tg.httpAuth, func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error) {
			var resp *reliapi.HTTPResponse
			err := w.guarded(ctx, p.Target, tg, func(ctx context.Context) error {
				var err error
				resp, err = w.http.Do(ctx, upstream, req)
				return err
			})
			return resp, err
		})
		var rs *rescheduleError
		if errors.As(err, &rs) {
			return err // not an attempt: the job runs again at its slot
		}
		class := reliapi.Classify(err)
		w.metrics.attempts.WithLabelValues(p.Target, outcome(err, string(class))).Inc()
		if err != nil {
			w.log.Warn("upstream attempt failed", append(tag, "attempt", attempt, "class", string(class), "error", err)...)
		}
		return err
	})
	var rs *rescheduleError
	if errors.As(err, &rs) {
		return nil, rs.wait
	}
	meta := reliapi.ResultMeta{Retries: retries}
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}, 0
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}, 0
	}
	return &reliapi.Result{Data: data, Meta: meta}, 0
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
