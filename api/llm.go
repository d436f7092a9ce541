package api

import (
	"encoding/json"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
)

// llmProxyRequest is the body of POST /v1/proxy/llm (seed §7).
type llmProxyRequest struct {
	Target         string            `json:"target"`
	Messages       []reliapi.Message `json:"messages"`
	Model          string            `json:"model"`
	MaxTokens      *int              `json:"max_tokens"`
	Temperature    *float64          `json:"temperature"`
	TopP           *float64          `json:"top_p"`
	Stop           []string          `json:"stop"`
	Stream         bool              `json:"stream"`
	IdempotencyKey string            `json:"idempotency_key"`
	// Cache overrides the target's cache TTL in seconds; 0 disables caching
	// for this call.
	Cache *int `json:"cache"`
	// Webhook, when set, delivers the job's end to a URL.
	Webhook *reliapi.Subscription `json:"webhook"`
	// Priority orders the job among the tenant's own: high, normal, low.
	Priority string `json:"priority"`
}

// validRoles are the message roles every provider accepts.
var validRoles = map[string]bool{"system": true, "user": true, "assistant": true}

// validate checks the request against its target and applies the target's
// llm defaults and caps: model (default_model), max_tokens (the target's
// value caps the request's and is the default), temperature (default).
func (r *llmProxyRequest) validate(settings *config.APISettings) (*proxyCall, error) {
	switch {
	case r.Target == "":
		return nil, invalid("Field \"target\" is required")
	case len(r.Target) > maxTargetLen:
		return nil, tooLong("target", maxTargetLen)
	case len(r.Model) > maxModelLen:
		return nil, tooLong("model", maxModelLen)
	case len(r.Messages) > maxMessages:
		return nil, invalid("Field \"messages\" has more than %d messages", maxMessages)
	}
	t, ok := settings.Targets[r.Target]
	if !ok {
		return nil, reliapi.Errorf(reliapi.CodeNotFound, "Target %q is not configured", r.Target)
	}
	if t.LLM == nil {
		return nil, reliapi.Errorf(reliapi.CodeInvalidTarget, "Target %q has no llm block; use /v1/proxy/http for it", r.Target)
	}
	if err := checkMessages(r.Messages); err != nil {
		return nil, err
	}
	req := reliapi.ChatRequest{Model: r.Model, Messages: r.Messages, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, Stop: r.Stop, Stream: r.Stream}
	if err := applyLLMDefaults(&req, r.Target, t.LLM); err != nil {
		return nil, err
	}
	if r.Cache != nil && *r.Cache < 0 {
		return nil, invalid("Field \"cache\" must be 0 or more seconds")
	}
	cost, err := planCost(settings, t, &req)
	if err != nil {
		return nil, err
	}
	canonical, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return &proxyCall{
		target: r.Target,
		llm:    &req,
		cost:   cost,
		body:   canonical,
		fingerprint: [][]byte{
			[]byte(reliapi.KindLLM), []byte(r.Target), canonical,
		},
	}, nil
}

// checkMessages checks a call's messages: at least one, each with a role
// every provider accepts and some content.
func checkMessages(msgs []reliapi.Message) error {
	if len(msgs) == 0 {
		return invalid("Field \"messages\" needs at least one message")
	}
	for i, m := range msgs {
		if !validRoles[m.Role] {
			return invalid("messages[%d].role must be system, user or assistant (got %q)", i, m.Role)
		}
		if m.Content == "" {
			return invalid("messages[%d].content must be a non-empty string", i)
		}
	}
	return nil
}

// applyLLMDefaults checks req's parameters and fills in target's llm
// defaults: model (default_model), max_tokens (the target's value caps the
// request's and is the default), temperature.
func applyLLMDefaults(req *reliapi.ChatRequest, target string, l *config.LLM) error {
	if req.Model == "" {
		req.Model = l.DefaultModel
	}
	if req.Model == "" {
		return invalid("Field \"model\" is required: target %q has no default_model", target)
	}
	switch {
	case req.MaxTokens != nil && *req.MaxTokens < 1:
		return invalid("Field \"max_tokens\" must be 1 or more")
	case req.MaxTokens == nil:
		req.MaxTokens = l.MaxTokens
	case l.MaxTokens != nil && *req.MaxTokens > *l.MaxTokens:
		req.MaxTokens = l.MaxTokens
	}
	switch {
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		return invalid("Field \"temperature\" must be between 0 and 2")
	case req.Temperature == nil:
		req.Temperature = l.Temperature
	}
	if req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1) {
		return invalid("Field \"top_p\" must be between 0 and 1")
	}
	return nil
}
