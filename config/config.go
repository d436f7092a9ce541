package config

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
	// RouteLLM configures calls routed by RouteLLM.
	RouteLLM RouteLLM `yaml:"routellm"`

	// TargetOrder lists the targets' names in the order the file gives
	// them (empty for a Config not parsed from a file).
	TargetOrder []string `yaml:"-"`
}

// Default returns a Config with every default applied and no targets.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
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
	initMap(&c.Pricing)
	initMap(&c.Models)
	c.Webhooks.setDefaults()
	c.Auth.setDefaults()
	c.setTenantDefaults()
	initMap(&c.Tiers)
	c.RapidAPI.setDefaults()
	c.RouteLLM.setDefaults()
}

// setDefault sets *p to v when *p is the zero value.
func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// initMap makes *m an empty map when it is nil, so that a section left out
// of the file reads as empty and can be added to.
func initMap[M ~map[K]V, K comparable, V any](m *M) {
	if *m == nil {
		*m = M{}
	}
}
