package api

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/config"
)

// fuzzSettings has one HTTP target under a base path and one LLM target.
func fuzzSettings(tb testing.TB) (*config.APISettings, map[string]*url.URL) {
	st, err := config.Parse([]byte(`
targets:
  up: {base_url: "http://127.0.0.1:1/base"}
  oai: {base_url: "http://127.0.0.1:1/v1", llm: {provider: openai, default_model: gpt-4o-mini, max_tokens: 100}}
`), "fuzz.yaml", func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	targets := map[string]*url.URL{}
	for name, t := range st.Targets {
		targets[name], _ = url.Parse(t.BaseURL)
	}
	return st.ForAPI(), targets
}

// FuzzRequestDecoding feeds arbitrary bodies to the three request decoders
// and validators. None may panic; a body they accept must be a call that
// stays on its target's host and under its base path, within the limits.
func FuzzRequestDecoding(f *testing.F) {
	for _, seed := range []string{
		`{"target":"up","method":"GET","path":"/get","query":{"a":[1,"b",true]},"headers":{"X-A":"b"}}`,
		`{"target":"up","method":"post","path":"/anything?x=1","body":{"n":[1,{"m":null}]},"idempotency_key":"k"}`,
		`{"target":"up","method":"GET","path":"//evil.example/x"}`,
		`{"target":"up","method":"GET","path":"/../../etc"}`,
		`{"target":"oai","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}`,
		`{"model":"oai/gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stop":["x"]}`,
		`[[[[[[]]]]]]`, `{"target":"up","body":"\"[{"}`, `{}`, ``, `null`,
	} {
		f.Add([]byte(seed))
	}
	st, targets := fuzzSettings(f)
	s := &Server{settings: st, targets: targets, targetNames: sortedNames(targets)}
	f.Fuzz(func(t *testing.T, body []byte) {
		var hr httpProxyRequest
		if decodeJSON(bytes.NewReader(body), &hr, 1<<20) == nil {
			if call, err := hr.validate(targets); err == nil {
				if call.target != "up" || len(call.path) > maxPathLen || !strings.HasPrefix(call.path, "/") {
					t.Fatalf("accepted %q as %+v", body, call)
				}
			}
		}
		var lr llmProxyRequest
		if decodeJSON(bytes.NewReader(body), &lr, 1<<20) == nil {
			if call, err := lr.validate(st); err == nil && (call.llm == nil || len(call.llm.Messages) == 0 || len(call.llm.Messages) > maxMessages) {
				t.Fatalf("accepted %q as %+v", body, call)
			}
		}
		var oa oaChatRequest
		if decodeLenient(bytes.NewReader(body), &oa, 1<<20) == nil {
			if req, err := oa.toLLM(s, nil); err == nil {
				req.validate(st)
			}
		}
	})
}

// FuzzPrefer parses arbitrary Prefer headers: never a panic, never a
// negative wait or one past max_wait.
func FuzzPrefer(f *testing.F) {
	for _, seed := range []string{"respond-async", "wait=5", "wait=0", "respond-async, wait=10", "wait=-1", "wait=99999999999999999999", `wait="3"`, "return=minimal; wait=2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, prefer string) {
		h := http.Header{}
		h.Set("Prefer", prefer)
		m := parseMode(h, 30*time.Second, 60*time.Second)
		if m.wait < 0 || m.wait > 60*time.Second {
			t.Fatalf("Prefer %q: wait %v", prefer, m.wait)
		}
	})
}

// FuzzJSONDepth: the depth scan agrees with a nesting count of what
// encoding/json accepts, never panics and never goes negative on garbage.
func FuzzJSONDepth(f *testing.F) {
	for _, seed := range []string{`[]`, `{"a":[{"b":"]]]"}]}`, `"\"[["`, `]]]`, `[[[`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if d := jsonDepth(data); d < 0 || d > len(data) {
			t.Fatalf("depth %d of %d bytes", d, len(data))
		}
	})
}
