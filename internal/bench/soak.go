package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak sends sync calls at a steady rate for a long while and samples
// the resident memory of the api and the worker. A process that leaks
// grows for as long as the load lasts; one that does not levels off once
// its pools and caches have reached their working size.

// soakSamples is how many RSS readings a soak takes, evenly spaced.
const soakSamples = 60

// soakInFlight bounds the calls under way at once; a tick that finds them
// all busy is counted as late instead of piling up goroutines.
const soakInFlight = 64

// rssSample is one reading of both processes' resident memory, in bytes.
type rssSample struct {
	at          time.Duration // since the soak started
	api, worker int64
}

// soakResult is the outcome of the soak.
type soakResult struct {
	dur     time.Duration
	rate    int
	calls   int64 // calls completed
	late    int64 // ticks skipped because soakInFlight calls were under way
	samples []rssSample
}

// measureSoak sends rate sync calls a second for dur, open loop, sampling
// RSS soakSamples times, and fails on the first failed call.
func (e *env) measureSoak(ctx context.Context, dur time.Duration, rate int) (soakResult, error) {
	res := soakResult{dur: dur, rate: rate}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var calls, late atomic.Int64
	slots := make(chan struct{}, soakInFlight)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sample := time.NewTicker(dur / soakSamples)
	defer sample.Stop()
	end := time.NewTimer(dur)
	defer end.Stop()
	start := time.Now()
	read := func() error {
		s, err := e.rss(time.Since(start))
		res.samples = append(res.samples, s)
		return err
	}
	err := read()
loop:
	for err == nil {
		select {
		case <-ctx.Done():
			break loop
		case <-end.C:
			break loop
		case <-sample.C:
			err = read()
		case <-tick.C:
			select {
			case slots <- struct{}{}:
			default:
				late.Add(1)
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				if _, err := e.proxySync(ctx, "soak"); err != nil {
					cancel(err)
					return
				}
				calls.Add(1)
			})
		}
	}
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err == nil {
		err = read()
	}
	res.calls, res.late = calls.Load(), late.Load()
	return res, err
}

// rss reads the api's and the worker's VmRSS.
func (e *env) rss(at time.Duration) (rssSample, error) {
	api, err := procRSS(e.api.Pid())
	if err != nil {
		return rssSample{}, err
	}
	worker, err := procRSS(e.worker.Pid())
	return rssSample{at: at, api: api, worker: worker}, err
}

// procRSS returns a process's resident set size from /proc/PID/status.
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading RSS (Linux /proc only): %w", err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// memTrend summarizes one process's RSS over the soak.
type memTrend struct {
	start, peak, end int64
	// growth is the peak of the last quarter of the soak over the peak of
	// its second quarter: what the process still grew once warm.
	growth float64
}

// plateaus reports whether the process levelled off: it grew less than
// 5 % over the second half of the soak.
func (m memTrend) plateaus() bool { return m.growth < 0.05 }

// trend summarizes the samples of one process, picked by pick.
func trend(samples []rssSample, pick func(rssSample) int64) memTrend {
	if len(samples) == 0 {
		return memTrend{}
	}
	peak := func(from, to int) int64 {
		var m int64
		for _, s := range samples[from:max(to, from+1)] {
			m = max(m, pick(s))
		}
		return m
	}
	n := len(samples)
	t := memTrend{start: pick(samples[0]), peak: peak(0, n), end: pick(samples[n-1])}
	if q2 := peak(n/4, n/2); q2 > 0 {
		t.growth = float64(peak(3*n/4, n))/float64(q2) - 1
	}
	return t
}

// trends summarizes the api's and the worker's memory over the soak.
func (s soakResult) trends() (api, worker memTrend) {
	return trend(s.samples, func(x rssSample) int64 { return x.api }),
		trend(s.samples, func(x rssSample) int64 { return x.worker })
}

func (r *report) printSoak(p printer) {
	s := r.soak
	p("## 10. Memory soak")
	p("")
	p("%d sync calls a second (open loop, at most %d under way) for %v: %d calls completed, %d ticks skipped because %d calls were still under way. Resident memory (VmRSS) sampled %d times.",
		s.rate, soakInFlight, s.dur, s.calls, s.late, soakInFlight, len(s.samples))
	p("")
	p("| process | start | peak | end | growth, 2nd → 4th quarter | plateau (< 5 %%) |")
	p("|---|---:|---:|---:|---:|---|")
	api, worker := s.trends()
	for _, row := range []struct {
		name string
		t    memTrend
	}{{"api", api}, {"worker", worker}} {
		t := row.t
		p("| %s | %s | %s | %s | %+.1f %% | %s |", row.name, mib(t.start), mib(t.peak), mib(t.end), 100*t.growth, yesNo(t.plateaus()))
	}
	p("")
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
