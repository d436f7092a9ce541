package worker

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/providers/httpx"
)

// readStream reads a provider's server-sent events into the job's event
// stream as they come, and returns the whole completion. The first event
// it writes is "meta"; began records that it was written (so the caller
// knows whether the answer has begun: after that, a failure cannot be
// retried or fall back). A stream that breaks the provider's protocol (an
// event that cannot be read, an end before the end event) is the
// upstream's fault, UPSTREAM_INVALID_RESPONSE, never retried: unlike a
// connection cut, what the upstream sent arrived whole.
func (w *Worker) readStream(ctx context.Context, j *run, a reliapi.LLMProvider, model string, live *http.Response, began *bool) (*reliapi.ChatResponse, error) {
	chat := &reliapi.ChatResponse{Role: "assistant", Model: model}
	var content strings.Builder
	var done bool
	err := scanSSE(live.Body, func(event, data string) (bool, error) {
		ev, err := a.DecodeStreamEvent(event, []byte(data))
		if err != nil {
			return false, invalidEvent(live.StatusCode, err)
		}
		merge(chat, ev)
		var out []jobs.Event
		if (ev.Delta != "" || ev.Done) && !*began {
			out = append(out, jobs.NewEvent("", jobs.EventMeta, streamMeta(j, a, chat.Model)))
		}
		if ev.Delta != "" {
			content.WriteString(ev.Delta)
			out = append(out, jobs.NewEvent("", jobs.EventChunk, jobs.StreamChunk{Delta: ev.Delta}))
		}
		if len(out) > 0 {
			if err := w.store.AppendEvents(ctx, j.payload.JobID, out...); err != nil {
				return false, err
			}
			*began = true
		}
		done = ev.Done
		return done, nil
	})
	switch {
	case errors.Is(err, bufio.ErrTooLong):
		err = reliapi.InvalidResponse(live.StatusCode, "Upstream sent a stream line over 1 MiB", err)
	case err == nil && !done:
		// The body ended cleanly (a cut connection fails the read
		// instead): the provider hung up without saying it was done.
		err = reliapi.InvalidResponse(live.StatusCode, "Upstream's stream ended without its end event", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, err
	}
	chat.Content = content.String()
	chat.Usage.TotalTokens = chat.Usage.PromptTokens + chat.Usage.CompletionTokens
	if chat.FinishReason == "" {
		chat.FinishReason = "stop"
	}
	return chat, nil
}

// invalidEvent is the error of a stream event the adapter could not read.
// An error the provider sent in the stream is already coded, and stays
// as it is (its status decides its retries).
func invalidEvent(status int, err error) error {
	var coded *reliapi.Error
	if errors.As(err, &coded) {
		return err
	}
	return reliapi.InvalidResponse(status, "Upstream sent a stream event that is not valid", err)
}

// relayWhole takes the answer of a server that ignored "stream": true and
// sent the whole completion as one body: read as the provider's
// completion, it goes to the job's event stream as meta and one chunk (the
// end event follows when the job finishes, as for any stream). A body that
// is not a completion is the upstream's fault, never retried: it arrived
// whole.
func (w *Worker) relayWhole(ctx context.Context, j *run, a reliapi.LLMProvider, model string, resp *reliapi.HTTPResponse, began *bool) (*reliapi.ChatResponse, error) {
	chat, err := a.DecodeResponse(resp.Body)
	if err != nil {
		return nil, reliapi.InvalidResponse(resp.StatusCode, "Upstream answered a streamed request with a body that is neither events nor a completion", err)
	}
	out := []jobs.Event{jobs.NewEvent("", jobs.EventMeta, streamMeta(j, a, cmp.Or(chat.Model, model)))}
	if chat.Content != "" {
		out = append(out, jobs.NewEvent("", jobs.EventChunk, jobs.StreamChunk{Delta: chat.Content}))
	}
	if err := w.store.AppendEvents(ctx, j.payload.JobID, out...); err != nil {
		return nil, err
	}
	*began = true
	return chat, nil
}

// merge takes what a stream event says about the whole completion.
func merge(chat *reliapi.ChatResponse, ev reliapi.StreamEvent) {
	if ev.Model != "" {
		chat.Model = ev.Model
	}
	if ev.FinishReason != "" {
		chat.FinishReason = ev.FinishReason
	}
	if u := ev.Usage; u != nil {
		if u.PromptTokens > 0 {
			chat.Usage.PromptTokens = u.PromptTokens
		}
		if u.CompletionTokens > 0 {
			chat.Usage.CompletionTokens = u.CompletionTokens
		}
	}
}

// scanSSE reads server-sent events from body and hands each one with data
// to handle, until handle says stop or fails, or body ends.
func scanSSE(body io.Reader, handle func(event, data string) (stop bool, err error)) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			continue
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			continue
		case line != "":
			continue // comments and fields we do not use
		}
		if len(data) > 0 {
			stop, err := handle(event, strings.Join(data, "\n"))
			if stop || err != nil {
				return err
			}
		}
		event, data = "", data[:0]
	}
	return sc.Err()
}

// streamMeta is the data of the "meta" event: who answers, and what the
// call was estimated to cost (seed §8).
func streamMeta(j *run, a reliapi.LLMProvider, model string) jobs.StreamMeta {
	m := jobs.StreamMeta{JobID: j.payload.JobID, Target: j.payload.Target, Provider: a.Name(), Model: model}
	if c := j.payload.Cost; c != nil {
		m.CostPolicyApplied = c.Policy
		if c.Priced {
			m.CostEstimateUSD = &c.EstimateUSD
		}
		m.MaxTokensReduced, m.OriginalMaxTokens = c.OriginalMaxTokens != nil, c.OriginalMaxTokens
	}
	return m
}

// streamExchange asks j's provider for a streamed answer, relayed to the
// job's event stream as it comes; the whole completion ends up in *chat.
// Until the answer has begun a failure is like any other (retried, may
// fall back); after the first chunk it ends the stream with
// UPSTREAM_STREAM_INTERRUPTED, which neither retries nor falls back (the
// caller already has part of the answer). A 2xx answer that came whole
// instead of as events is relayed whole (relayWhole).
func (w *Worker) streamExchange(j *run, req httpx.Request, model string, chat **reliapi.ChatResponse) exchange {
	adapter := j.target.llm
	began := false // across attempts: once begun, an answer cannot start over
	// errAnswer is an error answer, read whole; read decodes it.
	var errAnswer *reliapi.HTTPResponse
	return exchange{
		credential: adapter.Headers,
		send: func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error) {
			*chat, errAnswer = nil, nil
			live, whole, err := w.http.Stream(ctx, upstream, req)
			switch {
			case err != nil:
				return nil, err
			case whole != nil && (whole.StatusCode < 200 || whole.StatusCode >= 300):
				errAnswer = whole
				return whole, nil
			case whole != nil:
				*chat, err = w.relayWhole(ctx, j, adapter, model, whole, &began)
				return whole, err
			}
			defer live.Body.Close()
			*chat, err = w.readStream(ctx, j, adapter, model, live, &began)
			if err != nil && began {
				return nil, interrupted(err)
			}
			if err != nil {
				return nil, err
			}
			// Headers only: what the key pool reads (rate-limit windows).
			return &reliapi.HTTPResponse{StatusCode: live.StatusCode, Headers: httpx.Headers(live.Header)}, nil
		},
		read: func(_ *reliapi.HTTPResponse, err error) error {
			if err != nil || *chat == nil {
				// An error answer (read whole) or a failed call: the
				// provider's message under our code.
				_, err = decodeLLM(adapter, errAnswer, err)
			}
			return err
		},
	}
}

// interrupted is the error of a streamed answer that broke off after it
// began; details.cause names what broke it (NETWORK_ERROR, TIMEOUT,
// UPSTREAM_INVALID_RESPONSE, or the provider's error sent in the stream).
func interrupted(err error) error {
	e := &reliapi.Error{
		Code: reliapi.CodeStreamInterrupted, Message: "The upstream's streamed answer broke off after it began",
		Source: reliapi.SourceUpstream, UpstreamStatus: http.StatusBadGateway, Err: errors.New(err.Error()),
	}
	var coded *reliapi.Error
	if errors.As(err, &coded) {
		e.Message += ": " + coded.Message
		e.Details = map[string]any{"cause": string(coded.Code)}
	} else {
		e.Source = reliapi.SourceReliAPI // not the upstream's doing: writing the events failed
	}
	return e
}

// resumable checks a streamed job delivered again (its worker stopped
// mid-run): when the earlier run's answer had begun, callers hold part of
// it, and a new answer would not continue it; the stream ends with
// UPSTREAM_STREAM_INTERRUPTED as for any stream cut after it began.
func (w *Worker) resumable(ctx context.Context, j *run) error {
	events, err := w.store.Events(ctx, j.payload.JobID, "0", 0)
	if err != nil {
		return &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "The job's event stream is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	}
	if len(events) > 0 {
		return &reliapi.Error{
			Code: reliapi.CodeStreamInterrupted, Message: "The streamed answer broke off when its worker stopped after it began",
			Source: reliapi.SourceReliAPI, Err: errors.New("stream begun by an earlier delivery"),
		}
	}
	return nil
}
