package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultTenant is the tenant of open mode and of RELIAPI_API_KEY.
const DefaultTenant = "default"

// Tiers, from the most limited to the least.
const (
	TierFree       = "free"
	TierDeveloper  = "developer"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
)

// TierNames lists the tiers in order.
var TierNames = []string{TierFree, TierDeveloper, TierPro, TierEnterprise}

// Tenant is one customer of the service: its keys, tier and limits.
type Tenant struct {
	// Tier is free, developer, pro or enterprise; it sets the limits the
	// tenant does not override. Default free.
	Tier string `yaml:"tier"`
	// Profile is the client profile of calls that send no X-Client.
	// Default "default".
	Profile string `yaml:"profile"`
	// APIKey is one key, from the environment: the seed's form.
	APIKey Secret `yaml:"api_key"`
	// APIKeys are the tenant's keys. Several at once let a key be rotated.
	APIKeys []TenantKey `yaml:"api_keys"`
	// Limits override the tier's, field by field.
	Limits TierLimits `yaml:"limits"`
}

// TenantKey is one API key of a tenant: its SHA-256 (so the file holds no
// secret) or the key itself from the environment.
type TenantKey struct {
	// ID names the key in logs. Default "key<N>", N its position from 1.
	ID string `yaml:"id"`
	// SHA256 is the hex SHA-256 of the key (`reliapi key hash` prints it).
	SHA256 string `yaml:"sha256"`
	// Key is the key itself, from the environment ("${ACME_KEY}").
	Key Secret `yaml:"key"`
	// Revoked refuses the key with a message that says so (401).
	Revoked bool `yaml:"revoked"`
}

// TierLimits are a tier's limits and features; a field left out keeps the
// value it would have had (the shipped tier default, or the tier's when
// set on a tenant).
type TierLimits struct {
	// RPM caps the tenant's calls in any rolling minute; 0: no cap.
	RPM *int `yaml:"rpm"`
	// Burst caps the tenant's calls in any rolling second; 0: no cap.
	Burst *int `yaml:"burst"`
	// MaxConcurrentJobs caps the tenant's jobs queued or running at once;
	// 0: no cap.
	MaxConcurrentJobs *int `yaml:"max_concurrent_jobs"`
	// AllowedModels lists the LLM models the tenant may call: exact names,
	// or prefixes ending in "*" ("claude-3-haiku*"). Empty: every model.
	AllowedModels []string `yaml:"allowed_models"`
	// Streaming allows streamed LLM responses.
	Streaming *bool `yaml:"streaming"`
	// Idempotency allows idempotency keys.
	Idempotency *bool `yaml:"idempotency"`
	// MaxRetries caps the retries of one call, whatever the target's retry
	// matrix allows.
	MaxRetries *int `yaml:"max_retries"`
	// MaxFallbacks caps how many fallback targets one LLM call may try.
	MaxFallbacks *int `yaml:"max_fallbacks"`
	// IPRPM caps calls from one client IP in any rolling minute, across
	// the tier's tenants; 0: no cap.
	IPRPM *int `yaml:"ip_rpm"`
	// FingerprintRPM caps calls from one client (IP, User-Agent and API
	// key together) in any rolling minute; 0: no cap.
	FingerprintRPM *int `yaml:"fingerprint_rpm"`
	// BanAfter bans an API key or a client IP for BanFor once it has
	// exceeded a limit this many times within BanWindow; 0: never.
	BanAfter *int `yaml:"ban_after"`
	// BanWindow is how far back violations count toward BanAfter.
	BanWindow *Duration `yaml:"ban_window"`
	// BanFor is how long a ban lasts; it expires by itself.
	BanFor *Duration `yaml:"ban_for"`
}

// Limits are a tenant's resolved limits and features.
type Limits struct {
	Tier              string
	RPM               int
	Burst             int
	MaxConcurrentJobs int
	AllowedModels     []string
	Streaming         bool
	Idempotency       bool
	MaxRetries        int
	MaxFallbacks      int
	IPRPM             int
	FingerprintRPM    int
	BanAfter          int
	BanWindow         time.Duration
	BanFor            time.Duration
}

// AllowsModel reports whether the tier allows model (ModelAllowed).
func (l *Limits) AllowsModel(model string) bool { return ModelAllowed(l.AllowedModels, model) }

// ModelAllowed reports whether model is among allowed: listed exactly, or
// starting with a listed prefix ("gpt-3.5-turbo*"), ignoring case; an
// empty list allows any model. So "gpt-4o-mini" can be allowed while
// "gpt-4o" is not.
func ModelAllowed(allowed []string, model string) bool {
	if len(allowed) == 0 {
		return true
	}
	model = strings.ToLower(model)
	for _, m := range allowed {
		m = strings.ToLower(m)
		if prefix, ok := strings.CutSuffix(m, "*"); ok && strings.HasPrefix(model, prefix) || m == model {
			return true
		}
	}
	return false
}

// tierDefaults are the shipped limits of each tier; `tiers` in the file
// overrides them field by field.
func tierDefaults(tier string) Limits {
	switch tier {
	case TierFree:
		return Limits{Tier: tier, RPM: 60, Burst: 10, MaxConcurrentJobs: 5,
			AllowedModels: []string{"gpt-4o-mini*", "gpt-3.5-turbo*", "claude-3-haiku*", "claude-3-5-haiku*", "mistral-small*", "mistral-tiny*"},
			MaxRetries:    1, MaxFallbacks: 1, IPRPM: 20, FingerprintRPM: 20,
			BanAfter: 5, BanWindow: 10 * time.Minute, BanFor: 15 * time.Minute}
	case TierDeveloper:
		return Limits{Tier: tier, RPM: 600, Burst: 50, MaxConcurrentJobs: 50, Streaming: true, Idempotency: true,
			MaxRetries: 3, MaxFallbacks: 2}
	case TierPro:
		return Limits{Tier: tier, RPM: 3000, Burst: 200, MaxConcurrentJobs: 500, Streaming: true, Idempotency: true,
			MaxRetries: 5, MaxFallbacks: 5}
	}
	return Limits{Tier: TierEnterprise, Streaming: true, Idempotency: true, MaxRetries: 10, MaxFallbacks: 10}
}

// apply sets every field t names.
func (t *TierLimits) apply(l *Limits) {
	if t == nil {
		return
	}
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&l.RPM, t.RPM)
	set(&l.Burst, t.Burst)
	set(&l.MaxConcurrentJobs, t.MaxConcurrentJobs)
	set(&l.MaxRetries, t.MaxRetries)
	set(&l.MaxFallbacks, t.MaxFallbacks)
	set(&l.IPRPM, t.IPRPM)
	set(&l.FingerprintRPM, t.FingerprintRPM)
	set(&l.BanAfter, t.BanAfter)
	if t.AllowedModels != nil {
		l.AllowedModels = t.AllowedModels
	}
	if t.Streaming != nil {
		l.Streaming = *t.Streaming
	}
	if t.Idempotency != nil {
		l.Idempotency = *t.Idempotency
	}
	if t.BanWindow != nil {
		l.BanWindow = t.BanWindow.Duration
	}
	if t.BanFor != nil {
		l.BanFor = t.BanFor.Duration
	}
}

// TierLimits returns a tier's limits: the shipped defaults with the file's
// `tiers` applied.
func (c *Config) TierLimits(tier string) Limits {
	l := tierDefaults(tier)
	c.Tiers[tier].apply(&l)
	return l
}

// TenantLimits returns a tenant's limits: its tier's, with the tenant's
// overrides applied. Open mode's tenant, and any tenant not configured,
// get the tier the caller passes (RapidAPI tenants bring their own).
func (c *Config) TenantLimits(name, tier string) Limits {
	t := c.Tenants[name]
	if t != nil {
		tier = t.Tier
	}
	l := c.TierLimits(tier)
	if t != nil {
		t.Limits.apply(&l)
	}
	return l
}

// setTenantDefaults makes c.Tenants non-nil and fills in every tenant's
// defaults.
func (c *Config) setTenantDefaults() {
	if c.Tenants == nil {
		c.Tenants = map[string]*Tenant{}
	}
	for _, t := range c.Tenants {
		if t != nil {
			t.setDefaults()
		}
	}
}

func (t *Tenant) setDefaults() {
	setDefault(&t.Tier, TierFree)
	setDefault(&t.Profile, DefaultProfile)
	for i := range t.APIKeys {
		setDefault(&t.APIKeys[i].ID, fmt.Sprintf("key%d", i+1))
	}
}

func (v *validator) tenant(path string, t *Tenant, profiles map[string]*ClientProfile) {
	v.oneOf(path+".tier", t.Tier, TierNames...)
	if t.Profile != DefaultProfile && profiles[t.Profile] == nil {
		v.add(path+".profile", "no such client profile %q", t.Profile)
	}
	v.present(path+".api_key", t.APIKey)
	if !t.APIKey.IsSet() && len(t.APIKeys) == 0 {
		v.add(path+".api_keys", "a tenant needs at least one key (sha256, or key from the environment)")
	}
	ids := map[string]bool{}
	for i, k := range t.APIKeys {
		kp := fmt.Sprintf("%s.api_keys[%d]", path, i)
		v.keyID(kp+".id", k.ID, ids)
		switch {
		case k.SHA256 != "" && k.Key.IsSet():
			v.add(kp, "set sha256 or key, not both")
		case k.SHA256 != "":
			v.sha256Hex(kp+".sha256", k.SHA256)
		case k.Key.IsSet():
			v.present(kp+".key", k.Key)
		default:
			v.add(kp, "needs sha256 (the key's hex SHA-256) or key (\"${VAR}\")")
		}
	}
	v.tierLimits(path+".limits", &t.Limits)
}

func (v *validator) tierLimits(path string, t *TierLimits) {
	if t == nil {
		return
	}
	for name, n := range map[string]*int{"rpm": t.RPM, "burst": t.Burst, "max_concurrent_jobs": t.MaxConcurrentJobs,
		"max_retries": t.MaxRetries, "max_fallbacks": t.MaxFallbacks, "ip_rpm": t.IPRPM,
		"fingerprint_rpm": t.FingerprintRPM, "ban_after": t.BanAfter} {
		if n != nil {
			v.check(path+"."+name, *n >= 0, "must be 0 or more (got %d)", *n)
		}
	}
	for name, d := range map[string]*Duration{"ban_window": t.BanWindow, "ban_for": t.BanFor} {
		if d != nil {
			v.positive(path+"."+name, d.Duration)
		}
	}
	for i, m := range t.AllowedModels {
		v.check(fmt.Sprintf("%s.allowed_models[%d]", path, i), strings.TrimSuffix(m, "*") != "" && !strings.Contains(strings.TrimSuffix(m, "*"), "*"),
			"must be a model name, or a prefix ending in a single \"*\" (got %q)", m)
	}
}

// sha256Hex checks a hex SHA-256 digest.
func (v *validator) sha256Hex(path, s string) {
	b, err := hex.DecodeString(s)
	v.check(path, err == nil && len(b) == 32, "must be 64 hex digits, a SHA-256 (`reliapi key hash` prints one)")
}

// Digest is the key's SHA-256 in lower-case hex; "" when its variable is
// unset.
func (k TenantKey) Digest() string {
	if k.SHA256 != "" {
		return strings.ToLower(k.SHA256)
	}
	if k.Key.Value() == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(k.Key.Value()))
	return hex.EncodeToString(sum[:])
}

// keyDigests checks that no key is configured for two tenants or twice.
func (v *validator) keyDigests(tenants map[string]*Tenant) {
	seen := map[string]string{}
	names := make([]string, 0, len(tenants))
	for name := range tenants {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := tenants[name]
		if t == nil {
			continue
		}
		for i, k := range t.AllKeys() {
			d := k.Digest()
			if d == "" {
				continue
			}
			if other, dup := seen[d]; dup {
				v.add(fmt.Sprintf("tenants.%s.api_keys[%d]", name, i), "the same key is already configured at %s", other)
			}
			seen[d] = fmt.Sprintf("tenants.%s.api_keys[%d]", name, i)
		}
	}
}

// AllKeys lists the tenant's keys: APIKeys, then APIKey (as "api_key").
func (t *Tenant) AllKeys() []TenantKey {
	keys := t.APIKeys
	if t.APIKey.IsSet() {
		keys = append(slices.Clip(keys), TenantKey{ID: "api_key", Key: t.APIKey})
	}
	return keys
}

// HasAPIKeys reports whether any tenant has a key.
func (c *Config) HasAPIKeys() bool {
	for _, t := range c.Tenants {
		if t != nil && len(t.AllKeys()) > 0 {
			return true
		}
	}
	return false
}

// AddAPIKey makes key, read from the variable env, one more key of the
// tenant "default" (created on the enterprise tier if the file has no such
// tenant): the seed's single RELIAPI_API_KEY.
func (c *Config) AddAPIKey(env, key string) {
	if c.Tenants == nil {
		c.Tenants = map[string]*Tenant{}
	}
	t := c.Tenants[DefaultTenant]
	if t == nil {
		t = &Tenant{Tier: TierEnterprise}
		c.Tenants[DefaultTenant] = t
	}
	t.APIKeys = append(t.APIKeys, TenantKey{ID: strings.ToLower(env), Key: SecretFrom(env, key)})
	t.setDefaults()
}
