package reliapi_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/reliapi/reliapi"
)

func TestUpstreamURL(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://api.example.com/v1")
	tests := []struct {
		path  string
		query url.Values
		want  string // "" = ErrUnsafePath
	}{
		{"/users/1", nil, "https://api.example.com/v1/users/1"},
		{"", nil, "https://api.example.com/v1/"},
		{"/", nil, "https://api.example.com/v1/"},
		{"/get?a=1", url.Values{"b": {"2"}}, "https://api.example.com/v1/get?a=1&b=2"},
		{"/get?a=1", url.Values{"a": {"2"}}, "https://api.example.com/v1/get?a=1&a=2"},
		{"/@evil.com", nil, "https://api.example.com/v1/@evil.com"},
		{"/projects/a%2Fb", nil, "https://api.example.com/v1/projects/a%2Fb"},
		{"/a b", nil, ""},
		{"@evil.com", nil, ""},
		{"//evil.com", nil, ""},
		{"//evil.com/x", nil, ""},
		{"https://evil.com", nil, ""},
		{"http:/evil.com", nil, ""},
		{"evil.com/x", nil, ""},
		{"/../admin", nil, ""},
		{"/a/../../admin", nil, ""},
		{"/%2e%2e/admin", nil, ""},
		{"/%2E%2e/admin", nil, ""},
		{"/a/%2e/b", nil, ""},
		{"/a/..", nil, ""},
		{"/..%2fadmin", nil, ""},
		{"/\\evil.com", nil, ""},
		{"/%5cevil.com", nil, ""},
		{"/a#frag", nil, ""},
		{"/a\nb", nil, ""},
		{"/a%zz", nil, ""},
		{"/a?x=%zz", nil, ""},
	}
	for _, tt := range tests {
		got, err := reliapi.UpstreamURL(base, tt.path, tt.query)
		if tt.want == "" {
			if !errors.Is(err, reliapi.ErrUnsafePath) {
				t.Errorf("UpstreamURL(%q) = %v, %v; want ErrUnsafePath", tt.path, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("UpstreamURL(%q) = %v, %v; want %s", tt.path, got, err, tt.want)
		}
	}
}

func FuzzUpstreamURL(f *testing.F) {
	for _, s := range []string{"/get", "//evil.com", "/a/../b", "/%2e%2e", "/@x", "/?a=b"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://api.example.com/v1")
	f.Fuzz(func(t *testing.T, path string) {
		u, err := reliapi.UpstreamURL(base, path, nil)
		if err != nil {
			return
		}
		// Whatever was accepted must reach the same host under /v1, also
		// after a round trip through its string form (what the wire sees).
		back, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("%q: produced unparsable URL %q", path, u)
		}
		if back.Scheme != "https" || back.Host != "api.example.com" || back.User != nil {
			t.Fatalf("%q escaped the host: %q", path, u)
		}
		if back.Path != "/v1" && !strings.HasPrefix(back.Path, "/v1/") {
			t.Fatalf("%q escaped the base path: %q", path, u)
		}
		for _, seg := range strings.Split(back.Path, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("%q kept a dot segment: %q", path, u)
			}
		}
	})
}
