package providers

import (
	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/anthropic"
	"github.com/reliapi/reliapi/providers/mistral"
	"github.com/reliapi/reliapi/providers/openai"
)

// LLM returns the adapter of a provider by name.
func LLM(name string) (reliapi.LLMProvider, bool) {
	switch name {
	case reliapi.ProviderOpenAI:
		return openai.Adapter{}, true
	case reliapi.ProviderAnthropic:
		return anthropic.Adapter{}, true
	case reliapi.ProviderMistral:
		return mistral.New(), true
	}
	return nil, false
}
