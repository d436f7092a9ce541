package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cmdResult is what one synchronous call costs in Redis commands.
type cmdResult struct {
	idleWindow  time.Duration
	idlePerSec  float64   // total_commands_processed/s with nothing to do
	idleCPU     *cpuUsage // CPU per second of the idle window; nil without /proc
	requests    int
	busyWindow  time.Duration
	busyTotal   int64   // total_commands_processed during the batch
	perRequest  float64 // (busyTotal − idle rate × busyWindow) / requests
	byCommand   []cmdCount
	scriptCalls float64 // per request: EVAL/EVALSHA/FCALL among byCommand
}

// cmdCount is one command's calls per request, idle traffic subtracted.
type cmdCount struct {
	name       string
	perRequest float64
}

// redisCounters is one reading of Redis's command counters.
type redisCounters struct {
	at    time.Time
	total int64            // total_commands_processed
	calls map[string]int64 // INFO commandstats calls, by command
}

// measureCommands reads Redis's command counters around an idle window and
// around a batch of synchronous calls at concurrency 1, and charges each
// call its share of the batch's commands minus the idle polling (mostly the
// worker's dequeue attempts every task_check_interval) that would have
// happened anyway.
func (e *env) measureCommands(ctx context.Context, idle time.Duration, requests int) (cmdResult, error) {
	idleStart, err := e.counters(ctx)
	if err != nil {
		return cmdResult{}, err
	}
	cpu := e.startCPU()
	select {
	case <-time.After(idle): // the measurement window itself, not a readiness wait
	case <-ctx.Done():
		return cmdResult{}, ctx.Err()
	}
	idleEnd, err := e.counters(ctx)
	if err != nil {
		return cmdResult{}, err
	}
	idleCPU := cpu.perCall(1)
	busyStart := idleEnd
	if _, err := runLoad(ctx, requests, 1, func(ctx context.Context, _ int) error {
		_, err := e.proxySync(ctx, "commands")
		return err
	}); err != nil {
		return cmdResult{}, err
	}
	busyEnd, err := e.counters(ctx)
	if err != nil {
		return cmdResult{}, err
	}

	idleWindow := idleEnd.at.Sub(idleStart.at)
	busyWindow := busyEnd.at.Sub(busyStart.at)
	// perRequest charges each request its share of delta after taking away
	// the idle rate over the batch's duration.
	perRequest := func(idleDelta, busyDelta int64) float64 {
		rate := float64(idleDelta) / idleWindow.Seconds()
		return (float64(busyDelta) - rate*busyWindow.Seconds()) / float64(requests)
	}
	if idleCPU != nil {
		for i := range idleCPU {
			idleCPU[i] = time.Duration(float64(idleCPU[i]) / idleWindow.Seconds())
		}
	}
	r := cmdResult{
		idleWindow: idleWindow,
		idlePerSec: float64(idleEnd.total-idleStart.total) / idleWindow.Seconds(),
		idleCPU:    idleCPU,
		requests:   requests,
		busyWindow: busyWindow,
		busyTotal:  busyEnd.total - busyStart.total,
		perRequest: perRequest(idleEnd.total-idleStart.total, busyEnd.total-busyStart.total),
	}
	for name, calls := range busyEnd.calls {
		if name == "info" { // our own reads
			continue
		}
		n := perRequest(idleEnd.calls[name]-idleStart.calls[name], calls-busyStart.calls[name])
		if n >= 0.05 {
			r.byCommand = append(r.byCommand, cmdCount{name, n})
		}
		if name == "eval" || name == "evalsha" || name == "fcall" {
			r.scriptCalls += n
		}
	}
	slices.SortFunc(r.byCommand, func(a, b cmdCount) int {
		return cmp.Or(cmp.Compare(b.perRequest, a.perRequest), strings.Compare(a.name, b.name))
	})
	return r, nil
}

// counters reads total_commands_processed and the per-command calls in one
// INFO call.
func (e *env) counters(ctx context.Context) (redisCounters, error) {
	text, err := e.rdb.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return redisCounters{}, fmt.Errorf("INFO: %w", err)
	}
	c := redisCounters{at: time.Now(), calls: make(map[string]int64)}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			c.total, _ = strconv.ParseInt(v, 10, 64)
		}
		// cmdstat_get:calls=12,usec=34,...
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			calls, _, _ := strings.Cut(strings.TrimPrefix(fields, "calls="), ",")
			c.calls[name], _ = strconv.ParseInt(calls, 10, 64)
		}
	}
	return c, sc.Err()
}
