package config

import (
	"fmt"
	"strings"
)

// expand replaces each ${VAR} in s with getenv("VAR"), and each
// ${VAR:-default} with getenv("VAR"), or default when that is empty.
// The result is not expanded again, and a default is taken literally.
// A "$" not followed by "{" is kept, so "$" and "$$" pass through
// unchanged; "$${" writes a literal "${".
func expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${": an escaped "${"
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated %q: write ${VAR} or ${VAR:-default}, or $${ for a literal ${", s[i:])
		}
		ref := s[i+2 : i+end]
		name, def, hasDefault := strings.Cut(ref, ":-")
		if !isEnvName(name) {
			return "", fmt.Errorf("invalid reference %q: write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _", s[i:i+end+1])
		}
		if hasDefault && strings.Contains(def, "${") {
			return "", fmt.Errorf("invalid reference %q: a default cannot hold another reference", s[i:i+end+1])
		}
		value := getenv(name)
		if value == "" {
			value = def
		}
		b.WriteString(value)
		s = s[i+end+1:]
	}
}

// isEnvName reports whether s is a valid environment variable name:
// a letter or _, then letters, digits or _.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}
