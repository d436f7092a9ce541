package config

import "github.com/reliapi/reliapi/webhook"

// The api and the worker each take the part of the configuration they
// use, and no more: the worker never holds tenants' API keys or the admin
// key; the api never holds provider key pools (whose keys are secrets) or
// webhook signing secrets. cmd/reliapi hands each its part of the file it
// loaded (ForAPI, ForWorker). The sections keep their names and types, so
// a setting reads the same everywhere.

// WorkerSettings are the sections of the configuration a worker uses.
type WorkerSettings struct {
	Worker      Worker
	Jobs        Jobs
	QueueShards int
	Reliability Reliability
	Targets     map[string]*Target
	// ProviderKeyPools hold the keys' secrets: only workers call upstreams.
	ProviderKeyPools map[string]*KeyPool
	ClientProfiles   map[string]*ClientProfile
	Pricing          map[string]Price
	// UnknownModel is budget.unknown_model: whether a fallback to a model
	// without a price may be called under a hard cost cap.
	UnknownModel string
	// Webhooks holds the signing secrets: only workers deliver.
	Webhooks Webhooks
}

// ForWorker is the part of c a worker uses.
func (c *Config) ForWorker() *WorkerSettings {
	return &WorkerSettings{
		Worker: c.Worker, Jobs: c.Jobs, QueueShards: c.Redis.QueueShards, Reliability: c.Reliability,
		Targets: c.Targets, ProviderKeyPools: c.ProviderKeyPools, ClientProfiles: c.ClientProfiles,
		Pricing: c.Pricing, UnknownModel: c.Budget.UnknownModel, Webhooks: c.Webhooks,
	}
}

// PriceOf is Config.PriceOf.
func (s *WorkerSettings) PriceOf(model string) (Price, bool) { return priceOf(s.Pricing, model) }

// PoolFor is Config.PoolFor.
func (s *WorkerSettings) PoolFor(target string) (string, *KeyPool) {
	return poolFor(s.Targets, s.ProviderKeyPools, target)
}

// Profile is Config.Profile.
func (s *WorkerSettings) Profile(name string) (string, *ClientProfile) {
	return profileOf(s.ClientProfiles, name)
}

// APISettings are the sections of the configuration the api uses.
type APISettings struct {
	Server      Server
	Jobs        Jobs
	QueueShards int
	Reliability Reliability
	Targets     map[string]*Target
	// KeyPools are the targets' key pools, by target, without their
	// secrets: for their status and for re-enabling keys.
	KeyPools       map[string]PoolStatus
	ClientProfiles map[string]*ClientProfile
	Budget         Budget
	Pricing        map[string]Price
	Models         map[string]*ModelRoute
	Webhooks       WebhookRules
	Auth           ClientAuth
	Tenants        map[string]*Tenant
	Tiers          map[string]*TierLimits
	RapidAPI       RapidAPI
	RouteLLM       RouteLLM
	// TargetOrder is Config.TargetOrder.
	TargetOrder []string
}

// PoolStatus names a target's key pool and its keys, without their
// secrets.
type PoolStatus struct {
	// Name is the pool's name (its provider's, or its target's).
	Name string
	Keys []PoolKeyStatus
}

// PoolKeyStatus is one key of a pool, without its secret.
type PoolKeyStatus struct {
	ID string
	// MaxConcurrent is how many calls may use the key at once; 0: no limit.
	MaxConcurrent int
}

// WebhookRules are what the api checks of a subscription, without the
// signing secrets.
type WebhookRules struct {
	// AllowPrivateNetworks is webhooks.allow_private_networks.
	AllowPrivateNetworks bool
	// Signed are the tenants that have a signing secret: only they may
	// subscribe.
	Signed map[string]bool
}

// Guard is the address guard subscriptions are checked with.
func (w WebhookRules) Guard() webhook.Guard {
	return webhook.Guard{AllowPrivate: w.AllowPrivateNetworks}
}

// ForAPI is the part of c the api uses.
func (c *Config) ForAPI() *APISettings {
	s := &APISettings{
		Server: c.Server, Jobs: c.Jobs, QueueShards: c.Redis.QueueShards, Reliability: c.Reliability,
		Targets: c.Targets, KeyPools: map[string]PoolStatus{}, ClientProfiles: c.ClientProfiles,
		Budget: c.Budget, Pricing: c.Pricing, Models: c.Models,
		Webhooks: WebhookRules{AllowPrivateNetworks: c.Webhooks.AllowPrivateNetworks, Signed: map[string]bool{}},
		Auth:     c.Auth, Tenants: c.Tenants, Tiers: c.Tiers, RapidAPI: c.RapidAPI,
		RouteLLM: c.RouteLLM, TargetOrder: c.TargetOrder,
	}
	for name := range c.Targets {
		if poolName, p := c.PoolFor(name); p != nil {
			st := PoolStatus{Name: poolName, Keys: make([]PoolKeyStatus, len(p.Keys))}
			for i, k := range p.Keys {
				_, _, concurrent := k.Rate()
				st.Keys[i] = PoolKeyStatus{ID: k.ID, MaxConcurrent: concurrent}
			}
			s.KeyPools[name] = st
		}
	}
	for tenant, secrets := range c.Webhooks.Secrets {
		if len(secrets) > 0 {
			s.Webhooks.Signed[tenant] = true
		}
	}
	return s
}

// PriceOf is Config.PriceOf.
func (s *APISettings) PriceOf(model string) (Price, bool) { return priceOf(s.Pricing, model) }

// TierLimits is Config.TierLimits.
func (s *APISettings) TierLimits(tier string) Limits { return tierLimits(s.Tiers, tier) }

// TenantLimits is Config.TenantLimits.
func (s *APISettings) TenantLimits(name, tier string) Limits {
	return tenantLimits(s.Tenants, s.Tiers, name, tier)
}
