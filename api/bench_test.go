package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/reliapi/reliapi/internal/testenv"
)

// Benchmarks of the api + worker hot paths in one process, on a private
// redis-server and a local upstream. `make bench` runs them; the
// side-by-side report against a direct call and raw asynq is
// internal/bench.

// benchClient starts a stack and returns a client on it that keeps enough
// connections open for parallel benchmarks.
func benchClient(b *testing.B) *testenv.Client {
	s := newStack(b, stackOptions{})
	return &testenv.Client{BaseURL: s.url, HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
}

// post sends body to path and fails the benchmark unless the answer is a
// JSON object with a 2xx status.
func post(b *testing.B, client *testenv.Client, path string, body []byte, headers ...string) map[string]any {
	r, err := client.Send(context.Background(), "POST", path, body, headers...)
	if err != nil {
		b.Fatal(err)
	}
	if r.Body == nil || r.Status >= 300 {
		b.Fatalf("%d %s", r.Status, r.Raw)
	}
	return r.Body
}

// BenchmarkSyncProxy is one synchronous GET through the whole pipeline.
func BenchmarkSyncProxy(b *testing.B) {
	client := benchClient(b)
	body := []byte(`{"target":"up","method":"GET","path":"/get"}`)
	b.ResetTimer()
	for b.Loop() {
		post(b, client, "/v1/proxy/http", body)
	}
}

// BenchmarkAsyncSubmit is the api's share of an asynchronous job:
// validate, create, enqueue, answer 202. Jobs run meanwhile.
func BenchmarkAsyncSubmit(b *testing.B) {
	client := benchClient(b)
	body := []byte(`{"target":"up","method":"GET","path":"/get"}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, client, "/v1/proxy/http", body, "Prefer", "respond-async")
		}
	})
}
