package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Benchmarks of the api + worker hot paths in one process, on a private
// redis-server and a local upstream. `make bench` runs them; the
// side-by-side report against a direct call and raw asynq is
// internal/bench.

func benchStack(b *testing.B) (*stack, *http.Client) {
	s := newStack(b, stackOptions{})
	return s, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
}

func post(b *testing.B, client *http.Client, url string, body []byte, headers ...string) map[string]any {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode >= 300 && resp.StatusCode != 202 {
		b.Fatalf("%d %s", resp.StatusCode, raw)
	}
	return out
}

// BenchmarkSyncProxy is one synchronous GET through the whole pipeline.
func BenchmarkSyncProxy(b *testing.B) {
	s, client := benchStack(b)
	body := []byte(`{"target":"up","method":"GET","path":"/get"}`)
	b.ResetTimer()
	for b.Loop() {
		post(b, client, s.url+"/v1/proxy/http", body)
	}
}

// BenchmarkAsyncSubmit is the api's share of an asynchronous job:
// validate, create, enqueue, answer 202. Jobs run meanwhile.
func BenchmarkAsyncSubmit(b *testing.B) {
	s, client := benchStack(b)
	body := []byte(`{"target":"up","method":"GET","path":"/get"}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, client, s.url+"/v1/proxy/http", body, "Prefer", "respond-async")
		}
	})
}
