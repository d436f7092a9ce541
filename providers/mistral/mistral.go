// Package mistral adapts Mistral's chat API, which speaks OpenAI's wire
// format (POST {base_url}/chat/completions, Authorization: Bearer).
package mistral

import (
	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/openai"
)

// New returns the Mistral adapter.
func New() reliapi.LLMProvider { return openai.Adapter{ProviderName: reliapi.ProviderMistral} }
