package worker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/httpx"
)

// callHTTP makes a job's HTTP call through the attempt chain under the
// target's retry matrix (none for a POST or PATCH without an idempotency
// key). A positive later means the job must wait that long for its
// rate-limit slot and should be handed back to the queue.
func (w *Worker) callHTTP(ctx context.Context, j *run) (res *reliapi.Result, later time.Duration) {
	p := j.payload
	r := p.HTTP
	req := httpx.Request{
		Method: r.Method, Path: r.Path, Query: r.Query, Headers: r.Headers,
		Body: r.Body, IdempotencyKey: p.IdempotencyKey,
	}
	matrix := j.retryMatrix(j.target.retries)
	if !retrySafe(r.Method, p.IdempotencyKey) {
		matrix = nil
	}
	var resp *reliapi.HTTPResponse
	out := w.call(ctx, j, matrix, exchange{
		credential: j.target.httpAuth,
		send: func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error) {
			return w.http.Do(ctx, upstream, req)
		},
		read: func(r *reliapi.HTTPResponse, err error) error {
			resp = r
			return err
		},
	})
	if out.later > 0 {
		return nil, out.later
	}
	return resultOf(resp, reliapi.ResultMeta{Retries: out.retries}, out.err), 0
}

// resultOf is a job's result: data (an HTTP answer or a completion), or
// the error the call ended with.
func resultOf(data any, meta reliapi.ResultMeta, err error) *reliapi.Result {
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}
	}
	return &reliapi.Result{Data: raw, Meta: meta}
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
