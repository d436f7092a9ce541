package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// MaxKeyLength is the longest idempotency key accepted.
const MaxKeyLength = 255

// ErrKeyMismatch means the request named two different idempotency keys.
var ErrKeyMismatch = errors.New("idempotency keys in headers and body differ")

// Key picks the request's idempotency key from its sources: the
// Idempotency-Key header, the X-Idempotency-Key header and the body field.
// Empty sources are ignored; sources that disagree are an error, and so is a
// key that is too long or holds non-printable characters.
func Key(sources ...string) (string, error) {
	var key string
	for _, s := range sources {
		switch {
		case s == "":
		case key == "":
			key = s
		case s != key:
			return "", ErrKeyMismatch
		}
	}
	if len(key) > MaxKeyLength {
		return "", fmt.Errorf("idempotency key is longer than %d bytes", MaxKeyLength)
	}
	for _, r := range key {
		if r < 0x20 || r > 0x7e {
			return "", errors.New("idempotency key must be printable ASCII")
		}
	}
	return key, nil
}

// JobID is the ID of the job that an idempotency key names within a tenant.
func JobID(tenant, key string) string {
	sum := sha256.Sum256([]byte("idempotency\x00" + tenant + "\x00" + key))
	return "job_" + hex.EncodeToString(sum[:16])
}

// Fingerprint hashes the parts of a canonical request. Callers pass the same
// parts in the same order for the same request; a repeat of a key with
// another fingerprint is a conflict.
func Fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefix every part so that ("ab","c") and ("a","bc") differ.
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
