package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	if p, _ := ParsePrefix("10.1.2.3"); p.Bits() != 32 {
		t.Errorf("a single address is a /32, got %v", p)
	}
}

// TestCORSOriginsFromEnv: CORS_ORIGINS fills server.cors_origins only when
// the file does not set it; entries are trimmed and empty ones dropped.
func TestCORSOriginsFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, env string
		want            []string
	}{
		{"unset", "", "", nil},
		{"only commas and blanks", "", " , ,", nil},
		{"trimmed, empties dropped", "", " https://a.example.com , ,http://b.example.com:8080,", []string{"https://a.example.com", "http://b.example.com:8080"}},
		{"any origin", "", "*", []string{"*"}},
		{"the file wins", "server:\n  cors_origins: [https://file.example.com]\n", "https://env.example.com", []string{"https://file.example.com"}},
		{"an explicit empty list in the file wins", "server:\n  cors_origins: []\n", "https://env.example.com", []string{}},
		{"null in the file is unset", "server:\n  cors_origins:\n", "https://env.example.com", []string{"https://env.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.file), "c.yaml", env(map[string]string{"CORS_ORIGINS": tt.env}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Server.CORSOrigins, tt.want) {
				t.Errorf("cors_origins %#v, want %#v", c.Server.CORSOrigins, tt.want)
			}
		})
	}
}

// TestCORSOriginsFromEnvRefusesBadEntries: a bad entry stops the start with
// the variable's name, rather than quietly leaving CORS off.
func TestCORSOriginsFromEnvRefusesBadEntries(t *testing.T) {
	t.Parallel()
	_, err := Parse(nil, "c.yaml", env(map[string]string{"CORS_ORIGINS": "https://ok.example.com, localhost:3000"}))
	if err == nil || !strings.Contains(err.Error(), `CORS_ORIGINS: entry 2 must be`) || !strings.Contains(err.Error(), `"localhost:3000"`) {
		t.Fatalf("error %v; want one naming CORS_ORIGINS, the entry and its value", err)
	}
	// The file's own list is checked as before, and the variable is not read.
	_, err = Parse([]byte("server:\n  cors_origins: [nope]\n"), "c.yaml", env(map[string]string{"CORS_ORIGINS": "also-bad"}))
	if err == nil || !strings.Contains(err.Error(), "server.cors_origins[0]") || strings.Contains(err.Error(), "CORS_ORIGINS") {
		t.Fatalf("error %v; want only the file's server.cors_origins[0]", err)
	}
}
