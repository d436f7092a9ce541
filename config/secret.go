package config

import (
	"fmt"
	"reflect"
	"regexp"

	"gopkg.in/yaml.v3"
)

// Secret is a value that must come from the environment: the file says
// "${VAR}", never the secret itself, so configs can be committed and shown.
// It prints as its variable's name, never as its value.
type Secret struct {
	// Env is the variable the value was read from.
	Env   string
	value string
}

// Value is the secret; "" when the variable was unset or empty.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the file names a variable for s.
func (s Secret) IsSet() bool { return s.Env != "" }

// String names the variable, never the value.
func (s Secret) String() string {
	if s.Env == "" {
		return "(unset)"
	}
	return "${" + s.Env + "}"
}

var secretType = reflect.TypeFor[Secret]()

// secretRef is the only form a Secret may take in a file.
var secretRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// secret decodes n into v, a Secret.
func (d *decoder) secret(n *yaml.Node, v reflect.Value, path string) {
	if n.ShortTag() == "!!null" {
		return
	}
	m := secretRef.FindStringSubmatch(n.Value)
	if n.Kind != yaml.ScalarNode || m == nil {
		d.fail(n, path, "must be a reference to an environment variable, such as \"${MY_KEY}\": secrets are never written in the config file")
		return
	}
	v.Set(reflect.ValueOf(Secret{Env: m[1], value: d.getenv(m[1])}))
}

// present checks that a secret the file names has a value.
func (v *validator) present(path string, s Secret) {
	v.check(path, !s.IsSet() || s.Value() != "", "environment variable %s is not set", s.Env)
}

// SecretFrom is a Secret holding value, as if read from the variable env;
// for tests and for values that come from flags.
func SecretFrom(env, value string) Secret { return Secret{Env: env, value: value} }

// GoString names the variable, never the value, also for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret{Env: %q}", s.Env) }

// MarshalYAML writes the reference, never the value: a dumped config
// reads back the same.
func (s Secret) MarshalYAML() (any, error) {
	if s.Env == "" {
		return nil, nil
	}
	return s.String(), nil
}
