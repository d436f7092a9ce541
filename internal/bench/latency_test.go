package main

import (
	"testing"
	"time"
)

// TestAddedLatency: paired, a mode's added percentile is over the same
// percentile of the direct calls made between its calls; unpaired, over
// the direct run's p50, so that a hiccup in the short direct run's tail
// cannot make an added p99 small or negative.
func TestAddedLatency(t *testing.T) {
	ms := time.Millisecond
	l := level{
		direct: stats{p50: 1 * ms, p90: 3 * ms, p99: 20 * ms},
		modes: map[string]stats{
			modeSync:   {p50: 13 * ms, p90: 18 * ms, p99: 26 * ms},
			modeCached: {p50: 4 * ms, p90: 8 * ms, p99: 12 * ms},
		},
		paired: map[string]stats{modeCached: {p50: 2 * ms, p90: 5 * ms, p99: 9 * ms}},
	}
	for _, c := range []struct {
		mode string
		p    float64
		want time.Duration
	}{
		{modeSync, 0.5, 12 * ms},
		{modeSync, 0.9, 17 * ms},
		{modeSync, 0.99, 25 * ms},
		{modeCached, 0.5, 2 * ms},
		{modeCached, 0.9, 3 * ms},
		{modeCached, 0.99, 3 * ms},
	} {
		if got := l.added(c.mode, c.p); got != c.want {
			t.Errorf("added(%s, %v) = %v, want %v", c.mode, c.p, got, c.want)
		}
	}
}

// TestMedianRound: the round of median ratio; of an even count, the lower
// middle one.
func TestMedianRound(t *testing.T) {
	round := func(ours, rawHTTP float64) asyncRound {
		return asyncRound{ours: asyncResult{perSecond: ours}, rawHTTP: asyncResult{perSecond: rawHTTP}}
	}
	three := []asyncRound{round(50, 100), round(40, 100), round(60, 100)}
	if got := medianRound(three).ratio(); got != 0.5 {
		t.Errorf("median of 0.5, 0.4, 0.6 = %v", got)
	}
	if got := medianRound(three[:2]).ratio(); got != 0.4 {
		t.Errorf("median of 0.5, 0.4 = %v, want the lower", got)
	}
}
