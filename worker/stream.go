package worker

import (
	"bufio"
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
// retried or fall back).
func (w *Worker) readStream(ctx context.Context, j *run, a reliapi.LLMProvider, model string, body io.Reader, began *bool) (*reliapi.ChatResponse, error) {
	chat := &reliapi.ChatResponse{Role: "assistant", Model: model}
	var content strings.Builder
	var done bool
	err := scanSSE(body, func(event, data string) (bool, error) {
		ev, err := a.DecodeStreamEvent(event, []byte(data))
		if err != nil {
			return false, err
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
	if err == nil && !done {
		err = io.ErrUnexpectedEOF // the provider hung up before saying it was done
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
// caller already has part of the answer).
func (w *Worker) streamExchange(j *run, req httpx.Request, model string, chat **reliapi.ChatResponse) exchange {
	adapter := j.target.llm
	began := false // across attempts: once begun, an answer cannot start over
	// whole is an answer that came as one body, not as events: an error.
	var whole *reliapi.HTTPResponse
	return exchange{
		credential: adapter.Headers,
		send: func(ctx context.Context, upstream httpx.Target) (*reliapi.HTTPResponse, error) {
			*chat, whole = nil, nil
			live, all, err := w.http.Stream(ctx, upstream, req)
			if err != nil {
				return nil, err
			}
			if all != nil {
				whole = all
				return all, nil
			}
			defer live.Body.Close()
			*chat, err = w.readStream(ctx, j, adapter, model, live.Body, &began)
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
				_, err = decodeLLM(adapter, whole, err)
			}
			return err
		},
	}
}

// interrupted is the error of a streamed answer that broke off after it
// began.
func interrupted(err error) error {
	var coded *reliapi.Error
	if !errors.As(err, &coded) {
		coded = &reliapi.Error{Code: reliapi.CodeNetworkError}
	}
	return &reliapi.Error{
		Code: reliapi.CodeStreamInterrupted, Message: "The upstream's streamed answer broke off after it began",
		Source: reliapi.SourceUpstream, UpstreamStatus: http.StatusBadGateway, Err: errors.New(coded.Error()),
	}
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
