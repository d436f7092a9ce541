package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/breaker"
)

const hashKey = "reliapi:breaker:{t}"

var settings = breaker.Settings{Threshold: 3, Cooldown: 10 * time.Second, ProbeLease: 5 * time.Second}

// travel moves the breaker's clock: it shifts every stored timestamp back
// by d, which is what d passing looks like to the scripts (they read Redis
// TIME and compare it with these fields).
func travel(t *testing.T, rdb *redis.Client, d time.Duration) {
	t.Helper()
	for _, f := range []string{"opened_at", "probe_until", "win_start"} {
		v, err := rdb.HGet(t.Context(), hashKey, f).Int64()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		rdb.HSet(t.Context(), hashKey, f, strconv.FormatInt(v-d.Milliseconds(), 10))
	}
}

// step is one action of a scenario and what it must observe.
type step struct {
	do string // "allow", "success", "failure", "neutral" (a call: allow + record), "travel", "stale-failure"
	d  time.Duration
	// want is, for calls, "closed" / "open" / "half_open" after the call,
	// or "refused"; for allow, "allowed", "probe" or "refused".
	want string
}

func TestStateMachine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		s     breaker.Settings
		steps []step
	}{
		{"failures below the threshold keep it closed", settings, []step{
			{do: "failure", want: "closed"}, {do: "failure", want: "closed"}, {do: "allow", want: "allowed"},
		}},
		{"a success after a failure closes the count", settings, []step{
			{do: "failure", want: "closed"}, {do: "success", want: "closed"},
		}},
		{"the threshold opens it", settings, []step{
			{do: "failure", want: "closed"}, {do: "failure", want: "closed"}, {do: "failure", want: "open"},
			{do: "allow", want: "refused"},
		}},
		{"a success resets the count", settings, []step{
			{do: "failure", want: "closed"}, {do: "failure", want: "closed"}, {do: "success", want: "closed"},
			{do: "failure", want: "closed"}, {do: "failure", want: "closed"}, {do: "allow", want: "allowed"},
		}},
		{"a neutral answer neither counts nor resets", settings, []step{
			{do: "failure", want: "closed"}, {do: "neutral", want: "closed"}, {do: "failure", want: "closed"},
			{do: "failure", want: "open"},
		}},
		{"still open before the cooldown ends", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 9 * time.Second}, {do: "allow", want: "refused"},
		}},
		{"one probe after the cooldown, its success closes", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 10 * time.Second}, {do: "success", want: "closed"}, {do: "allow", want: "allowed"},
		}},
		{"only one probe at a time", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 10 * time.Second}, {do: "allow", want: "probe"}, {do: "allow", want: "refused"},
		}},
		{"a failed probe re-opens for a full cooldown", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 10 * time.Second}, {do: "failure", want: "open"},
			{do: "travel", d: 9 * time.Second}, {do: "allow", want: "refused"},
			{do: "travel", d: time.Second}, {do: "allow", want: "probe"},
		}},
		{"a probe that learned nothing passes the probe on", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 10 * time.Second}, {do: "neutral", want: "half_open"},
			{do: "allow", want: "probe"},
		}},
		{"an abandoned probe lease passes to the next caller", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 10 * time.Second}, {do: "allow", want: "probe"},
			{do: "travel", d: 5 * time.Second}, {do: "allow", want: "probe"},
		}},
		{"a result from before the breaker opened is ignored", settings, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "open"},
			{do: "travel", d: 10 * time.Second}, {do: "success", want: "closed"},
			// Admitted in the first closed period, answered now: not counted.
			{do: "stale-failure"}, {do: "failure", want: "closed"}, {do: "failure", want: "closed"},
			{do: "failure", want: "open"},
		}},
		{"failure rate opens once the window has enough calls", breaker.Settings{Threshold: 100, Cooldown: time.Minute, FailureRate: 0.5, Window: time.Minute, MinCalls: 4}, []step{
			{do: "failure", want: "closed"}, {do: "success", want: "closed"}, {do: "failure", want: "closed"},
			{do: "success", want: "open"},
		}},
		{"the failure-rate window starts over", breaker.Settings{Threshold: 100, Cooldown: time.Minute, FailureRate: 0.5, Window: time.Minute, MinCalls: 4}, []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", want: "closed"},
			{do: "travel", d: time.Minute}, {do: "success", want: "closed"}, {do: "failure", want: "closed"},
			{do: "success", want: "closed"}, {do: "success", want: "closed"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb := testenv.StartRedis(t).Client(t)
			b := breaker.New(rdb)
			ctx := t.Context()
			// A ticket taken before everything else: its result arrives late.
			stale, err := b.Allow(ctx, "t", tt.s)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				var got string
				switch st.do {
				case "travel":
					travel(t, rdb, st.d)
					continue
				case "allow":
					tk, err := b.Allow(ctx, "t", tt.s)
					got = allowed(tk, err)
				case "stale-failure":
					if _, err := b.Record(ctx, stale, breaker.Failure, tt.s); err != nil {
						t.Fatal(err)
					}
					continue
				default:
					tk, err := b.Allow(ctx, "t", tt.s)
					if err != nil {
						got = allowed(tk, err)
						break
					}
					state, err := b.Record(ctx, tk, breaker.Result(st.do), tt.s)
					if err != nil {
						t.Fatal(err)
					}
					got = string(state)
				}
				if st.want != "" && got != st.want {
					t.Fatalf("step %d (%s): got %s, want %s", i, st.do, got, st.want)
				}
			}
			// A record that exists always expires, so that those of removed
			// targets go.
			if ttl, err := rdb.PTTL(ctx, hashKey).Result(); err != nil || ttl == -1 {
				t.Fatalf("the breaker's record has no expiry: PTTL %v, %v", ttl, err)
			}
		})
	}
}

func allowed(t breaker.Ticket, err error) string {
	switch {
	case err != nil:
		return "refused"
	case t.Probe:
		return "probe"
	default:
		return "allowed"
	}
}

func TestRefusalCarriesTheWait(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	b := breaker.New(rdb)
	for range 3 {
		tk, _ := b.Allow(t.Context(), "t", settings)
		b.Record(t.Context(), tk, breaker.Failure, settings)
	}
	travel(t, rdb, 4*time.Second)
	_, err := b.Allow(t.Context(), "t", settings)
	var e *reliapi.Error
	if !errors.As(err, &e) || e.Code != reliapi.CodeCircuitOpen || reliapi.Classify(err) != reliapi.ClassBreakerOpen {
		t.Fatalf("err = %v", err)
	}
	if e.RetryAfter < 5500*time.Millisecond || e.RetryAfter > 6*time.Second {
		t.Fatalf("RetryAfter = %v, want the 6s left of the cooldown", e.RetryAfter)
	}
	st, err := b.Statuses(t.Context(), []string{"t", "other"}, func(string) time.Duration { return settings.Cooldown })
	if err != nil || st["t"].State != breaker.Open || st["other"].State != breaker.Closed ||
		st["t"].RetryIn < 5500*time.Millisecond || st["t"].RetryIn > 6*time.Second {
		t.Fatalf("Statuses = %+v, %v", st, err)
	}
}

// TestAllowInReadsAClosedBreaker: AllowIn admits through a closed breaker
// with a ticket Record counts as Allow's would (failures counted under its
// generation, a success after a failure resetting them), and admits
// nothing through an open one.
func TestAllowInReadsAClosedBreaker(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	b := breaker.New(rdb)
	allowIn := func() (breaker.Ticket, bool) {
		var read func() (breaker.Ticket, bool)
		if _, err := rdb.Pipelined(t.Context(), func(p redis.Pipeliner) error {
			read = b.AllowIn(t.Context(), p, "t")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return read()
	}
	record := func(tk breaker.Ticket, r breaker.Result) breaker.State {
		st, err := b.Record(t.Context(), tk, r, settings)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	failures := func() string { return rdb.HGet(t.Context(), hashKey, "failures").Val() }

	tk, ok := allowIn()
	if !ok || tk.Probe {
		t.Fatalf("a new breaker: %+v %v, want admitted", tk, ok)
	}
	if st := record(tk, breaker.Failure); st != breaker.Closed || failures() != "1" {
		t.Fatalf("one failure: %s, failures %q", st, failures())
	}
	tk, ok = allowIn()
	if !ok {
		t.Fatal("one failure below the threshold: not admitted")
	}
	if st := record(tk, breaker.Success); st != breaker.Closed || failures() != "0" {
		t.Fatalf("a success after a failure: %s, failures %q, want 0", st, failures())
	}
	for range settings.Threshold {
		tk, _ := allowIn()
		record(tk, breaker.Failure)
	}
	if tk, ok := allowIn(); ok {
		t.Fatalf("an open breaker admitted %+v", tk)
	}
	if _, err := b.Allow(t.Context(), "t", settings); reliapi.Classify(err) != reliapi.ClassBreakerOpen {
		t.Fatalf("Allow after the threshold: %v, want CIRCUIT_OPEN", err)
	}
}

// TestOneProbeAmongManyCallers races 50 callers (as from many workers) at
// a breaker whose cooldown is over: exactly one becomes the probe.
func TestOneProbeAmongManyCallers(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	b := breaker.New(rdb)
	for range 3 {
		tk, _ := b.Allow(t.Context(), "t", settings)
		b.Record(t.Context(), tk, breaker.Failure, settings)
	}
	travel(t, rdb, settings.Cooldown)
	var probes sync.WaitGroup
	results := make(chan string, 50)
	for range 50 {
		probes.Go(func() {
			// Each caller its own client, like separate workers.
			c := redis.NewClient(&redis.Options{Addr: r.Addr})
			defer c.Close()
			tk, err := breaker.New(c).Allow(context.Background(), "t", settings)
			results <- allowed(tk, err)
		})
	}
	probes.Wait()
	close(results)
	count := map[string]int{}
	for r := range results {
		count[r]++
	}
	if count["probe"] != 1 || count["refused"] != 49 {
		t.Fatalf("outcomes = %v, want one probe and 49 refusals", count)
	}
}

func TestResultOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want breaker.Result
	}{
		{nil, breaker.Success},
		{&reliapi.Error{Code: reliapi.CodeServerError, UpstreamStatus: 502}, breaker.Failure},
		{&reliapi.Error{Code: reliapi.CodeClientError, UpstreamStatus: 429}, breaker.Failure},
		{&reliapi.Error{Code: reliapi.CodeNetworkError}, breaker.Failure},
		{&reliapi.Error{Code: reliapi.CodeTimeout}, breaker.Failure},
		{&reliapi.Error{Code: reliapi.CodeResultTooLarge}, breaker.Neutral},
		{context.Canceled, breaker.Neutral},
	}
	for _, tt := range tests {
		if got := breaker.ResultOf(tt.err); got != tt.want {
			t.Errorf("ResultOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func ExampleBreakers() {
	rdb, stop, err := testenv.ExampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	b := breaker.New(rdb)
	s := breaker.Settings{Threshold: 2, Cooldown: time.Minute}
	ctx := context.Background()
	for range 2 {
		ticket, _ := b.Allow(ctx, "payments", s)
		state, _ := b.Record(ctx, ticket, breaker.Failure, s)
		fmt.Println(state)
	}
	_, err = b.Allow(ctx, "payments", s)
	fmt.Println(reliapi.Classify(err))
	// Output:
	// closed
	// open
	// circuit_open
}
