package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// Authentication modes.
const (
	// AuthKeys requires every call to present a tenant's API key.
	AuthKeys = "keys"
	// AuthOpen lets every caller in as tenant "default" on the enterprise
	// tier. Only `reliapi dev` runs with it.
	AuthOpen = "open"
)

// ClientAuth says who may call the api.
type ClientAuth struct {
	// Mode is "keys" (every call presents a tenant's API key in X-API-Key
	// or Authorization: Bearer) or "open" (no keys: every caller is the
	// tenant "default" on the enterprise tier; only `reliapi dev` accepts
	// it). Default "keys".
	Mode string `yaml:"mode"`
	// AdminKey, from the environment ("${RELIAPI_ADMIN_KEY}"), is the key
	// of the admin routes (re-enabling a pool key) and of /metrics. Without
	// one, /metrics is open and the admin routes are refused (in open mode
	// both are open).
	AdminKey Secret `yaml:"admin_key"`
	// AdminKeySHA256 is the admin key's hex SHA-256, instead of AdminKey.
	AdminKeySHA256 string `yaml:"admin_key_sha256"`
}

// HasAdminKey reports whether an admin key guards the admin routes.
func (a ClientAuth) HasAdminKey() bool {
	return a.AdminKey.Value() != "" || a.AdminKeySHA256 != ""
}

// AdminDigest is the admin key's SHA-256; ok is false without an admin
// key.
func (a ClientAuth) AdminDigest() (d [sha256.Size]byte, ok bool) {
	switch {
	case a.AdminKey.Value() != "":
		return sha256.Sum256([]byte(a.AdminKey.Value())), true
	case a.AdminKeySHA256 != "":
		b, err := hex.DecodeString(a.AdminKeySHA256)
		if err == nil && len(b) == sha256.Size {
			return [sha256.Size]byte(b), true
		}
	}
	return d, false
}

// IsAdminKey reports whether key is the admin key, comparing SHA-256
// digests in constant time; false when there is no admin key.
func (a ClientAuth) IsAdminKey(key string) bool {
	want, ok := a.AdminDigest()
	got := sha256.Sum256([]byte(key))
	return ok && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (a *ClientAuth) setDefaults() {
	setDefault(&a.Mode, AuthKeys)
}

func (v *validator) clientAuth(a ClientAuth) {
	v.oneOf("auth.mode", a.Mode, AuthKeys, AuthOpen)
	v.present("auth.admin_key", a.AdminKey)
	if a.AdminKeySHA256 != "" {
		v.sha256Hex("auth.admin_key_sha256", a.AdminKeySHA256)
		v.check("auth.admin_key_sha256", !a.AdminKey.IsSet(), "set admin_key or admin_key_sha256, not both")
	}
}
