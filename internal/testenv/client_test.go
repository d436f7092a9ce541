package testenv

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestClientSend(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	c := &Client{BaseURL: u.URL, APIKey: "k1"}
	r, err := c.Send(context.Background(), "POST", "/anything", map[string]any{"n": 1}, "Prefer", "respond-async")
	if err != nil {
		t.Fatal(err)
	}
	headers, _ := r.Body["headers"].(map[string]any)
	if r.Status != http.StatusOK || r.Body["body"] != `{"n":1}` || headers["X-Api-Key"] != "k1" ||
		headers["Prefer"] != "respond-async" || headers["Content-Type"] != "application/json" {
		t.Fatalf("POST /anything: %d %s", r.Status, r.Raw)
	}

	// A header pair replaces the client's key; a string body goes as it is.
	r, err = c.Send(context.Background(), "PUT", "/anything", "not json", "X-API-Key", "k2")
	if err != nil {
		t.Fatal(err)
	}
	headers, _ = r.Body["headers"].(map[string]any)
	if r.Body["body"] != "not json" || headers["X-Api-Key"] != "k2" {
		t.Fatalf("PUT /anything: %s", r.Raw)
	}

	// An answer that is not a JSON object has no Body, and is no error.
	u.Handle("/text", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("plain")) })
	r, err = c.Send(context.Background(), "GET", "/text", nil)
	if err != nil || r.Body != nil || string(r.Raw) != "plain" {
		t.Fatalf("GET /text: %v %v %q", err, r.Body, r.Raw)
	}

	// No answer is an error.
	if _, err := (&Client{BaseURL: "http://127.0.0.1:1"}).Send(context.Background(), "GET", "/", nil); err == nil {
		t.Fatal("a call to a closed port returned no error")
	}
}

// recorder is a testing.TB that keeps what Call reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}

func TestClientCallReports(t *testing.T) {
	t.Parallel()

	u := StartUpstream(t)
	u.Handle("/text", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("plain")) })
	c := &Client{BaseURL: u.URL}
	rec := &recorder{TB: t}
	if r := c.Call(rec, "GET", "/get", nil); r.Status != 200 || len(rec.errors) != 0 {
		t.Fatalf("a JSON answer: %d, reported %v", r.Status, rec.errors)
	}
	if r := c.Call(rec, "GET", "/text", nil); r.Status != 200 || len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "not a JSON object") {
		t.Fatalf("a text answer: %d, reported %v", r.Status, rec.errors)
	}
	rec.errors = nil
	if r := (&Client{BaseURL: "http://127.0.0.1:1"}).Call(rec, "GET", "/", nil); r.Status != 0 || len(rec.errors) != 1 {
		t.Fatalf("no answer: %d, reported %v", r.Status, rec.errors)
	}
}
