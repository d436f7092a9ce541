package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/reliability/budget"
)

// callLLM runs a chat completion through the target's provider adapter,
// under the same retry matrix, rate scheduler, key pool and breaker as any
// call. An upstream error answer becomes the provider's own message under
// our codes; a 2xx answer becomes {content, role, finish_reason, model,
// usage}. When the target fails with a 5xx, 429, network error, timeout
// or an open breaker, its fallback_targets are tried in order, each under
// its own retry matrix, breaker and keys, as fallbacks says.
func (w *Worker) callLLM(ctx context.Context, j *run) (*reliapi.Result, time.Duration) {
	p := j.payload
	if j.target.llm == nil {
		return &reliapi.Result{Error: reliapi.Errorf(reliapi.CodeInvalidTarget, "Target %q is not an LLM target", p.Target)}, 0
	}
	if p.LLM.Stream && j.attempts > 1 {
		if err := w.resumable(ctx, j); err != nil {
			return &reliapi.Result{Error: asError(err)}, 0
		}
	}
	chat, meta, out := w.complete(ctx, j, *p.LLM)
	if out.err != nil && out.later == 0 && fallsBack(out.err) {
		for _, fb := range w.fallbacks(j) {
			jf := *j
			jf.target, jf.payload.Target = fb.target, fb.name
			jf.tag = append(j.tag[:len(j.tag):len(j.tag)], "fallback_target", fb.name)
			w.log.Warn("falling back", append(jf.tag, "error", out.err)...)
			fchat, fmeta, fout := w.complete(ctx, &jf, fb.req)
			if fout.later > 0 || fout.err == nil {
				chat, meta, out = fchat, fmeta, fout
				meta.FallbackUsed, meta.FallbackTarget = true, fb.name
				break
			}
		}
	}
	if out.later > 0 {
		return nil, out.later
	}
	return resultOf(chat, meta, out.err), 0
}

// fallback is a fallback target a call may use, and what it asks it.
type fallback struct {
	name   string
	target target
	req    reliapi.ChatRequest
}

// fallbacks are, in order, the fallback targets of j's target that j may
// use, with the call as each is asked it: their own default_model and
// max_tokens cap. A target is skipped, and does not count against the
// tier's max_fallbacks, when it is not an LLM target, when the caller's
// tier does not allow its model, or when the call, priced at its model,
// would exceed the hard cost cap of j's target or its own.
func (w *Worker) fallbacks(j *run) []fallback {
	caps := j.payload.Caps
	var out []fallback
	for _, name := range w.cfg.Settings.Targets[j.payload.Target].FallbackTargets {
		if caps != nil && len(out) >= caps.MaxFallbacks {
			break
		}
		t, ok := w.targets[name]
		if !ok || t.llm == nil {
			continue
		}
		own := w.cfg.Settings.Targets[name].LLM
		req := *j.payload.LLM
		if own.DefaultModel != "" {
			req.Model = own.DefaultModel
		}
		if own.MaxTokens != nil && (req.MaxTokens == nil || *req.MaxTokens > *own.MaxTokens) {
			req.MaxTokens = own.MaxTokens
		}
		if caps != nil && !config.ModelAllowed(caps.AllowedModels, req.Model) {
			continue
		}
		if !w.withinHardCaps(&req, j.payload.Target, name) {
			continue
		}
		out = append(out, fallback{name: name, target: t, req: req})
	}
	return out
}

// withinHardCaps reports whether req, priced as the api prices a call,
// stays within the hard_cost_cap_usd of each of targets that has one. A
// model without a price passes only under budget.unknown_model: allow. A
// request without max_tokens is given budget.DefaultMaxTokens, as the api
// does to a capped call.
func (w *Worker) withinHardCaps(req *reliapi.ChatRequest, targets ...string) bool {
	limit := math.Inf(1)
	for _, name := range targets {
		if hard := w.cfg.Settings.Targets[name].LLM.HardCostCapUSD; hard != nil {
			limit = min(limit, *hard)
		}
	}
	if math.IsInf(limit, 1) {
		return true
	}
	price, ok := w.cfg.Settings.PriceOf(req.Model)
	if !ok {
		return w.cfg.Settings.UnknownModel == config.UnknownModelAllow
	}
	if req.MaxTokens == nil {
		n := budget.DefaultMaxTokens
		req.MaxTokens = &n
	}
	input, _ := budget.InputTokens(req.Model, req.Messages)
	return budget.Price{InputPer1M: price.InputPer1M, OutputPer1M: price.OutputPer1M}.Cost(input, *req.MaxTokens) <= limit
}

// fallsBack reports whether a failure is one that fallback targets may
// help with: the target is down, overloaded or refused by its breaker.
func fallsBack(err error) bool {
	switch reliapi.Classify(err) {
	case reliapi.ClassServer, reliapi.ClassRateLimited, reliapi.ClassNetwork, reliapi.ClassTimeout, reliapi.ClassBreakerOpen:
		return true
	}
	return false
}

// complete makes one chat completion against j's target through the
// attempt chain, retries included, streamed or not.
func (w *Worker) complete(ctx context.Context, j *run, r reliapi.ChatRequest) (*reliapi.ChatResponse, reliapi.ResultMeta, outcome) {
	adapter := j.target.llm
	meta := reliapi.ResultMeta{Provider: adapter.Name(), Model: r.Model}
	body, err := adapter.EncodeRequest(r)
	if err != nil {
		return nil, meta, outcome{err: err}
	}
	accept := "application/json"
	if r.Stream {
		accept = "text/event-stream"
	}
	req := httpx.Request{
		Method: http.MethodPost, Path: adapter.Path(), Body: body, IdempotencyKey: j.payload.IdempotencyKey,
		Headers: map[string]string{"Content-Type": "application/json", "Accept": accept},
	}
	var chat *reliapi.ChatResponse
	x := w.chatExchange(j, req, &chat)
	if r.Stream {
		x = w.streamExchange(j, req, r.Model, &chat)
	}
	out := w.call(ctx, j, j.retryMatrix(j.target.retries), x)
	meta.Retries = out.retries
	if out.err == nil && out.later == 0 && chat.Model != "" {
		meta.Model = chat.Model
	}
	return chat, meta, out
}

// chatExchange asks j's provider for a whole completion, which it puts in
// *chat.
func (w *Worker) chatExchange(j *run, req httpx.Request, chat **reliapi.ChatResponse) exchange {
	adapter := j.target.llm
	return exchange{
		credential: adapter.Headers,
		send: func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error) {
			return w.http.Do(ctx, upstream, req)
		},
		read: func(resp *reliapi.HTTPResponse, err error) error {
			*chat, err = decodeLLM(adapter, resp, err)
			return err
		},
	}
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
			if pe := a.DecodeError(e.UpstreamStatus, nil, body); len(body) > 0 && pe.Message != "" {
				e.Message, e.Details = pe.Message, pe.Details
			}
		}
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, a.DecodeError(resp.StatusCode, nil, resp.Body)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, reliapi.InvalidResponse(resp.StatusCode, fmt.Sprintf("Upstream answered %d, not a completion", resp.StatusCode), nil)
	}
	chat, err := a.DecodeResponse(resp.Body)
	if err != nil {
		// The body arrived whole: asking again would pay for it twice.
		return nil, reliapi.InvalidResponse(resp.StatusCode, "Upstream answered with a body that is not a completion", err)
	}
	return chat, nil
}
