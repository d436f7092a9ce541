package breaker

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// Settings configure one target's breaker. Zero values mean the defaults.
type Settings struct {
	// Threshold is how many consecutive failures open the breaker.
	// Default 5.
	Threshold int
	// Cooldown is how long the breaker stays open before a probe goes
	// through. Default 60s.
	Cooldown time.Duration
	// ProbeLease is how long the half-open probe may take before another
	// caller may probe instead (its holder may have crashed). Set it above
	// the target's timeout. Default 30s.
	ProbeLease time.Duration
	// FailureRate, when above zero, also opens the breaker when at least
	// that share of the calls in a Window failed, once the window holds
	// MinCalls calls.
	FailureRate float64
	// Window is the failure-rate window. Default 60s.
	Window time.Duration
	// MinCalls is how many calls a window needs before its rate counts.
	// Default 20.
	MinCalls int
}

func (s Settings) withDefaults() Settings {
	if s.Threshold <= 0 {
		s.Threshold = 5
	}
	if s.Cooldown <= 0 {
		s.Cooldown = time.Minute
	}
	if s.ProbeLease <= 0 {
		s.ProbeLease = 30 * time.Second
	}
	if s.Window <= 0 {
		s.Window = time.Minute
	}
	if s.MinCalls <= 0 {
		s.MinCalls = 20
	}
	return s
}

// ttl keeps a breaker's record around long enough for any decision it
// must make, and lets records of removed targets go.
func (s Settings) ttl() int64 {
	return int64(max(2*s.Cooldown, 2*s.Window, 24*time.Hour) / time.Second)
}

// Result is what a call's outcome means to the breaker.
type Result string

// The results. Neutral is an answer that says nothing about the target's
// health, such as a 4xx: it neither counts as a failure nor resets the
// count.
const (
	Success Result = "success"
	Failure Result = "failure"
	Neutral Result = "neutral"
)

// ResultOf maps a call's error to its Result: 429, 5xx, network errors and
// timeouts are failures; no error is a success; anything else is neutral.
func ResultOf(err error) Result {
	switch reliapi.Classify(err) {
	case reliapi.ClassNone:
		return Success
	case reliapi.ClassRateLimited, reliapi.ClassServer, reliapi.ClassNetwork, reliapi.ClassTimeout:
		return Failure
	default:
		return Neutral
	}
}

// State is a breaker's state.
type State string

// The states.
const (
	Closed   State = "closed"
	Open     State = "open"
	HalfOpen State = "half_open"
)

// Breakers reads and writes the breakers of all targets in Redis.
type Breakers struct {
	rdb redis.UniversalClient
}

// New returns Breakers on rdb.
func New(rdb redis.UniversalClient) *Breakers { return &Breakers{rdb: rdb} }

// Ticket is the permission for one call; hand it back to Record.
type Ticket struct {
	target string
	gen    int64
	token  string
	// clean: admitted while closed with no failures counted.
	clean bool
	// Probe reports whether this call is the half-open probe.
	Probe bool
}

// Allow asks whether a call to target may go through. When the breaker
// refuses, the error is a *reliapi.Error with code CIRCUIT_OPEN and the
// wait in RetryAfter.
func (b *Breakers) Allow(ctx context.Context, target string, s Settings) (Ticket, error) {
	s = s.withDefaults()
	token := rand.Text()
	res, err := allowScript.Run(ctx, b.rdb, []string{key(target)},
		s.Cooldown.Milliseconds(), s.ProbeLease.Milliseconds(), token, s.ttl()).Int64Slice()
	return ticketOf(target, token, res, err)
}

// AllowIn reads target's breaker in pipeline p, sent with a command of
// the caller's in the same round trip, and the func it returns reads the
// answer once p has run: a ticket when the breaker is closed, else ok
// false, and the caller asks Allow, whose script decides an open or
// half-open breaker (its cooldown, its one probe). A closed breaker needs
// no script: admitting a call changes nothing, and one HMGET costs Redis a
// fraction of a script's run. A read that failed is ok false too: Allow
// meets the same error and the caller's policy for it.
func (b *Breakers) AllowIn(ctx context.Context, p redis.Pipeliner, target string) func() (t Ticket, ok bool) {
	cmd := p.HMGet(ctx, key(target), ReadFields...)
	return func() (Ticket, bool) {
		f, err := cmd.Result()
		if err != nil {
			return Ticket{}, false
		}
		return AllowRead(target, f)
	}
}

// ReadFields are the fields of a breaker's hash (Key) that AllowRead reads.
var ReadFields = []string{"state", "gen", "failures"}

// AllowRead is AllowIn's answer from an HMGET of ReadFields made elsewhere
// (a script's, in the round trip of the caller's command): absent fields
// are nil.
func AllowRead(target string, f []any) (t Ticket, ok bool) {
	if len(f) != len(ReadFields) || (f[0] != nil && f[0] != string(Closed)) {
		return Ticket{}, false
	}
	gen, err1 := intField(f[1])
	failures, err2 := intField(f[2])
	if err1 != nil || err2 != nil {
		return Ticket{}, false
	}
	return Ticket{target: target, gen: gen, clean: failures == 0}, true
}

// intField reads an integer field of an HMGET reply; absent is 0.
func intField(v any) (int64, error) {
	if v == nil {
		return 0, nil
	}
	s, _ := v.(string)
	return strconv.ParseInt(s, 10, 64)
}

// ticketOf reads the allow script's answer: a ticket, or CIRCUIT_OPEN.
func ticketOf(target, token string, res []int64, err error) (Ticket, error) {
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("breaker %s: %w", target, err)
	}
	t := Ticket{target: target, gen: res[2], token: token, Probe: res[0] == 1, clean: res[0] == 0 && res[3] == 0}
	if res[0] == 2 {
		wait := time.Duration(res[1]) * time.Millisecond
		return t, &reliapi.Error{
			Code:       reliapi.CodeCircuitOpen,
			Message:    fmt.Sprintf("Circuit breaker for %s is open; retry in %.1fs", target, wait.Seconds()),
			Retryable:  true,
			Source:     reliapi.SourceReliAPI,
			RetryAfter: wait,
		}
	}
	return t, nil
}

// Record reports the result of an allowed call and returns the breaker's
// state afterwards.
//
// A success admitted while the breaker was closed with no failures counted
// is not sent to Redis at all: it would change nothing, and the healthy
// path is the common one. (A failure counted by another caller meanwhile
// is then not reset by this success; among concurrent calls "consecutive"
// has no single order anyway.)
func (b *Breakers) Record(ctx context.Context, t Ticket, r Result, s Settings) (State, error) {
	s = s.withDefaults()
	if t.clean && r == Success && s.FailureRate == 0 {
		return Closed, nil
	}
	state, err := recordScript.Run(ctx, b.rdb, []string{key(t.target)},
		string(r), t.gen, t.token, s.Threshold, s.FailureRate, s.Window.Milliseconds(), s.MinCalls, s.ttl()).Text()
	if err != nil {
		return "", fmt.Errorf("breaker %s: %w", t.target, err)
	}
	return State(state), nil
}

// Status is a breaker as seen from outside.
type Status struct {
	State State
	// Failures is the current run of consecutive failures (closed).
	Failures int
	// RetryIn is how long an open breaker stays open.
	RetryIn time.Duration
}

// Statuses reads the breakers of several targets in one round trip.
func (b *Breakers) Statuses(ctx context.Context, targets []string, cooldown func(string) time.Duration) (map[string]Status, error) {
	cmds := make([]*redis.SliceCmd, len(targets))
	var timeCmd *redis.TimeCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		timeCmd = p.Time(ctx)
		for i, t := range targets {
			cmds[i] = p.HMGet(ctx, key(t), "state", "failures", "opened_at")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading breakers: %w", err)
	}
	now := timeCmd.Val()
	out := make(map[string]Status, len(targets))
	for i, t := range targets {
		v := cmds[i].Val()
		st := Status{State: Closed}
		if s, ok := v[0].(string); ok {
			st.State = State(s)
		}
		if s, ok := v[1].(string); ok {
			st.Failures, _ = strconv.Atoi(s)
		}
		if s, ok := v[2].(string); ok && st.State == Open {
			openedMS, _ := strconv.ParseInt(s, 10, 64)
			st.RetryIn = max(time.UnixMilli(openedMS).Add(cooldown(t)).Sub(now), 0)
		}
		out[t] = st
	}
	return out, nil
}
