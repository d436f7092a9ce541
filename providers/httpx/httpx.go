package httpx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/reliapi/reliapi"
)

// Config configures a Client.
type Config struct {
	// MaxBodyBytes caps an upstream response body; a larger one fails the
	// call with RESULT_TOO_LARGE. Default 10 MiB.
	MaxBodyBytes int64
	// Transport carries the calls. Default: a pooled transport with a 5 s
	// connect timeout.
	Transport http.RoundTripper
}

// Client makes single attempts of proxied calls. It is safe for concurrent
// use; one Client per process shares its connection pool across targets.
type Client struct {
	hc      *http.Client
	maxBody int64
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 10 << 20
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	return &Client{
		hc: &http.Client{
			Transport: cfg.Transport,
			// A redirect is an answer for the caller, not something to follow:
			// following it could take the call to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		maxBody: cfg.MaxBodyBytes,
	}
}

// NewTransport returns the pooled transport Client uses by default.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Target is what a call needs to know about its upstream.
type Target struct {
	Name    string
	BaseURL *url.URL
	// Timeout bounds one attempt, response body included.
	Timeout time.Duration
	// Headers are set last, overriding the caller's headers of the same
	// name: the target's credentials.
	Headers map[string]string
}

// Request is one proxied call.
type Request struct {
	Method  string
	Path    string
	Query   url.Values
	Headers map[string]string
	Body    []byte
	// IdempotencyKey, when set, is sent as Idempotency-Key unless the caller
	// already sent one.
	IdempotencyKey string
}

// Do makes one attempt. An upstream 1xx–4xx other than 429 is a successful
// call; 429 and 5xx come back as *reliapi.Error (CLIENT_ERROR, SERVER_ERROR)
// with the upstream status and Retry-After, alongside network failures
// (NETWORK_ERROR) and timeouts (TIMEOUT).
func (c *Client) Do(ctx context.Context, t Target, r Request) (*reliapi.HTTPResponse, error) {
	attemptCtx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	resp, err := c.send(attemptCtx, t, r)
	if err != nil {
		return nil, c.transportError(ctx, attemptCtx, t, err)
	}
	defer resp.Body.Close()
	return c.answer(ctx, attemptCtx, t, resp)
}

// Stream makes one attempt whose answer is read as it arrives (a streamed
// completion). A 2xx answer that is a stream comes back open: read its
// Body (Close it when done). The attempt fails with TIMEOUT when no header
// arrives within the target's timeout, or when the body then stays silent
// that long. Any other answer is read whole and returned as Do returns it:
// an error status, and a 2xx body that is one document rather than events
// (see document) — a server that ignored "stream": true.
func (c *Client) Stream(ctx context.Context, t Target, r Request) (*http.Response, *reliapi.HTTPResponse, error) {
	attemptCtx, cancel := context.WithCancel(ctx)
	idle := time.AfterFunc(t.Timeout, cancel)
	resp, err := c.send(attemptCtx, t, r)
	if err != nil {
		idle.Stop()
		defer cancel()
		return nil, nil, c.idleError(ctx, attemptCtx, t, err)
	}
	idle.Reset(t.Timeout)
	// The whole answer too is read under the idle timer: a body that
	// stops arriving fails the attempt.
	resp.Body = &idleBody{ReadCloser: resp.Body, idle: idle, timeout: t.Timeout, cancel: cancel, parent: ctx, attempt: attemptCtx, c: c, t: t}
	if resp.StatusCode < 300 {
		br := bufio.NewReader(resp.Body)
		whole, err := document(resp.Header, br)
		if err != nil {
			resp.Body.Close()
			return nil, nil, err
		}
		resp.Body = readCloser{Reader: br, Closer: resp.Body}
		if !whole {
			return resp, nil, nil
		}
	}
	defer resp.Body.Close()
	answer, err := c.answer(ctx, attemptCtx, t, resp)
	return nil, answer, err
}

// document reports whether a 2xx answer to a streamed request is one
// document rather than events: its type names JSON, or its first byte
// that is not white space opens JSON or markup ({, [ or <), which no
// event stream's line begins with; an empty body streams nothing either.
// A stream whose type is wrong (text/plain, none) is still a stream.
func document(h http.Header, br *bufio.Reader) (bool, error) {
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return true, nil
	}
	for n := 1; n <= br.Size(); n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return false, err // already coded by idleBody
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[', '<':
			return true, nil
		}
		return false, nil
	}
	return false, nil
}

// readCloser reads from Reader and closes Closer.
type readCloser struct {
	io.Reader
	io.Closer
}

// idleBody cancels its stream when no byte arrives for timeout, and maps
// read errors like any transport error.
type idleBody struct {
	io.ReadCloser
	idle            *time.Timer
	timeout         time.Duration
	cancel          context.CancelFunc
	parent, attempt context.Context
	c               *Client
	t               Target
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.Reset(b.timeout)
	}
	if err != nil && err != io.EOF {
		err = b.c.idleError(b.parent, b.attempt, b.t, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.idle.Stop()
	b.cancel()
	return b.ReadCloser.Close()
}

// idleError is transportError for a stream, whose attempt context ends by
// cancellation (the idle timer) rather than by a deadline.
func (c *Client) idleError(parent, attempt context.Context, t Target, err error) error {
	if parent.Err() == nil && attempt.Err() != nil {
		return &reliapi.Error{
			Code: reliapi.CodeTimeout, Message: fmt.Sprintf("Upstream stayed silent for %s", t.Timeout),
			Retryable: true, Source: reliapi.SourceUpstream, Err: err,
		}
	}
	return c.transportError(parent, attempt, t, err)
}

// send builds and sends the request: the path joined safely to the base
// URL, the caller's headers minus hop-by-hop ones, Idempotency-Key, and
// the target's credentials last.
func (c *Client) send(ctx context.Context, t Target, r Request) (*http.Response, error) {
	u, err := reliapi.UpstreamURL(t.BaseURL, r.Path, r.Query)
	if err != nil {
		return nil, &reliapi.Error{Code: reliapi.CodeInvalidRequest, Message: err.Error(), Source: reliapi.SourceReliAPI}
	}
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, &reliapi.Error{Code: reliapi.CodeInvalidRequest, Message: "invalid upstream request", Err: err, Source: reliapi.SourceReliAPI}
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	removeHopByHop(req.Header)
	req.Header.Del("Host")
	req.Header.Del("Content-Length")
	if r.IdempotencyKey != "" && req.Header.Get("Idempotency-Key") == "" {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	return c.hc.Do(req)
}

// answer reads a whole answer: 429 and 5xx as errors, anything else as a
// response.
func (c *Client) answer(parent, attempt context.Context, t Target, resp *http.Response) (*reliapi.HTTPResponse, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, c.transportError(parent, attempt, t, err)
	}
	if int64(len(raw)) > c.maxBody {
		return nil, &reliapi.Error{
			Code:    reliapi.CodeResultTooLarge,
			Message: fmt.Sprintf("Upstream response body is larger than %d bytes", c.maxBody),
			Source:  reliapi.SourceReliAPI,
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		code := reliapi.CodeServerError
		if resp.StatusCode < 500 {
			code = reliapi.CodeClientError
		}
		retryAfter := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if retryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
			// No Retry-After: the exhausted window's reset says the same.
			retryAfter = RateLimitReset(resp.Header, time.Now())
		}
		return nil, &reliapi.Error{
			Code:           code,
			Message:        fmt.Sprintf("Upstream returned %d", resp.StatusCode),
			Retryable:      true,
			Source:         reliapi.SourceUpstream,
			UpstreamStatus: resp.StatusCode,
			RetryAfter:     retryAfter,
			Details:        map[string]any{"body": decodeBody(raw)},
		}
	}
	return &reliapi.HTTPResponse{StatusCode: resp.StatusCode, Headers: Headers(resp.Header), Body: decodeBody(raw)}, nil
}

// Headers is an answer's end-to-end headers as one string each.
func Headers(h http.Header) map[string]string {
	removeHopByHop(h)
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// transportError maps a failure to reach the upstream or read its answer.
func (c *Client) transportError(parent, attempt context.Context, t Target, err error) error {
	var coded *reliapi.Error
	if errors.As(err, &coded) {
		return coded // already ours (an unsafe path, say)
	}
	if parent.Err() != nil {
		// The job was canceled or its deadline passed: not the upstream's fault.
		return parent.Err()
	}
	if errors.Is(attempt.Err(), context.DeadlineExceeded) || reliapi.Classify(err) == reliapi.ClassTimeout {
		return &reliapi.Error{
			Code:      reliapi.CodeTimeout,
			Message:   fmt.Sprintf("Upstream did not answer within %s", t.Timeout),
			Retryable: true,
			Source:    reliapi.SourceUpstream,
			Err:       err,
		}
	}
	return &reliapi.Error{
		Code:      reliapi.CodeNetworkError,
		Message:   "Network error: " + NetworkReason(err),
		Retryable: true,
		Source:    reliapi.SourceUpstream,
		Err:       err,
	}
}

// NetworkReason names a network failure without echoing Go error text
// (which may contain internal addresses) to the caller.
func NetworkReason(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return "host not found"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connection refused or unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by upstream"
	default:
		return "connection failed"
	}
}

// decodeBody is the upstream body as JSON when it is JSON, else
// {"raw": text}; an empty body is null.
func decodeBody(raw []byte) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(raw) {
		return json.RawMessage(raw)
	}
	wrapped, _ := json.Marshal(map[string]string{"raw": string(raw)})
	return wrapped
}

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 §7.6.1); a proxy never forwards them.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}
