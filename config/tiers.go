package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reliapi/reliapi"
)

// Tiers, from the most limited to the least.
const (
	TierFree       = "free"
	TierDeveloper  = "developer"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
)

// TierNames lists the tiers in order.
var TierNames = []string{TierFree, TierDeveloper, TierPro, TierEnterprise}

// TierUnknown labels metrics of a job whose tier is not recorded (a job of
// an older build) or not one of TierNames.
const TierUnknown = "unknown"

// TierLabel is tier as a metric label: one of TierNames or TierUnknown, so
// that a label never takes more values than those.
func TierLabel(tier string) string {
	if slices.Contains(TierNames, tier) {
		return tier
	}
	return TierUnknown
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
	// Weight is the tenant's share of the workers against other tenants
	// with work ready: a tenant of weight 8 is served 8 jobs for every one
	// of a tenant of weight 1, however much either has queued.
	Weight *int `yaml:"weight"`
	// MaxPriority is the highest priority ("high", "normal", "low") the
	// tenant's calls may ask for.
	MaxPriority *reliapi.Priority `yaml:"max_priority"`
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
	Weight            int
	MaxPriority       reliapi.Priority
}

// Allows reports whether the tier lets a call ask for priority p.
func (l *Limits) Allows(p reliapi.Priority) bool { return p.Rank() >= l.MaxPriority.Rank() }

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

// maxWeight bounds a weight: a tenant's share is its weight against the
// others', and the lane's virtual clock moves by 1/weight a job.
const maxWeight = 1000

// tierDefaults are the shipped limits of each tier; `tiers` in the file
// overrides them field by field.
func tierDefaults(tier string) Limits {
	switch tier {
	case TierFree:
		return Limits{Tier: tier, RPM: 60, Burst: 10, MaxConcurrentJobs: 5, Weight: 1, MaxPriority: reliapi.PriorityNormal,
			AllowedModels: []string{"gpt-4o-mini*", "gpt-3.5-turbo*", "claude-3-haiku*", "claude-3-5-haiku*", "mistral-small*", "mistral-tiny*"},
			MaxRetries:    1, MaxFallbacks: 1, IPRPM: 20, FingerprintRPM: 20,
			BanAfter: 5, BanWindow: 10 * time.Minute, BanFor: 15 * time.Minute}
	case TierDeveloper:
		return Limits{Tier: tier, RPM: 600, Burst: 50, MaxConcurrentJobs: 50, Streaming: true, Idempotency: true,
			MaxRetries: 3, MaxFallbacks: 2, Weight: 2, MaxPriority: reliapi.PriorityHigh}
	case TierPro:
		return Limits{Tier: tier, RPM: 3000, Burst: 200, MaxConcurrentJobs: 500, Streaming: true, Idempotency: true,
			MaxRetries: 5, MaxFallbacks: 5, Weight: 4, MaxPriority: reliapi.PriorityHigh}
	}
	return Limits{Tier: TierEnterprise, Streaming: true, Idempotency: true, MaxRetries: 10, MaxFallbacks: 10,
		Weight: 8, MaxPriority: reliapi.PriorityHigh}
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
	set(&l.Weight, t.Weight)
	if t.MaxPriority != nil {
		l.MaxPriority = *t.MaxPriority
	}
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
func (c *Config) TierLimits(tier string) Limits { return tierLimits(c.Tiers, tier) }

// tierLimits is tier's limits with tiers' overrides (see Config.TierLimits).
func tierLimits(tiers map[string]*TierLimits, tier string) Limits {
	l := tierDefaults(tier)
	tiers[tier].apply(&l)
	return l
}

// TenantLimits returns a tenant's limits: its tier's, with the tenant's
// overrides applied. Open mode's tenant, and any tenant not configured,
// get the tier the caller passes (RapidAPI tenants bring their own).
func (c *Config) TenantLimits(name, tier string) Limits {
	return tenantLimits(c.Tenants, c.Tiers, name, tier)
}

// tenantLimits is a tenant's limits (see Config.TenantLimits).
func tenantLimits(tenants map[string]*Tenant, tiers map[string]*TierLimits, name, tier string) Limits {
	t := tenants[name]
	if t != nil {
		tier = t.Tier
	}
	l := tierLimits(tiers, tier)
	if t != nil {
		t.Limits.apply(&l)
	}
	return l
}

// tiers checks the overrides of the tiers' limits.
func (v *validator) tiers(tiers map[string]*TierLimits) {
	for name, t := range tiers {
		path := "tiers." + name
		v.check(path, slices.Contains(TierNames, name), "unknown tier: the tiers are %s", strings.Join(TierNames, ", "))
		v.tierLimits(path, t)
	}
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
	if t.Weight != nil {
		v.check(path+".weight", *t.Weight >= 1 && *t.Weight <= maxWeight, "must be 1 to %d (got %d)", maxWeight, *t.Weight)
	}
	if p := t.MaxPriority; p != nil {
		v.oneOf(path+".max_priority", string(*p), "high", "normal", "low")
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
