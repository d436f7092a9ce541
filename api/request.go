package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/tasks"
)

// httpProxyRequest is the body of POST /v1/proxy/http (seed §6). Body may
// be a JSON string (sent as is) or any other JSON value (sent as JSON).
type httpProxyRequest struct {
	Target         string            `json:"target"`
	Method         string            `json:"method"`
	Path           string            `json:"path"`
	Headers        map[string]string `json:"headers"`
	Query          map[string]any    `json:"query"`
	Body           json.RawMessage   `json:"body"`
	IdempotencyKey string            `json:"idempotency_key"`
	// Cache overrides the target's cache TTL in seconds; 0 disables caching
	// for this call.
	Cache *int `json:"cache"`
	// Webhook, when set, delivers the job's end to a URL.
	Webhook *reliapi.Subscription `json:"webhook"`
	// Priority orders the job among the tenant's own: high, normal, low.
	Priority string `json:"priority"`
}

// allowedMethods are the methods a proxy call may use.
var allowedMethods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "DELETE": true, "PATCH": true, "HEAD": true, "OPTIONS": true,
}

func invalid(format string, args ...any) *reliapi.Error {
	return reliapi.Errorf(reliapi.CodeInvalidRequest, format, args...)
}

// decodeJSON reads a JSON request body strictly into v: unknown fields,
// wrong types, trailing data, deep nesting and oversize bodies are errors
// that name what is wrong.
func decodeJSON(r io.Reader, v any, limit int64) error {
	return decodeBody(r, v, limit, true)
}

// decodeBody decodes one JSON object from r into v, with errors that name
// what is wrong; strict refuses unknown fields.
func decodeBody(r io.Reader, v any, limit int64, strict bool) error {
	data, err := io.ReadAll(r)
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(limit)
	case err != nil:
		return invalid("Could not read the request body")
	case jsonDepth(data) > maxJSONDepth:
		return invalid("Request body nests deeper than %d levels", maxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	err = dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return invalid("Request body must be a single JSON object")
		}
		return nil
	}
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.Is(err, io.EOF):
		return invalid("Request body is empty; expected a JSON object")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return invalid("Request body must be a JSON object")
		}
		kind := typeErr.Type.Kind().String()
		if n, ok := strings.CutPrefix(typeErr.Value, "number "); ok {
			// A number, but a fraction where a whole one goes, or too large.
			want := "a number"
			if strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint") {
				want = "a whole number"
			}
			return invalid("Field %q must be %s within range, not %s", typeErr.Field, want, n)
		}
		return invalid("Field %q must be %s, not %s", typeErr.Field, jsonKind(kind), typeErr.Value)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("Request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("Unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return invalid("Request body is not valid JSON")
	}
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "ptr", "int", "int64", "float64":
		return "a number"
	default:
		return "of another type"
	}
}

// proxyCall is a validated proxy request: an HTTP call, or an LLM call
// when llm is set.
type proxyCall struct {
	target  string
	llm     *reliapi.ChatRequest
	cost    *tasks.CostPlan
	method  string
	path    string
	query   url.Values
	headers map[string]string
	body    []byte
	idemKey string
	// priority orders the job among its tenant's (see package lane).
	priority reliapi.Priority
	// webhook is where the job's end goes, if anywhere; ownWebhook says
	// the caller asked for it (it is not the target's configured one).
	webhook    *reliapi.Subscription
	ownWebhook bool
	// deadline, when set, expires the job if it has not started by then.
	deadline time.Time
	// route, when set, is the routing decision the call came with.
	route *reliapi.RouteDecision
	// fingerprint identifies the canonical request for idempotency.
	fingerprint [][]byte
}

// validate checks the request against the configured targets and returns
// the call to make.
func (r *httpProxyRequest) validate(targets map[string]*url.URL) (*proxyCall, error) {
	switch {
	case r.Target == "":
		return nil, invalid("Field \"target\" is required")
	case len(r.Target) > maxTargetLen:
		return nil, tooLong("target", maxTargetLen)
	case len(r.Path) > maxPathLen:
		return nil, tooLong("path", maxPathLen)
	case countQuery(r.Query) > maxQueryParams:
		return nil, invalid("Field \"query\" has more than %d parameters", maxQueryParams)
	}
	if err := checkProxyHeaders(r.Headers); err != nil {
		return nil, err
	}
	base, ok := targets[r.Target]
	if !ok {
		return nil, reliapi.Errorf(reliapi.CodeNotFound, "Target %q is not configured", r.Target)
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		return nil, invalid("Field \"method\" is required")
	}
	if !allowedMethods[method] {
		return nil, invalid("Field \"method\" must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS")
	}
	if r.Path == "" {
		return nil, invalid("Field \"path\" is required")
	}
	query, err := queryValues(r.Query)
	if err != nil {
		return nil, err
	}
	u, err := reliapi.UpstreamURL(base, r.Path, query)
	if err != nil {
		return nil, invalid("Field \"path\" must start with / and stay within the target (no //host, .., or escapes)")
	}
	body, headers, err := r.content()
	if err != nil {
		return nil, err
	}
	if r.Cache != nil && *r.Cache < 0 {
		return nil, invalid("Field \"cache\" must be 0 or more seconds")
	}
	// The path keeps the caller's spelling (the upstream sees it); its query
	// moves into query, so the fingerprint sees one canonical form.
	path, _, _ := strings.Cut(r.Path, "?")
	return &proxyCall{
		target:  r.Target,
		method:  method,
		path:    path,
		query:   u.Query(),
		headers: headers,
		body:    body,
		idemKey: r.IdempotencyKey,
		fingerprint: [][]byte{
			[]byte(reliapi.KindHTTP), []byte(r.Target), []byte(method),
			[]byte(u.EscapedPath()), []byte(u.RawQuery), body,
		},
	}, nil
}

// content is the body that goes upstream and the headers that go with
// it: the caller's, checked, and a Content-Type for a JSON body when the
// caller gave none.
func (r *httpProxyRequest) content() ([]byte, map[string]string, error) {
	for k, v := range r.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, nil, invalid("Header %q has an invalid name or value", k)
		}
	}
	body, contentType, err := bodyBytes(r.Body)
	if err != nil {
		return nil, nil, err
	}
	headers := r.Headers
	if contentType != "" && !hasHeader(headers, "Content-Type") {
		headers = make(map[string]string, len(r.Headers)+1)
		for k, v := range r.Headers {
			headers[k] = v
		}
		headers["Content-Type"] = contentType
	}
	return body, headers, nil
}

// queryValues converts the query object: values may be strings, numbers,
// booleans or arrays of those.
func queryValues(q map[string]any) (url.Values, error) {
	out := make(url.Values, len(q))
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := q[k].(type) {
		case []any:
			for _, item := range v {
				s, ok := scalar(item)
				if !ok {
					return nil, invalid("Query parameter %q must hold strings, numbers or booleans", k)
				}
				out.Add(k, s)
			}
		default:
			s, ok := scalar(v)
			if !ok {
				return nil, invalid("Query parameter %q must be a string, number, boolean or an array of those", k)
			}
			out.Add(k, s)
		}
	}
	return out, nil
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// bodyBytes is what goes upstream: a JSON string is sent verbatim, any
// other JSON value is sent compacted as application/json.
func bodyBytes(raw json.RawMessage) ([]byte, string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", invalid("Field \"body\" is not a valid JSON string")
		}
		return []byte(s), "", nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, "", invalid("Field \"body\" is not valid JSON")
	}
	return buf.Bytes(), "application/json", nil
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// kind is the job kind of the call.
func (p *proxyCall) kind() reliapi.JobKind {
	if p.llm != nil {
		return reliapi.KindLLM
	}
	return reliapi.KindHTTP
}

// String is for logs: never the headers or body, which may carry secrets.
func (p *proxyCall) String() string {
	return fmt.Sprintf("%s %s %s", p.target, p.method, p.path)
}

// priorityHeader asks for a job's priority on any proxy route, for bodies
// that have no field of ours (the OpenAI-compatible route's).
const priorityHeader = "X-ReliAPI-Priority"

// priorityOf is a call's priority: the body's field, else the header's,
// else normal; the two must agree when both are set.
func priorityOf(field, header string) (reliapi.Priority, error) {
	if field != "" && header != "" && field != header {
		return "", invalid("Field \"priority\" (%q) and header %s (%q) differ", field, priorityHeader, header)
	}
	p := reliapi.Priority(cmp.Or(field, header, string(reliapi.PriorityNormal)))
	if !p.Valid() {
		name := "Field \"priority\""
		if field == "" {
			name = "Header " + priorityHeader
		}
		return "", invalid("%s must be \"high\", \"normal\" or \"low\"", name)
	}
	return p, nil
}
