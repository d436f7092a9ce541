package config

import (
	"fmt"
	"strings"
)

// KeyPool is a group of API keys for one provider (seed §14). A pool serves
// every target whose llm.provider, or else whose name, equals the pool's
// name; its keys replace the target's auth secret.
type KeyPool struct {
	// Keys are tried least-loaded first. At least one.
	Keys []PoolKey `yaml:"keys"`
	// MaxKeySwitches is how many times one call may move to another key
	// after a 429, 401 or 403. Default 3.
	MaxKeySwitches int `yaml:"max_key_switches"`
	// CooldownS is how long a key rests after a 429 that carries no
	// Retry-After. Default 5.
	CooldownS float64 `yaml:"cooldown_s"`
	// QuarantineProbeS, when set, lets one call try a key quarantined by a
	// 401 or 403 after that many seconds; its success brings the key back.
	// Default 0: a quarantined key stays out until an operator re-enables
	// it (POST /v1/targets/{target}/keys/{id}/enable).
	QuarantineProbeS int `yaml:"quarantine_probe_s"`
}

// PoolKey is one key of a pool.
type PoolKey struct {
	// ID names the key in logs, metrics and the API; the secret never
	// appears there. Required, unique within the pool.
	ID string `yaml:"id"`
	// APIKey is the secret: "env:VAR" reads it from the environment (the
	// seed's form), or a ${VAR} reference expanded at load. Required.
	APIKey string `yaml:"api_key"`
	// QPSLimit caps calls per second with this key. Default 0: no cap.
	QPSLimit float64 `yaml:"qps_limit"`
	// RateLimit, when set, replaces QPSLimit.
	RateLimit *KeyRateLimit `yaml:"rate_limit,omitempty"`
}

// KeyRateLimit is a key's rate in the seed's long form.
type KeyRateLimit struct {
	// MaxQPS is calls per second. Required, > 0.
	MaxQPS float64 `yaml:"max_qps"`
	// BurstSize is how many calls may go at once above the steady rate.
	// Default 5.
	BurstSize int `yaml:"burst_size"`
	// MaxConcurrent is how many calls may use the key at the same time.
	// Default 2.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// Rate returns the key's calls per second (0: unlimited), its burst and its
// concurrency limit (0: unlimited).
func (k PoolKey) Rate() (qps float64, burst, concurrent int) {
	if r := k.RateLimit; r != nil {
		return r.MaxQPS, r.BurstSize, r.MaxConcurrent
	}
	return k.QPSLimit, 1, 0
}

// Secret returns the key's secret, reading "env:VAR" from getenv. An unset
// variable is an error naming it (never the secret).
func (k PoolKey) Secret(getenv func(string) string) (string, error) {
	name, fromEnv := strings.CutPrefix(k.APIKey, "env:")
	if !fromEnv {
		return k.APIKey, nil
	}
	if v := getenv(name); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("key %s: environment variable %s is not set", k.ID, name)
}

// PoolFor returns the key pool serving target, if any: the pool named by
// its llm.provider, or else by the target's own name.
func (c *Config) PoolFor(target string) (string, *KeyPool) {
	return poolFor(c.Targets, c.ProviderKeyPools, target)
}

// poolFor finds target's pool among pools (see Config.PoolFor).
func poolFor(targets map[string]*Target, pools map[string]*KeyPool, target string) (string, *KeyPool) {
	t := targets[target]
	if t == nil {
		return "", nil
	}
	name := target
	if p := t.Provider(); p != "" {
		name = p
	}
	if p := pools[name]; p != nil {
		return name, p
	}
	return "", nil
}

// setPoolDefaults makes c.ProviderKeyPools non-nil and fills in every
// pool's defaults.
func (c *Config) setPoolDefaults() {
	initMap(&c.ProviderKeyPools)
	for name, p := range c.ProviderKeyPools {
		if p == nil {
			p = &KeyPool{}
			c.ProviderKeyPools[name] = p
		}
		p.setDefaults()
	}
}

func (p *KeyPool) setDefaults() {
	setDefault(&p.MaxKeySwitches, 3)
	setDefault(&p.CooldownS, 5)
	for i := range p.Keys {
		if r := p.Keys[i].RateLimit; r != nil {
			setDefault(&r.BurstSize, 5)
			setDefault(&r.MaxConcurrent, 2)
		}
	}
}

// keyPools checks every provider key pool.
func (v *validator) keyPools(pools map[string]*KeyPool) {
	for name, p := range pools {
		v.keyPool("provider_key_pools."+name, p)
	}
}

func (v *validator) keyPool(path string, p *KeyPool) {
	v.check(path+".keys", len(p.Keys) > 0, "a pool needs at least one key")
	v.check(path+".max_key_switches", p.MaxKeySwitches >= 0, "must be 0 or more (got %d)", p.MaxKeySwitches)
	v.check(path+".cooldown_s", p.CooldownS > 0, "must be > 0 (got %g)", p.CooldownS)
	v.check(path+".quarantine_probe_s", p.QuarantineProbeS >= 0, "must be 0 (off) or more (got %d)", p.QuarantineProbeS)
	seen := map[string]bool{}
	for i, k := range p.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", path, i)
		v.keyID(kp+".id", k.ID, seen)
		v.check(kp+".api_key", k.APIKey != "" && k.APIKey != "env:", "is required (\"env:VAR\")")
		v.check(kp+".qps_limit", k.QPSLimit >= 0, "must be 0 (none) or more (got %g)", k.QPSLimit)
		if r := k.RateLimit; r != nil {
			v.check(kp+".rate_limit.max_qps", r.MaxQPS > 0, "must be > 0 (got %g)", r.MaxQPS)
			v.check(kp+".rate_limit.burst_size", r.BurstSize > 0, "must be > 0 (got %d)", r.BurstSize)
			v.check(kp+".rate_limit.max_concurrent", r.MaxConcurrent > 0, "must be > 0 (got %d)", r.MaxConcurrent)
		}
	}
}
