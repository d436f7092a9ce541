package fakellm_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/fakellm"
	"github.com/reliapi/reliapi/providers"
)

// call sends req through the named adapter to the fake and decodes it the
// way the worker does.
func call(t *testing.T, srv *httptest.Server, provider, secret string, req reliapi.ChatRequest) (*reliapi.ChatResponse, *reliapi.Error) {
	t.Helper()
	a, _ := providers.LLM(provider)
	body, err := a.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest("POST", srv.URL+"/"+provider+"/v1"+a.Path(), bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range a.Headers(secret) {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		return nil, a.DecodeError(resp.StatusCode, resp.Header, raw)
	}
	out, err := a.DecodeResponse(raw)
	if err != nil {
		t.Fatalf("%s: %v in %s", provider, err, raw)
	}
	return out, nil
}

func TestEveryProviderRoundTrip(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(fakellm.New())
	t.Cleanup(srv.Close)
	msgs := []reliapi.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello there"}}
	for _, p := range []string{"openai", "anthropic", "mistral"} {
		got, e := call(t, srv, p, "sk-test", reliapi.ChatRequest{Model: "m-1", Messages: msgs})
		if e != nil {
			t.Fatalf("%s: %+v", p, e)
		}
		if !strings.HasPrefix(got.Content, "echo: Hello there") || got.Model != "m-1" || got.FinishReason != "stop" ||
			got.Usage.TotalTokens != got.Usage.PromptTokens+got.Usage.CompletionTokens || got.Usage.PromptTokens == 0 {
			t.Errorf("%s: %+v", p, got)
		}
	}
	// Anthropic received the system prompt at the top level.
	got, _ := call(t, srv, "anthropic", "k", reliapi.ChatRequest{Model: "m", Messages: msgs})
	if !strings.Contains(got.Content, "[system: Be brief.]") {
		t.Errorf("anthropic did not get the system prompt: %q", got.Content)
	}
}

func TestFailuresInEachFormat(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(fakellm.New())
	t.Cleanup(srv.Close)
	for _, p := range []string{"openai", "anthropic", "mistral"} {
		_, e := call(t, srv, p, "", reliapi.ChatRequest{Model: "m", Messages: []reliapi.Message{{Role: "user", Content: "hi"}}})
		if e == nil || e.Code != reliapi.CodeUnauthorized || e.Message == "" {
			t.Errorf("%s without a key: %+v", p, e)
		}
		_, e = call(t, srv, p, "k", reliapi.ChatRequest{Model: "m", Messages: []reliapi.Message{{Role: "user", Content: "fail:503"}}})
		if e == nil || e.Code != reliapi.CodeServerError || e.UpstreamStatus != 503 || !strings.Contains(e.Message, "fake failure") {
			t.Errorf("%s fail:503: %+v", p, e)
		}
	}
}
