package budget

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"

	"github.com/reliapi/reliapi"
)

// perMessage is the tokens every chat message costs on top of its content
// (role and separators), and perReply the tokens that prime the answer,
// as OpenAI documents for its chat models.
const (
	perMessage = 3
	perReply   = 3
)

var (
	codecs   = map[tokenizer.Encoding]tokenizer.Codec{}
	codecsMu sync.Mutex
)

// encodingFor is the tokenizer of an OpenAI model, or false for models of
// other providers.
func encodingFor(model string) (tokenizer.Encoding, bool) {
	m := strings.ToLower(model)
	switch {
	case strings.HasPrefix(m, "gpt-4o"), strings.HasPrefix(m, "gpt-4.1"), strings.HasPrefix(m, "gpt-4.5"),
		strings.HasPrefix(m, "gpt-5"), strings.HasPrefix(m, "o1"), strings.HasPrefix(m, "o3"),
		strings.HasPrefix(m, "o4"), strings.HasPrefix(m, "chatgpt-"):
		return tokenizer.O200kBase, true
	case strings.HasPrefix(m, "gpt-4"), strings.HasPrefix(m, "gpt-3.5"):
		return tokenizer.Cl100kBase, true
	}
	return "", false
}

func codec(enc tokenizer.Encoding) (tokenizer.Codec, error) {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	if c, ok := codecs[enc]; ok {
		return c, nil
	}
	c, err := tokenizer.Get(enc)
	if err != nil {
		return nil, err
	}
	codecs[enc] = c
	return c, nil
}

// InputTokens counts the tokens a chat request sends. For OpenAI models it
// uses the model's own tokenizer (exact is true); for other models it
// approximates one token per 3.5 characters of content, which
// over-estimates English text slightly (Anthropic's and Mistral's
// tokenizers are not public), plus the same per-message overhead.
func InputTokens(model string, msgs []reliapi.Message) (n int, exact bool) {
	n = perReply
	if enc, ok := encodingFor(model); ok {
		if c, err := codec(enc); err == nil {
			for _, m := range msgs {
				ids, _, _ := c.Encode(m.Content)
				n += perMessage + len(ids) + 1 // the role is one token
			}
			return n, true
		}
	}
	for _, m := range msgs {
		n += perMessage + (len(m.Content)*2+6)/7 + 1
	}
	return n, false
}
