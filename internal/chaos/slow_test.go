package chaos_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// slowSyncTimeout is the slow-Redis fleet's server.sync_timeout: a
// synchronous call still waiting for its job then is answered 202 with the
// job, which goes on. No call may take longer than this and stuckGrace.
const (
	slowSyncTimeout = 5 * time.Second
	stuckGrace      = time.Second
)

// slowAfter is how long after the slow window the scenario keeps calling,
// and slowRecovery by when the calls' p99 must be back to normal.
const (
	slowAfter    = 7 * time.Second
	slowRecovery = 5 * time.Second
)

// timedCall is one synchronous call: when it started and what came back.
type timedCall struct {
	key   string // its X-Call, what the upstream counts it under
	start time.Time
	a     answer
}

// TestRedisSlow: every byte between the fleet and Redis is delayed 50 ms
// each way (the TCP proxy's latency) for a while, under a stream of
// synchronous calls. No call is lost (each is answered 200, or 202 once
// server.sync_timeout passes and its job then ends), none is answered later
// than its timeout, and the calls' p99, grouped by the second they
// started in and judged two seconds at a time, is back to what it was
// before within slowRecovery of the end.
func TestRedisSlow(t *testing.T) {
	t.Parallel()
	f := newFleet(t, spec{workers: 2, up: testenv.Section{"cache": "{enabled: false}"},
		server: testenv.Section{"sync_timeout": slowSyncTimeout.String()}})
	client := f.client(30 * time.Second)
	var (
		mu    sync.Mutex
		calls []timedCall
		n     atomic.Int64
	)
	stop := clients(4, func() {
		key := fmt.Sprintf("slow-%d", n.Add(1))
		start := time.Now()
		a := send(client, map[string]any{"target": "up", "method": "GET", "path": "/work", "headers": map[string]any{"X-Call": key}})
		mu.Lock()
		calls = append(calls, timedCall{key, start, a})
		mu.Unlock()
	})
	// startedAfter reports whether a call started after at has been answered.
	startedAfter := func(at time.Time) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.ContainsFunc(calls, func(c timedCall) bool { return c.start.After(at) })
		}
	}
	// The baseline: calls that start after a second of warm-up and end
	// before the fault, two seconds of them.
	warm := time.Now()
	testenv.Eventually(t, 30*time.Second, "calls before the slow window", startedAfter(warm.Add(3*time.Second)))
	slowFrom := time.Now()
	slowFor := length()
	faultFor(slowFor, func() { f.proxy.slow(50 * time.Millisecond) }, func() { f.proxy.slow(0) })
	healed := time.Now()
	testenv.Eventually(t, slowAfter+30*time.Second, fmt.Sprintf("calls %v after the slow window", slowAfter), startedAfter(healed.Add(slowAfter)))
	stop()

	r := row{scenario: fmt.Sprintf("Redis slow (+50 ms each way) for %v", slowFor)}
	var before, during []time.Duration
	after := make([][]time.Duration, int(slowAfter/time.Second))
	var stuck, jobsLeft []string
	var unclear []answer
	for _, c := range calls {
		r.accepted++
		took := c.a.took
		if took > slowSyncTimeout+stuckGrace {
			stuck = append(stuck, fmt.Sprintf("%s took %v", c.key, took.Round(time.Millisecond)))
		}
		switch {
		case c.start.After(warm.Add(time.Second)) && c.start.Add(took).Before(slowFrom):
			before = append(before, took)
		case c.start.After(slowFrom) && c.start.Before(healed):
			during = append(during, took)
		case c.start.After(healed):
			if k := int(c.start.Sub(healed) / time.Second); k < len(after) {
				after[k] = append(after[k], took)
			}
		}
		switch {
		case c.a.status == http.StatusOK:
			r.completed++
		case c.a.status == http.StatusAccepted:
			jobsLeft = append(jobsLeft, c.a.id) // its sync wait timed out: the job goes on
		case c.a.status == http.StatusServiceUnavailable && c.a.code == "REDIS_UNAVAILABLE":
			r.clearErrors++
		default:
			r.lost++
			unclear = append(unclear, c.a)
		}
	}
	for _, id := range jobsLeft {
		st, _ := jobStatus(client, id, time.Minute)
		r.tally(st)
	}
	r.dups = f.up.Duplicates()

	// Normal is the p99 before the fault, with room for noise: one slowed
	// round trip (100 ms). The short form shares two cores with all of
	// `make test`, whose load its p99 then measures too: there normal is
	// also anything under half the slow window's p99 (no longer slowed).
	// A second's p99 rests on few calls, so the verdict takes two seconds
	// at a time: recovered is the first second k after which every pair
	// of seconds from k on has a normal p99.
	base, slowed := p99(before), p99(during)
	normal := max(2*base, base+100*time.Millisecond)
	if !*full {
		normal = max(normal, slowed/2)
	}
	recovered := -1
	for k := len(after) - 2; k >= 0; k-- {
		if len(after[k]) == 0 || p99(append(slices.Clone(after[k]), after[k+1]...)) > normal {
			break
		}
		recovered = k
	}
	var afterP99 []string
	for _, d := range after {
		afterP99 = append(afterP99, p99(d).Round(time.Millisecond).String())
	}
	r.notes = fmt.Sprintf("p99 %v before, %v during, per second after: %s (normal ≤ %v); p99 normal from %ds after on (two seconds at a time); "+
		"%d answered 202 at sync_timeout %v (their jobs then ended); %d answered later than sync_timeout + %v",
		base.Round(time.Millisecond), slowed.Round(time.Millisecond), strings.Join(afterP99, ", "), normal.Round(time.Millisecond),
		recovered, len(jobsLeft), slowSyncTimeout, len(stuck), stuckGrace)
	if len(unclear) > 0 {
		r.notes += fmt.Sprintf("; unclear answers: %v", unclear[:min(3, len(unclear))])
	}
	record(r)
	if r.lost > 0 || len(stuck) > 0 || r.dups > 0 || recovered < 0 || recovered > int(slowRecovery/time.Second) {
		t.Errorf("%+v (stuck: %v)", r, stuck[:min(5, len(stuck))])
	}
	if slowed < 100*time.Millisecond {
		t.Errorf("the slow window did not slow the calls (p99 %v): the fault was not injected", slowed)
	}
}

// p99 is the 99th percentile of ds, 0 when there are none.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[min(len(s)-1, len(s)*99/100)]
}
