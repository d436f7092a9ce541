package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
)

// Window is one limit: at most Limit calls in any rolling Period.
type Window struct {
	// Name identifies what is counted across the fleet, such as
	// "tenant:acme:rpm".
	Name   string
	Limit  int
	Period time.Duration
	// Kind says what the window limits, for the caller's own messages;
	// the quota does not read it.
	Kind string
}

// Decision is the answer for one call.
type Decision struct {
	// Allowed is false when a window is full or a subject is banned.
	Allowed bool
	// Window is the window that refused the call, or, when it was
	// admitted, the one with the fewest calls left: what the caller's
	// X-RateLimit-* headers describe.
	Window Window
	// Remaining is how many more calls Window admits now.
	Remaining int
	// Reset is how long until Window has room again after its oldest call
	// leaves it; for a refused call, how long to wait.
	Reset time.Duration
	// Banned is the banned subject that refused the call ("" when none),
	// and BanLeft how long its ban still lasts.
	Banned  string
	BanLeft time.Duration
}

// Quota checks windows and bans in Redis.
type Quota struct{ rdb redis.UniversalClient }

// New returns a Quota on rdb.
func New(rdb redis.UniversalClient) *Quota { return &Quota{rdb: rdb} }

// Admit checks whether any of bans (subjects such as "key:ab12…" or
// "ip:203.0.113.9") is banned and admits the call into every window, in
// one round trip. A banned or refused call is counted in no window.
// Windows with a Limit of 0 or less are skipped; with nothing to check,
// Admit allows without calling Redis.
func (q *Quota) Admit(ctx context.Context, bans []string, windows ...Window) (Decision, error) {
	var ws []Window
	for _, w := range windows {
		if w.Limit > 0 && w.Period > 0 {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 && len(bans) == 0 {
		return Decision{Allowed: true}, nil
	}
	member := newMember()
	banCmds := make([]*redis.DurationCmd, len(bans))
	cmds := make([]*redis.Cmd, len(ws))
	_, err := luascript.Pipelined(ctx, q.rdb, func(p redis.Pipeliner) error {
		for i, s := range bans {
			banCmds[i] = p.PTTL(ctx, banKey(s))
		}
		for i, w := range ws {
			cmds[i] = admitScript.EvalSha(ctx, p, []string{windowKey(w.Name)}, w.Limit, w.Period.Microseconds(), member)
		}
		return nil
	})
	if err != nil {
		q.takeBack(context.WithoutCancel(ctx), ws, member)
		return Decision{}, fmt.Errorf("quota: %w", err)
	}

	d := Decision{Allowed: true, Remaining: -1}
	for i, c := range banCmds {
		if left := c.Val(); left > 0 && left > d.BanLeft {
			d.Allowed, d.Banned, d.BanLeft = false, bans[i], left
		}
	}
	for i, c := range cmds {
		vals, err := c.Int64Slice()
		if err != nil || len(vals) != 3 {
			q.takeBack(context.WithoutCancel(ctx), ws, member)
			return Decision{}, fmt.Errorf("quota: window %s: unexpected answer %v (%v)", ws[i].Name, c.Val(), err)
		}
		w, admitted, remaining, reset := ws[i], vals[0] == 1, ws[i].Limit-int(vals[1]), time.Duration(vals[2])*time.Microsecond
		switch {
		case !admitted:
			if d.Banned == "" && (d.Allowed || reset > d.Reset) {
				d.Allowed, d.Window, d.Remaining, d.Reset = false, w, 0, reset
			}
		case d.Allowed && (d.Remaining < 0 || remaining < d.Remaining):
			d.Window, d.Remaining, d.Reset = w, remaining, reset
		}
	}
	if d.Remaining < 0 {
		d.Remaining = 0
	}
	if !d.Allowed {
		if err := q.takeBack(context.WithoutCancel(ctx), ws, member); err != nil {
			return d, err
		}
	}
	return d, nil
}

// takeBack removes a call from every window.
func (q *Quota) takeBack(ctx context.Context, ws []Window, member string) error {
	if len(ws) == 0 {
		return nil
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, w := range ws {
			p.ZRem(ctx, windowKey(w.Name), member)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quota: taking a refused call back: %w", err)
	}
	return nil
}

// Violation counts one refusal of subject; the threshold-th within window
// bans it for banFor and reports true.
func (q *Quota) Violation(ctx context.Context, subject string, threshold int, window, banFor time.Duration) (bool, error) {
	if threshold <= 0 || window <= 0 || banFor <= 0 {
		return false, errors.New("quota: a ban needs a threshold, a window and a duration")
	}
	n, err := violationScript.Run(ctx, q.rdb, []string{violationKey(subject), banKey(subject)},
		threshold, window.Milliseconds(), banFor.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("quota: %w", err)
	}
	return n == 1, nil
}

// newMember names one call in the windows: random, so that two calls
// never collide, whatever request IDs clients send.
func newMember() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
