package worker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/retry"
)

// callHTTP runs the upstream call under the target's retry matrix, through
// the rate scheduler, key pool and breaker on every attempt. A positive
// later means the job must wait that long for its rate-limit slot and
// should be handed back to the queue.
func (w *Worker) callHTTP(ctx context.Context, j *run) (res *reliapi.Result, later time.Duration) {
	p, tg := j.payload, j.target
	r := p.HTTP
	req := httpx.Request{
		Method: r.Method, Path: r.Path, Query: r.Query, Headers: r.Headers,
		Body: r.Body, IdempotencyKey: p.IdempotencyKey,
	}
	matrix := j.retryMatrix(tg.retries)
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
		w.countAttempt(j, attempt, err)
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

// countAttempt records one upstream attempt in the metrics, and in the log
// when it failed.
func (w *Worker) countAttempt(j *run, attempt int, err error) {
	class := reliapi.Classify(err)
	w.metrics.attempts.WithLabelValues(j.payload.Target, outcome(err, string(class))).Inc()
	if err != nil {
		w.log.Warn("upstream attempt failed", append(j.tag, "attempt", attempt, "class", string(class), "error", err)...)
	}
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
