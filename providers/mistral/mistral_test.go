package mistral_test

import (
	"testing"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/mistral"
)

// A response as the API sends it.
const completion = `{"id":"cmpl-e5cc70bb28c444948073e77776eb30ef","object":"chat.completion","model":"mistral-small-latest","usage":{"prompt_tokens":16,"completion_tokens":34,"total_tokens":50},"created":1702256327,"choices":[{"index":0,"message":{"content":"Bonjour !","tool_calls":null,"role":"assistant"},"finish_reason":"stop"}]}`

func TestMistral(t *testing.T) {
	t.Parallel()
	a := mistral.New()
	if a.Name() != "mistral" || a.Path() != "/chat/completions" || a.Headers("k")["Authorization"] != "Bearer k" {
		t.Fatalf("adapter: %s %s %v", a.Name(), a.Path(), a.Headers("k"))
	}
	got, err := a.DecodeResponse([]byte(completion))
	if err != nil || got.Content != "Bonjour !" || got.Usage.TotalTokens != 50 || got.Model != "mistral-small-latest" {
		t.Fatalf("got %+v, %v", got, err)
	}
	// Mistral's error body puts the message at the top level.
	e := a.DecodeError(401, nil, []byte(`{"message":"Unauthorized","request_id":"2c4a"}`))
	if e.Code != reliapi.CodeUnauthorized || e.Message != "Unauthorized" {
		t.Fatalf("error: %+v", e)
	}
}
