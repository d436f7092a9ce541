package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Client calls a reliapi api as its tests and the benchmark do: a JSON
// body, one tenant's API key and any other headers on every request, and
// the answer read whole and decoded when it is a JSON object. The zero
// value sends full URLs with no key through http.DefaultClient.
type Client struct {
	// BaseURL comes before every path: "http://127.0.0.1:PORT", or ""
	// when the paths are full URLs.
	BaseURL string
	// APIKey is sent as X-API-Key unless a request's headers name
	// another; none when empty.
	APIKey string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// Response is an answer read whole.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header is the answer's header.
	Header http.Header
	// Raw is the body as it came.
	Raw []byte
	// Body is Raw decoded, nil when Raw is not a JSON object.
	Body map[string]any
}

// Open sends a request and returns the answer unread, for answers read as
// they come (a stream); the caller closes its body. body is nil (none), a
// string or []byte (sent as it is) or any other value (sent as JSON).
// Content-Type is application/json and X-API-Key the client's key, unless
// headers, name and value pairs, set them otherwise.
func (c *Client) Open(ctx context.Context, method, path string, body any, headers ...string) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding the body: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.APIKey != "" {
		req.Header.Set("X-API-Key", c.APIKey)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	return client.Do(req)
}

// Send is Open, then reads the whole answer and decodes it when it is a
// JSON object. It returns an error only when no answer came or its body
// could not be read; an answer that is not JSON has a nil Body.
func (c *Client) Send(ctx context.Context, method, path string, body any, headers ...string) (Response, error) {
	resp, err := c.Open(ctx, method, path, body, headers...)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if json.Unmarshal(raw, &r.Body) != nil {
		r.Body = nil
	}
	return r, nil
}

// Call is Send for tests that expect a JSON object back. It reports a
// request that got no answer, or an answer that is not a JSON object, as
// an error of tb (not fatal, so it may be called from any goroutine), and
// returns what it got: Status 0 when no answer came.
func (c *Client) Call(tb testing.TB, method, path string, body any, headers ...string) Response {
	tb.Helper()
	r, err := c.Send(context.Background(), method, path, body, headers...)
	if err != nil {
		tb.Errorf("%s %s: %v", method, path, err)
		return Response{}
	}
	if r.Body == nil {
		tb.Errorf("%s %s: %d, not a JSON object: %s", method, path, r.Status, r.Raw)
	}
	return r
}
