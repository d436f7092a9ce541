package rapidapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// TierOf maps an X-RapidAPI-Subscription plan to a tier, as the seed did:
// basic and free → free, pro and developer → developer, ultra and mega →
// pro, enterprise → enterprise. Any other plan name is not known (false),
// and maps to free.
func TierOf(subscription string) (tier string, known bool) {
	switch strings.ToLower(strings.TrimSpace(subscription)) {
	case "basic", "free":
		return "free", true
	case "pro", "developer":
		return "developer", true
	case "ultra", "mega":
		return "pro", true
	case "enterprise":
		return "enterprise", true
	}
	return "free", false
}

// validUser is what a RapidAPI user name may be: it becomes part of the
// tenant name and of Redis keys.
var validUser = regexp.MustCompile(`^[A-Za-z0-9_.@+-]{1,128}$`)

// ValidUser reports whether user can name a tenant.
func ValidUser(user string) bool { return validUser.MatchString(user) }

// Tenant is the tenant name of a RapidAPI user.
func Tenant(user string) string { return "rapidapi:" + user }

// VerifySignature checks X-RapidAPI-Signature: the hex HMAC-SHA256 of the
// raw body under the webhook secret, compared in constant time.
func VerifySignature(secret string, body []byte, signature string) bool {
	want, err := hex.DecodeString(strings.TrimSpace(signature))
	if err != nil || secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

// Sign is VerifySignature's counterpart, for tests and senders.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Subscriber is what is known of a RapidAPI user.
type Subscriber struct {
	User      string
	Tier      string // "" when no webhook has set one
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store keeps subscribers, their usage and seen webhook events in Redis.
type Store struct{ rdb redis.UniversalClient }

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

func subscriberKey(user string) string { return "reliapi:rapidapi:{" + user + "}" }
func usageKey(user, month string) string {
	return "reliapi:rapidapi:{" + user + "}:usage:" + month
}
func eventKey(id string) string { return "reliapi:rapidapi:event:{" + id + "}" }

// subscriberTTL is how long a subscriber nobody hears of is kept.
const subscriberTTL = 365 * 24 * time.Hour

// Touch records a call of user, in one round trip: it creates the user's
// record on first use, counts the call in this month's usage and returns
// the tier a webhook set ("" when none).
func (s *Store) Touch(ctx context.Context, user string) (tier string, err error) {
	now := time.Now()
	stamp := now.UTC().Format(time.RFC3339)
	usage := usageKey(user, month(now))
	var get *redis.StringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, subscriberKey(user), "created_at", stamp)
		p.HSetNX(ctx, subscriberKey(user), "updated_at", stamp)
		p.Expire(ctx, subscriberKey(user), subscriberTTL)
		get = p.HGet(ctx, subscriberKey(user), "tier")
		p.Incr(ctx, usage)
		p.Expire(ctx, usage, 40*24*time.Hour)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("rapidapi: %w", err)
	}
	return get.Val(), nil
}

// SetTier records user's tier, creating the record if needed.
func (s *Store) SetTier(ctx context.Context, user, tier string) error {
	now := time.Now().UTC().Format(time.RFC3339)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, subscriberKey(user), "created_at", now)
		p.HSet(ctx, subscriberKey(user), "tier", tier, "updated_at", now)
		p.Expire(ctx, subscriberKey(user), subscriberTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rapidapi: %w", err)
	}
	return nil
}

// Delete forgets user (a cancelled subscription); its usage stays until
// it expires.
func (s *Store) Delete(ctx context.Context, user string) error {
	if err := s.rdb.Del(ctx, subscriberKey(user)).Err(); err != nil {
		return fmt.Errorf("rapidapi: %w", err)
	}
	return nil
}

// Get returns user's record; ok is false when there is none.
func (s *Store) Get(ctx context.Context, user string) (sub Subscriber, ok bool, err error) {
	f, err := s.rdb.HGetAll(ctx, subscriberKey(user)).Result()
	if err != nil {
		return sub, false, fmt.Errorf("rapidapi: %w", err)
	}
	if len(f) == 0 {
		return sub, false, nil
	}
	sub = Subscriber{User: user, Tier: f["tier"]}
	sub.CreatedAt, _ = time.Parse(time.RFC3339, f["created_at"])
	sub.UpdatedAt, _ = time.Parse(time.RFC3339, f["updated_at"])
	return sub, true, nil
}

// month is the usage period of t: its UTC calendar month.
func month(t time.Time) string { return t.UTC().Format("2006-01") }

// Usage is user's call count this month.
func (s *Store) Usage(ctx context.Context, user string) (int64, error) {
	n, err := s.rdb.Get(ctx, usageKey(user, month(time.Now()))).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rapidapi: %w", err)
	}
	return n, nil
}

// FirstSeen marks webhook event id as seen and reports whether this is
// its first delivery; marks last a day. Forget undoes it, for an event
// whose processing failed and may be sent again.
func (s *Store) FirstSeen(ctx context.Context, id string) (bool, error) {
	first, err := s.rdb.SetNX(ctx, eventKey(id), "1", 24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("rapidapi: %w", err)
	}
	return first, nil
}

// Forget unmarks event id.
func (s *Store) Forget(ctx context.Context, id string) error {
	return s.rdb.Del(ctx, eventKey(id)).Err()
}
