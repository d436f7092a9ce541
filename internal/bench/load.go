package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sample is the outcome of one load run.
type sample struct {
	lat  []time.Duration // each call's latency, in no particular order
	wall time.Duration   // first call start to last call end
}

// runLoad makes n calls of fn from conc goroutines, each starting its next
// call as soon as its last one returned (a closed loop), and stops at the
// first error.
func runLoad(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) (sample, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return sample{}, err
	}
	return sample{lat: lat, wall: wall}, nil
}

// stats summarizes a sample.
type stats struct {
	n                   int
	p50, p90, p99, mean time.Duration
	perSecond           float64
}

func summarize(s sample) stats {
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	n := len(lat)
	return stats{
		n:         n,
		p50:       percentile(lat, 0.50),
		p90:       percentile(lat, 0.90),
		p99:       percentile(lat, 0.99),
		mean:      sum / time.Duration(n),
		perSecond: float64(n) / s.wall.Seconds(),
	}
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// runPaired makes n pairs of calls one after the other, a baseline call
// then call i, and returns the two samples: each pair ran at the same
// moment of the machine. A sample's wall time is the sum of its calls'.
func runPaired(ctx context.Context, n int, baseline func(context.Context) error, call func(ctx context.Context, i int) error) (base, calls sample, err error) {
	base.lat, calls.lat = make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		t := time.Now()
		if err := baseline(ctx); err != nil {
			return sample{}, sample{}, err
		}
		u := time.Now()
		if err := call(ctx, i); err != nil {
			return sample{}, sample{}, err
		}
		base.lat[i], calls.lat[i] = u.Sub(t), time.Since(u)
		base.wall += base.lat[i]
		calls.wall += calls.lat[i]
	}
	return base, calls, nil
}
