// Package webhook is both ends of ReliAPI's webhooks: signing deliveries
// per Standard Webhooks v1 (standardwebhooks.com), verifying them (for
// receivers: import this package, or run `reliapi webhook verify`), and
// the guard that keeps deliveries away from private networks.
//
// A delivery carries three headers: webhook-id (the message's ID, the same
// on every attempt), webhook-timestamp (Unix seconds of this attempt) and
// webhook-signature, one "v1,<base64 HMAC-SHA256 of id.timestamp.body>"
// per active secret, space-separated, so receivers keep verifying while a
// secret is rotated.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a delivery's timestamp may be from the receiver's
// clock, either way, for Verify to accept it.
const Tolerance = 5 * time.Minute

// secretPrefix marks a Standard Webhooks secret: "whsec_" and the key in
// base64.
const secretPrefix = "whsec_"

// Secret is a signing key.
type Secret struct{ key []byte }

// ParseSecret reads "whsec_<base64 key>" (the prefix may be left out). The
// key must be 24 to 64 bytes, as Standard Webhooks recommends.
func ParseSecret(s string) (Secret, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
	if err != nil {
		return Secret{}, errors.New("webhook secret: not whsec_ followed by base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return Secret{}, fmt.Errorf("webhook secret: the key is %d bytes, want 24 to 64", len(key))
	}
	return Secret{key: key}, nil
}

// String hides the key, so a Secret never ends up in a log by accident.
func (Secret) String() string { return "whsec_…" }

// sign is one v1 signature of a message.
func (s Secret) sign(id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sign sets the headers of one delivery attempt of message id, sent at ts,
// with one signature per secret.
func Sign(h http.Header, secrets []Secret, id string, ts time.Time, body []byte) {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = s.sign(id, ts.Unix(), body)
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

// Errors from Verify.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance (replayed, or a clock is off)")
	ErrSignature      = errors.New("webhook: no signature matches")
)

// Verify checks a delivery received at now: its timestamp is within
// Tolerance, and one of its signatures is a secret's signature of the
// body. Any of several secrets may match (during a rotation).
func Verify(h http.Header, body []byte, secrets []Secret, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	for _, s := range secrets {
		want := s.sign(id, ts, body)
		for got := range strings.FieldsSeq(sigs) {
			if hmac.Equal([]byte(got), []byte(want)) {
				return nil
			}
		}
	}
	return ErrSignature
}
