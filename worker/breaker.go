package worker

import (
	"context"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/reliability/breaker"
)

// breakerSettings are a target's circuit settings for the breaker. The
// probe lease outlasts one attempt, so a slow probe is not replaced by a
// second one.
func breakerSettings(t *config.Target) breaker.Settings {
	return breaker.Settings{
		Threshold:   t.Circuit.ErrorThreshold,
		Cooldown:    t.Circuit.Cooldown(),
		ProbeLease:  t.Timeout() + 5*time.Second,
		FailureRate: t.Circuit.FailureRate,
		Window:      time.Duration(t.Circuit.WindowS) * time.Second,
		MinCalls:    t.Circuit.MinCalls,
	}
}

// recordTimeout bounds reporting a result to the breaker, which happens
// even when the job's own context has ended.
const recordTimeout = 2 * time.Second

// guarded makes one call of j's through its target's breaker: refused at
// once with CIRCUIT_OPEN while it is open, and its result counted
// afterwards (a call slower than circuit.slow_call_ms counts as a failure;
// a 429 on a pooled key does not count).
func (w *Worker) guarded(ctx context.Context, j *run, send func(context.Context) (*reliapi.HTTPResponse, error)) (*reliapi.HTTPResponse, error) {
	name, tg := j.payload.Target, j.target
	ticket, ok := j.admission.take(name, time.Now())
	var err error
	if !ok {
		ticket, err = w.breakers.Allow(ctx, name, tg.breaker)
	}
	if err != nil {
		w.forgetClosed(name)
		if reliapi.Classify(err) == reliapi.ClassBreakerOpen {
			return nil, err
		}
		if !w.redisFailOpen(ctx, "breaker", err) {
			return nil, &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Circuit breaker state is unavailable", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
		}
		return send(ctx)
	}
	start := time.Now()
	resp, callErr := send(ctx)
	result := breaker.ResultOf(callErr)
	if tg.pool != nil && reliapi.Classify(callErr) == reliapi.ClassRateLimited {
		// With a key pool a 429 is the key's affair: the pool rests that
		// key and the call moves on; it says nothing about the target.
		result = breaker.Neutral
	}
	if result == breaker.Success && tg.slowCall > 0 && time.Since(start) > tg.slowCall {
		result = breaker.Failure
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	state, err := w.breakers.Record(rctx, ticket, result, tg.breaker)
	if err != nil || state != breaker.Closed || result == breaker.Failure {
		w.forgetClosed(name)
	}
	switch {
	case err != nil:
		w.log.Warn("recording a result in the circuit breaker", "target", name, "error", err)
	case state == breaker.Open && (ticket.Probe || result == breaker.Failure):
		w.log.Warn("circuit breaker open", "target", name, "probe", ticket.Probe)
	case state == breaker.Closed && ticket.Probe:
		w.log.Info("circuit breaker closed after a successful probe", "target", name)
	}
	return resp, callErr
}

// redisFailOpen applies reliability.on_redis_error when a control cannot
// reach Redis: it reports whether the call may go ahead unchecked, and
// counts the event either way.
func (w *Worker) redisFailOpen(ctx context.Context, control string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	policy := w.cfg.Settings.Reliability.OnRedisError
	w.metrics.redisFallbacks.WithLabelValues(control, policy).Inc()
	w.log.Warn("reliability control cannot reach Redis", "control", control, "policy", policy, "error", err)
	return policy == config.FailOpen
}
