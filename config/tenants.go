package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// DefaultTenant is the tenant of open mode and of RELIAPI_API_KEY.
const DefaultTenant = "default"

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

// AllKeys lists the tenant's keys: APIKeys, then APIKey (as "api_key").
func (t *Tenant) AllKeys() []TenantKey {
	keys := t.APIKeys
	if t.APIKey.IsSet() {
		keys = append(slices.Clip(keys), TenantKey{ID: "api_key", Key: t.APIKey})
	}
	return keys
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
	initMap(&c.Tenants)
	t := c.Tenants[DefaultTenant]
	if t == nil {
		t = &Tenant{Tier: TierEnterprise}
		c.Tenants[DefaultTenant] = t
	}
	t.APIKeys = append(t.APIKeys, TenantKey{ID: strings.ToLower(env), Key: SecretFrom(env, key)})
	t.setDefaults()
}

// setTenantDefaults makes c.Tenants non-nil and fills in every tenant's
// defaults.
func (c *Config) setTenantDefaults() {
	initMap(&c.Tenants)
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

// tenants checks every tenant against the client profiles, and that no
// key belongs to two of them.
func (v *validator) tenants(tenants map[string]*Tenant, profiles map[string]*ClientProfile) {
	eachNamed(v, "tenants", "tenant", tenants, func(path string, t *Tenant) { v.tenant(path, t, profiles) })
	v.keyDigests(tenants)
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
