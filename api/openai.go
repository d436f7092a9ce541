package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/render"
)

// The OpenAI-compatible API: POST /v1/chat/completions (also
// /proxy/llm/chat/completions, the base URL the seed's SDK integrations
// use) and GET /v1/models, in OpenAI's request, response and error shapes
// whatever provider answers, so an OpenAI SDK works by changing its base
// URL.

// oaChatRequest is the part of OpenAI's chat completion request ReliAPI
// understands; other fields are accepted and ignored, as SDKs send many.
type oaChatRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N *int `json:"n"`
	// Tools and Functions are read only to be refused: ignoring them would
	// answer a tool-using caller with a model that was never given its
	// tools.
	Tools     json.RawMessage `json:"tools"`
	Functions json.RawMessage `json:"functions"`
}

type oaMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// toLLM routes the request's model to a target and turns it into the
// /v1/proxy/llm request it stands for. A model that routes nowhere is
// left for a routing decision that names the provider to place.
func (r *oaChatRequest) toLLM(s *Server, route *reliapi.RouteDecision) (*llmProxyRequest, error) {
	target, model, ok := s.routeModel(r.Model)
	if !ok && route != nil && route.Provider != "" && s.routing.target(route.Provider) != "" {
		target, model, ok = "", r.Model, true
	}
	if !ok {
		e := reliapi.Errorf(reliapi.CodeNotFound, "The model %q does not exist: use \"<target>/<model>\", a target name, or a name under models: in the config", r.Model)
		e.Details = map[string]any{"openai_code": "model_not_found"}
		return nil, e
	}
	if r.N != nil && *r.N != 1 {
		return nil, invalid("Only n=1 is supported")
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"tools", r.Tools}, {"functions", r.Functions}} {
		if len(f.v) > 0 && string(f.v) != "null" && string(f.v) != "[]" {
			return nil, invalid("Field %q is not supported: ReliAPI relays text chat messages only", f.name)
		}
	}
	out := &llmProxyRequest{Target: target, Model: model, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, Stream: r.Stream}
	if r.MaxCompletionTokens != nil {
		out.MaxTokens = r.MaxCompletionTokens
	}
	stop, err := stopList(r.Stop)
	if err != nil {
		return nil, err
	}
	out.Stop = stop
	for i, m := range r.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return nil, invalid("messages[%d].content: %s", i, err.Error())
		}
		role := m.Role
		if role == "developer" { // OpenAI's newer name for system
			role = "system"
		}
		out.Messages = append(out.Messages, reliapi.Message{Role: role, Content: text})
	}
	return out, nil
}

// messageText reads a message's content: a string, or an array of parts
// of which only text parts are supported.
func messageText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", errors.New("only text content parts are supported (got " + p.Type + ")")
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// stopList reads "stop": a string or an array of strings.
func stopList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, invalid("Field \"stop\" must be a string or an array of strings")
	}
	return many, nil
}

// routeModel finds the target and model a model name stands for: a name
// under models: in the config, "target/model", a bare LLM target name (its
// default model), or a model that exactly one LLM target has as default.
func (s *Server) routeModel(name string) (target, model string, ok bool) {
	st := s.settings
	if r := st.Models[name]; r != nil {
		model := r.Model
		if model == "" {
			model = st.Targets[r.Target].LLM.DefaultModel
		}
		return r.Target, model, true
	}
	if t, m, found := strings.Cut(name, "/"); found {
		if tg := st.Targets[t]; tg != nil && tg.LLM != nil && m != "" {
			return t, m, true
		}
	}
	if tg := st.Targets[name]; tg != nil && tg.LLM != nil && tg.LLM.DefaultModel != "" {
		return name, tg.LLM.DefaultModel, true
	}
	var found []string
	for _, t := range s.targetNames {
		if tg := st.Targets[t]; tg.LLM != nil && tg.LLM.DefaultModel == name {
			found = append(found, t)
		}
	}
	if len(found) == 1 {
		return found[0], name, true
	}
	return "", "", false
}

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c *gin.Context) {
	var req oaChatRequest
	stream := &openAIStream{}
	d := openAIDialect
	d.stream = stream
	s.proxy(c, d, &req, func() (*proxyCall, error) {
		route, err := decisionOf(c.Request.Header)
		if err != nil {
			return nil, err
		}
		llm, err := req.toLLM(s, route)
		if err != nil {
			return nil, err
		}
		call, err := s.validateLLM(llm, route)
		if err != nil {
			return nil, err
		}
		stream.model = call.llm.Model
		stream.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		return call, nil
	}, func() callExtras { return callExtras{} })
}

// openAIDialect answers in OpenAI's shapes.
var openAIDialect = dialect{
	err:    writeOpenAIError,
	decode: decodeLenient,
	result: func(c *gin.Context, j *reliapi.Job, _ bool) {
		env, status := render.ResultEnvelope(j, requestID(c), false)
		if env.Error != nil {
			writeOpenAIError(c, toReliError(env.Error), env.Meta)
			return
		}
		writeCompletion(c, status, strings.TrimPrefix(j.ID, "job_"), j.CompletedAt, env.Data)
	},
	accepted: func(c *gin.Context, j *reliapi.Job) {
		// An OpenAI client cannot follow a job: say where it went.
		c.Header("Location", "/v1/jobs/"+j.ID)
		e := reliapi.Errorf(reliapi.CodeTimeout, "The completion is still running as job %s: GET /v1/jobs/%s for its result", j.ID, j.ID)
		e.Retryable = true
		writeOpenAIError(c, e, meta{RequestID: requestID(c), JobID: &j.ID, Target: j.Target})
	},
	cached: func(c *gin.Context, e *cache.Entry, target string) {
		c.Header("X-Cache-Hit", "true")
		writeCompletion(c, http.StatusOK, strings.TrimPrefix(requestID(c), "req_"), e.StoredAt, e.Data)
	},
}

// openAIStream writes a streamed answer as OpenAI's chat.completion.chunk
// events, ending with "data: [DONE]"; an error after the stream began is
// {"error": {...}}, as OpenAI sends it.
type openAIStream struct {
	model        string // the provider's, once the "meta" event names it
	includeUsage bool   // stream_options.include_usage: a last chunk with usage
}

func (o *openAIStream) event(c *gin.Context, j *reliapi.Job, sseID string, e jobs.Event) {
	type choice struct {
		Index        int               `json:"index"`
		Delta        map[string]string `json:"delta"`
		FinishReason *string           `json:"finish_reason"`
	}
	write := func(choices []choice, usage *reliapi.Usage) {
		writeSSE(c, sseID, "", gin.H{
			"id": "chatcmpl-" + strings.TrimPrefix(j.ID, "job_"), "object": "chat.completion.chunk",
			"created": j.CreatedAt.Unix(), "model": o.model, "choices": choices, "usage": usage,
		})
	}
	switch e.Type {
	case jobs.EventMeta:
		var m jobs.StreamMeta
		if json.Unmarshal(e.Data, &m) == nil && m.Model != "" {
			o.model = m.Model
		}
		write([]choice{{Delta: map[string]string{"role": "assistant", "content": ""}}}, nil)
	case jobs.EventChunk:
		var ch jobs.StreamChunk
		_ = json.Unmarshal(e.Data, &ch)
		write([]choice{{Delta: map[string]string{"content": ch.Delta}}}, nil)
	case jobs.EventDone:
		var done jobs.StreamDone
		_ = json.Unmarshal(e.Data, &done)
		if done.Model != "" {
			o.model = done.Model
		}
		write([]choice{{Delta: map[string]string{}, FinishReason: &done.FinishReason}}, nil)
		if o.includeUsage {
			write([]choice{}, &done.Usage)
		}
		fmt.Fprint(c.Writer, "data: [DONE]\n\n")
	case jobs.EventError:
		writeSSE(c, sseID, "", gin.H{"error": openAIError(eventError(e))})
	}
}

func (o *openAIStream) failed(c *gin.Context, j *reliapi.Job, e *reliapi.Error) {
	writeOpenAIError(c, e, meta{RequestID: requestID(c), JobID: &j.ID, Target: j.Target})
}

func (o *openAIStream) accepted(c *gin.Context, j *reliapi.Job) { openAIDialect.accepted(c, j) }

// writeCompletion renders a job's completion as an OpenAI chat.completion.
func writeCompletion(c *gin.Context, status int, id string, created time.Time, data json.RawMessage) {
	var chat reliapi.ChatResponse
	if err := json.Unmarshal(data, &chat); err != nil {
		writeOpenAIError(c, &reliapi.Error{Code: reliapi.CodeInternal, Message: "Internal server error", Err: err}, meta{RequestID: requestID(c)})
		return
	}
	c.JSON(status, gin.H{
		"id": "chatcmpl-" + id, "object": "chat.completion", "created": created.Unix(), "model": chat.Model,
		"choices": []gin.H{{
			"index": 0, "message": gin.H{"role": chat.Role, "content": chat.Content}, "finish_reason": chat.FinishReason, "logprobs": nil,
		}},
		"usage": chat.Usage,
	})
}

// writeOpenAIError answers with OpenAI's error shape, {"error": {message,
// type, param, code}}, and the status our error code maps to.
func writeOpenAIError(c *gin.Context, err error, m meta) {
	e := toCoded(err)
	if e.Code == reliapi.CodeInternal || e.Code == reliapi.CodeRedisUnavailable {
		logAt(c, slog.LevelError, "request failed", "code", string(e.Code), "error", err)
	}
	body := render.NewErrorBody(e, m.Target)
	setRetryAfter(c, body)
	c.AbortWithStatusJSON(body.StatusCode, gin.H{"error": openAIError(e)})
}

// openAIError is OpenAI's error object for e: {message, type, param, code}.
func openAIError(e *reliapi.Error) gin.H {
	code := strings.ToLower(string(e.Code))
	if oc, ok := e.Details["openai_code"].(string); ok {
		code = oc
	}
	return gin.H{"message": e.Message, "type": openAIErrorType(render.StatusOf(e)), "param": nil, "code": code}
}

// openAIErrorType is OpenAI's error type for a status.
func openAIErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// toReliError turns a rendered error body back into a coded error.
func toReliError(b *errorBody) *reliapi.Error {
	e := &reliapi.Error{Code: b.Code, Message: b.Message, Retryable: b.Retryable, Source: b.Source, Details: b.Details}
	if b.StatusCode >= 400 && (b.Code == reliapi.CodeServerError || b.Code == reliapi.CodeClientError) {
		e.UpstreamStatus = b.StatusCode
	}
	if b.RetryAfterS != nil {
		e.RetryAfter = time.Duration(*b.RetryAfterS * float64(time.Second))
	}
	return e
}

// decodeLenient reads a JSON object, ignoring fields ReliAPI does not
// know (OpenAI clients send many optional ones).
func decodeLenient(r io.Reader, v any, limit int64) error {
	return decodeBody(r, v, limit, false)
}

// listModels serves GET /v1/models: the models the OpenAI-compatible API
// routes, in OpenAI's list shape.
func (s *Server) listModels(c *gin.Context) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	var out []model
	for _, name := range sortedNames(s.settings.Models) {
		r := s.settings.Models[name]
		out = append(out, model{ID: name, Object: "model", OwnedBy: s.settings.Targets[r.Target].Provider()})
	}
	for _, t := range s.targetNames {
		tg := s.settings.Targets[t]
		if tg.LLM != nil && tg.LLM.DefaultModel != "" {
			out = append(out, model{ID: t + "/" + tg.LLM.DefaultModel, Object: "model", OwnedBy: tg.Provider()})
		}
	}
	slices.SortStableFunc(out, func(a, b model) int { return strings.Compare(a.ID, b.ID) })
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}
