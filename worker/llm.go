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

// callLLM runs a chat completion through the target's provider adapter,
// under the same retry matrix, rate scheduler, key pool and breaker as any
// call. An upstream error answer becomes the provider's own message under
// our codes; a 2xx answer becomes {content, role, finish_reason, model,
// usage}.
func (w *Worker) callLLM(ctx context.Context, j *run) (*reliapi.Result, time.Duration) {
	p, tg := j.payload, j.target
	adapter := tg.llm
	if adapter == nil {
		return &reliapi.Result{Error: reliapi.Errorf(reliapi.CodeInvalidTarget, "Target %q is not an LLM target", p.Target)}, 0
	}
	body, err := adapter.EncodeRequest(*p.LLM)
	if err != nil {
		return &reliapi.Result{Error: asError(err)}, 0
	}
	req := httpx.Request{
		Method: http.MethodPost, Path: adapter.Path(), Body: body, IdempotencyKey: p.IdempotencyKey,
		Headers: map[string]string{"Content-Type": "application/json", "Accept": "application/json"},
	}
	meta := reliapi.ResultMeta{Provider: adapter.Name(), Model: p.LLM.Model}

	var chat *reliapi.ChatResponse
	retries, err := retry.Do(ctx, tg.retries, func(ctx context.Context, attempt int) error {
		resp, err := w.limited(ctx, j, adapter.Headers, func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error) {
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
			return err
		}
		chat, err = decodeLLM(adapter, resp, err)
		w.countAttempt(j, attempt, err)
		return err
	})
	var rs *rescheduleError
	if errors.As(err, &rs) {
		return nil, rs.wait
	}
	meta.Retries = retries
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}, 0
	}
	if chat.Model != "" {
		meta.Model = chat.Model
	}
	data, err := json.Marshal(chat)
	if err != nil {
		return &reliapi.Result{Error: asError(err), Meta: meta}, 0
	}
	return &reliapi.Result{Data: data, Meta: meta}, 0
}

// decodeLLM reads a provider's answer: a completion for 2xx, the
// provider's error (its message under our code) otherwise. Errors the
// transport already coded (429, 5xx) keep their class and get the
// provider's message.
func decodeLLM(a reliapi.LLMProvider, resp *reliapi.HTTPResponse, err error) (*reliapi.ChatResponse, error) {
	if err != nil {
		var e *reliapi.Error
		if errors.As(err, &e) && e.UpstreamStatus > 0 {
			body, _ := e.Details["body"].(json.RawMessage)
			if pe := a.DecodeError(e.UpstreamStatus, nil, body); pe.Message != "" {
				e.Message, e.Details = pe.Message, pe.Details
			}
		}
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, a.DecodeError(resp.StatusCode, nil, resp.Body)
	}
	chat, err := a.DecodeResponse(resp.Body)
	if err != nil {
		return nil, &reliapi.Error{Code: reliapi.CodeServerError, Message: "Upstream answered with a body that is not a completion", Source: reliapi.SourceUpstream, UpstreamStatus: resp.StatusCode, Err: err}
	}
	return chat, nil
}
