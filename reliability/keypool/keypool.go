package keypool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key is one key of a pool as the pool sees it: no secret.
type Key struct {
	ID string
	// MaxConcurrent caps calls in flight with the key; 0: no cap.
	MaxConcurrent int
}

// Settings configure a pool.
type Settings struct {
	// Lease is how long a call may hold a key before its lease lapses by
	// itself. Set it above the call's timeout. Default 1m.
	Lease time.Duration
	// Cooldown rests a key after a 429 without Retry-After. Default 5s.
	Cooldown time.Duration
	// QuarantineProbe, when set, lets one call test a quarantined key after
	// that long. Default 0: quarantined until re-enabled.
	QuarantineProbe time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.Lease <= 0 {
		s.Lease = time.Minute
	}
	if s.Cooldown <= 0 {
		s.Cooldown = 5 * time.Second
	}
	return s
}

// Pool is one provider's keys, with their shared state in Redis.
type Pool struct {
	rdb  redis.UniversalClient
	name string
	keys []Key
	s    Settings
}

// New returns the pool name with keys, in configuration order.
func New(rdb redis.UniversalClient, name string, keys []Key, s Settings) *Pool {
	return &Pool{rdb: rdb, name: name, keys: keys, s: s.withDefaults()}
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Lease is one call's hold on a key.
type Lease struct {
	// KeyID is the key to use.
	KeyID string
	// Probe reports that the key is quarantined and this call tests it.
	Probe bool
	token string
}

// ErrNoKey means no key can take a call now. Wait (on *NoKeyError) says
// when one can.
var ErrNoKey = errors.New("no usable key")

// NoKeyError is ErrNoKey with the wait.
type NoKeyError struct {
	// Wait is how long until a resting key is usable again; 0 when keys
	// are only busy (at their concurrency limit) and may free up at any
	// moment.
	Wait time.Duration
	// Quarantined reports that every key left is quarantined: waiting does
	// not help.
	Quarantined bool
}

func (e *NoKeyError) Error() string {
	if e.Quarantined {
		return "every key of the pool is quarantined"
	}
	return fmt.Sprintf("no usable key for %v", e.Wait)
}

func (e *NoKeyError) Unwrap() error { return ErrNoKey }

// Pick leases the least-loaded usable key, skipping the ids in exclude.
func (p *Pool) Pick(ctx context.Context, exclude ...string) (Lease, error) {
	keys := make([]string, 0, len(p.keys)+1)
	keys = append(keys, stateKey(p.name))
	args := []any{p.s.Lease.Milliseconds(), rand.Text(), "," + strings.Join(exclude, ",,") + ","}
	for _, k := range p.keys {
		keys = append(keys, leasesKey(p.name, k.ID))
		args = append(args, k.ID, k.MaxConcurrent)
	}
	res, err := pickScript.Run(ctx, p.rdb, keys, args...).Slice()
	if err != nil || len(res) != 3 && len(res) != 2 {
		return Lease{}, fmt.Errorf("key pool %s: %v %w", p.name, res, err)
	}
	if res[0] == "none" {
		ms, _ := res[1].(int64)
		if ms < 0 {
			return Lease{}, &NoKeyError{Quarantined: true}
		}
		return Lease{}, &NoKeyError{Wait: time.Duration(ms) * time.Millisecond}
	}
	id, _ := res[1].(string)
	probe, _ := res[2].(int64)
	return Lease{KeyID: id, Probe: probe == 1, token: args[1].(string)}, nil
}

// Outcome is what a call with a key says about the key.
type Outcome string

// The outcomes.
const (
	OK           Outcome = "ok"           // the key works (any answer but the ones below)
	Failed       Outcome = "error"        // 5xx, network: not the key's fault, but counted
	RateLimited  Outcome = "rate_limited" // 429: rest the key
	Exhausted    Outcome = "exhausted"    // a good answer whose rate-limit headers say the key's window is used up: rest it, not counted as an error
	Unauthorized Outcome = "unauthorized" // 401 or 403: quarantine the key
	Unused       Outcome = "unused"       // no call was made with the lease
)

// Status is a key's state: "active", "cooling" or "quarantined".
type Status string

// The statuses.
const (
	Active      Status = "active"
	Cooling     Status = "cooling"
	Quarantined Status = "quarantined"
)

// Release ends a lease with its call's outcome; for RateLimited and
// Exhausted, retryAfter (a 429's Retry-After, the window's reset) sets how
// long the key rests, else the pool's cooldown. It returns the
// key's status afterwards.
func (p *Pool) Release(ctx context.Context, l Lease, o Outcome, retryAfter time.Duration) (Status, error) {
	rest := p.s.Cooldown
	if retryAfter > 0 {
		rest = retryAfter
	}
	st, err := releaseScript.Run(ctx, p.rdb, []string{stateKey(p.name), leasesKey(p.name, l.KeyID)},
		l.KeyID, l.token, string(o), rest.Milliseconds(), p.s.QuarantineProbe.Milliseconds()).Text()
	if err != nil {
		return "", fmt.Errorf("key pool %s: releasing %s: %w", p.name, l.KeyID, err)
	}
	return Status(st), nil
}

// Enable brings a key back into use (after an operator fixed it).
func (p *Pool) Enable(ctx context.Context, id string) error {
	if !p.Has(id) {
		return fmt.Errorf("key pool %s: no key %q", p.name, id)
	}
	return p.rdb.HDel(ctx, stateKey(p.name), id+":status", id+":until").Err()
}

// Has reports whether the pool has a key with that id.
func (p *Pool) Has(id string) bool {
	for _, k := range p.keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

// KeyStatus is a key as operators see it.
type KeyStatus struct {
	ID     string
	Status Status
	// RestsFor is how long a cooling or probing key stays out; 0 for an
	// active key or one quarantined until re-enabled.
	RestsFor time.Duration
	// InFlight counts the key's leases.
	InFlight int
	// ErrorRate is the recent share of failed calls, 0 to 1.
	ErrorRate float64
}

// Statuses reads every key's state in one round trip.
func (p *Pool) Statuses(ctx context.Context) ([]KeyStatus, error) {
	var (
		state  *redis.MapStringStringCmd
		now    *redis.TimeCmd
		leases = make([]*redis.IntCmd, len(p.keys))
	)
	_, err := p.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		now = pl.Time(ctx)
		state = pl.HGetAll(ctx, stateKey(p.name))
		for i, k := range p.keys {
			leases[i] = pl.ZCount(ctx, leasesKey(p.name, k.ID), "("+strconv.FormatInt(time.Now().UnixMilli(), 10), "+inf")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("key pool %s: %w", p.name, err)
	}
	f := state.Val()
	out := make([]KeyStatus, len(p.keys))
	for i, k := range p.keys {
		ks := KeyStatus{ID: k.ID, Status: Active, InFlight: int(leases[i].Val())}
		errs, _ := strconv.Atoi(f[k.ID+":errors"])
		ks.ErrorRate = float64(errs) / 1000
		untilMs, _ := strconv.ParseInt(f[k.ID+":until"], 10, 64)
		rest := time.UnixMilli(untilMs).Sub(now.Val())
		switch st := Status(f[k.ID+":status"]); {
		case st == Quarantined && untilMs == 0:
			ks.Status = Quarantined
		case (st == Cooling || st == Quarantined) && rest > 0:
			ks.Status, ks.RestsFor = st, rest
		}
		out[i] = ks
	}
	return out, nil
}
