package config

import (
	"os"
)

// Config is the whole configuration file. A zero field means its default;
// Parse and Default fill every default in.
type Config struct {
	// Server configures the HTTP front door (the api).
	Server Server `yaml:"server"`
	// Redis locates the one Redis that the api and the workers share.
	Redis Redis `yaml:"redis"`
	// Worker configures the processes that execute jobs.
	Worker Worker `yaml:"worker"`
	// Jobs configures job records and limits.
	Jobs Jobs `yaml:"jobs"`
	// Reliability holds settings shared by the reliability controls.
	Reliability Reliability `yaml:"reliability"`
	// Targets are the upstreams a call can name, by name. Names match
	// ^[A-Za-z0-9_.-]{1,64}$. Default: none (an empty, non-nil map).
	Targets map[string]*Target `yaml:"targets"`
	// ProviderKeyPools are groups of API keys, by provider (or target)
	// name. Default: none.
	ProviderKeyPools map[string]*KeyPool `yaml:"provider_key_pools"`
	// ClientProfiles are the limits a caller selects with X-Client, by
	// name. "default" always exists (without limits unless configured).
	ClientProfiles map[string]*ClientProfile `yaml:"client_profiles"`
	// Budget caps what LLM calls may cost each tenant.
	Budget Budget `yaml:"budget"`
	// Pricing adds to and overrides the shipped price list
	// (DefaultPricing), by model name.
	Pricing map[string]Price `yaml:"pricing"`
	// Models are names the OpenAI-compatible API accepts as "model", each
	// routed to an LLM target and that target's model name. Default: none
	// ("target/model" and bare target names always work).
	Models map[string]*ModelRoute `yaml:"models"`
	// Webhooks configures the delivery of job events.
	Webhooks Webhooks `yaml:"webhooks"`
	// Auth says who may call the api.
	Auth ClientAuth `yaml:"auth"`
	// Tenants are the service's customers, by name (^[A-Za-z0-9_.-]{1,64}$).
	// Default: none.
	Tenants map[string]*Tenant `yaml:"tenants"`
	// Tiers override the shipped limits of the tiers free, developer, pro
	// and enterprise, field by field.
	Tiers map[string]*TierLimits `yaml:"tiers"`
	// RapidAPI configures the RapidAPI marketplace integration.
	RapidAPI RapidAPI `yaml:"rapidapi"`
}

// ModelRoute sends a model name to a target.
type ModelRoute struct {
	// Target is an LLM target. Required.
	Target string `yaml:"target"`
	// Model is the name the target's provider knows. Default: the target's
	// default_model.
	Model string `yaml:"model"`
}

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

// Default returns a Config with every default applied and no targets.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
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

// setDefaults fills every zero field of c with its default, section by
// section.
func (c *Config) setDefaults() {
	c.Server.setDefaults()
	c.Redis.setDefaults()
	c.Worker.setDefaults()
	c.Jobs.setDefaults()
	c.Reliability.setDefaults()
	c.setTargetDefaults()
	c.setPoolDefaults()
	c.setProfileDefaults()
	c.Budget.setDefaults()
	if c.Pricing == nil {
		c.Pricing = map[string]Price{}
	}
	if c.Models == nil {
		c.Models = map[string]*ModelRoute{}
	}
	c.Webhooks.setDefaults()
	c.Auth.setDefaults()
	c.setTenantDefaults()
	if c.Tiers == nil {
		c.Tiers = map[string]*TierLimits{}
	}
	c.RapidAPI.setDefaults()
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

// setDefault sets *p to v when *p is the zero value.
func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
