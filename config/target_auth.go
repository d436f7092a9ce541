package config

import (
	"os"
	"strings"
)

// The auth types.
const (
	// AuthBearerEnv sends "Authorization: Bearer <secret>" by default.
	AuthBearerEnv = "bearer_env"
	// AuthAPIKey sends "Authorization: <secret>" by default; set Header
	// to use another header, such as X-API-Key.
	AuthAPIKey = "api_key"
)

// Auth says how to authenticate to an upstream. The secret itself never
// appears in the configuration: EnvVar names the environment variable that
// holds it.
type Auth struct {
	// Type is AuthBearerEnv or AuthAPIKey. Required.
	Type string `yaml:"type"`
	// EnvVar is the name of the environment variable holding the secret.
	// Required.
	EnvVar string `yaml:"env_var"`
	// HeaderName is the header that carries the secret.
	// Default "Authorization".
	HeaderName string `yaml:"header"`
	// Prefix goes before the secret in the header value. It is a pointer
	// so that an explicit "" is kept; nil means the default, "Bearer " for
	// AuthBearerEnv and "" for AuthAPIKey.
	Prefix *string `yaml:"prefix"`
}

// Header returns the header to add to an upstream request: its name and
// the prefix followed by the secret, read from the environment now. It
// returns ok false, and no header, when a is nil, its type is unknown, or
// the environment variable is empty.
func (a *Auth) Header() (name, value string, ok bool) {
	return a.header(os.Getenv)
}

// header is Header with the environment passed in.
func (a *Auth) header(getenv func(string) string) (name, value string, ok bool) {
	if a == nil {
		return "", "", false
	}
	secret := getenv(a.EnvVar)
	if secret == "" || (a.Type != AuthBearerEnv && a.Type != AuthAPIKey) {
		return "", "", false
	}
	name, prefix := a.Format()
	return name, prefix + secret, true
}

// Secret reads the secret from the environment now; "" when a is nil or
// the variable is unset.
func (a *Auth) Secret() string {
	if a == nil {
		return ""
	}
	return os.Getenv(a.EnvVar)
}

// Format is how the secret is sent: the header's name (default
// Authorization) and the text before the secret (default "Bearer " for
// bearer_env, "" for api_key). A nil Auth has the bearer defaults, the
// form provider key pools use when the target names none.
func (a *Auth) Format() (name, prefix string) {
	if a == nil {
		return "Authorization", "Bearer "
	}
	name = a.HeaderName
	if name == "" {
		name = "Authorization"
	}
	return name, a.prefix()
}

// prefix returns the explicit prefix, or the default for a's type.
func (a *Auth) prefix() string {
	switch {
	case a.Prefix != nil:
		return *a.Prefix
	case a.Type == AuthBearerEnv:
		return "Bearer "
	}
	return ""
}

// setDefaults fills every zero field of a with its default, and sets the
// prefix its type implies.
func (a *Auth) setDefaults() {
	setDefault(&a.HeaderName, "Authorization")
	if a.Prefix == nil {
		p := a.prefix()
		a.Prefix = &p
	}
}

// targetAuth checks a target's auth block at p.
func (v *validator) targetAuth(p string, a *Auth) {
	if a.Type == "" {
		v.add(p+".type", "required: bearer_env or api_key")
	} else {
		v.oneOf(p+".type", a.Type, AuthBearerEnv, AuthAPIKey)
	}
	switch {
	case a.EnvVar == "":
		v.add(p+".env_var", "required: the name of the environment variable holding the secret")
	case !isEnvName(a.EnvVar):
		// Not quoted: a secret pasted here by mistake must not reach the logs.
		v.add(p+".env_var", "must be an environment variable name (letters, digits and _), not the secret itself")
	}
	v.check(p+".header", isToken(a.HeaderName), "must be an HTTP header name (got %q)", a.HeaderName)
}

// isToken reports whether s is a valid HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x7f || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
