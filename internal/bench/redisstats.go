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

	"github.com/reliapi/reliapi/internal/testenv"
)

// cmdResult is what one synchronous call costs in Redis commands.
type cmdResult struct {
	idleWindow time.Duration
	idlePerSec float64   // total_commands_processed/s with nothing to do
	idleCPU    *cpuUsage // CPU per second of the idle window; nil without /proc
	requests   int
	busyWindow time.Duration
	busyTotal  int64   // total_commands_processed during the batch
	perRequest float64 // (busyTotal − idle rate × busyWindow) / requests
	// idleReadsPerSec and readsPerRequest are the same for
	// total_reads_processed: the reads of client requests, one per round
	// trip (a pipeline too, unless Redis reads it in pieces).
	idleReadsPerSec float64
	readsPerRequest float64
	byCommand       []cmdCount
	scriptCalls     float64 // per request: EVAL/EVALSHA/FCALL among byCommand

	fleetWindow time.Duration
	fleetPerSec float64 // total_commands_processed/s of the api and two workers, idle
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
	reads int64            // total_reads_processed
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

	return costs(idleStart, idleEnd, busyEnd, requests, idleCPU), nil
}

// measureIdleFleet is the Redis commands per second of an idle fleet of one
// api and two workers — what a deployment with no traffic costs Redis. It
// starts a second worker for the window and stops it after.
func (e *env) measureIdleFleet(ctx context.Context, window time.Duration) (float64, error) {
	second, err := e.startWorker(ctx, "idle-worker", e.cfgPath)
	if err != nil {
		return 0, err
	}
	defer second.Kill()
	start, err := e.counters(ctx)
	if err != nil {
		return 0, err
	}
	select {
	case <-time.After(window): // the measurement window itself, not a readiness wait
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	end, err := e.counters(ctx)
	if err != nil {
		return 0, err
	}
	if err := second.Terminate(10 * time.Second); err != nil {
		return 0, err
	}
	return float64(end.total-start.total) / end.at.Sub(start.at).Seconds(), nil
}

// costs charges each of requests its share of the commands Redis processed
// between idleEnd and busyEnd, after taking away the idle rate measured
// between idleStart and idleEnd over the batch's duration.
func costs(idleStart, idleEnd, busyEnd redisCounters, requests int, idleCPU *cpuUsage) cmdResult {
	idleWindow := idleEnd.at.Sub(idleStart.at)
	busyWindow := busyEnd.at.Sub(idleEnd.at)
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
		idleWindow:      idleWindow,
		idlePerSec:      float64(idleEnd.total-idleStart.total) / idleWindow.Seconds(),
		idleCPU:         idleCPU,
		requests:        requests,
		busyWindow:      busyWindow,
		busyTotal:       busyEnd.total - idleEnd.total,
		perRequest:      perRequest(idleEnd.total-idleStart.total, busyEnd.total-idleEnd.total),
		idleReadsPerSec: float64(readsBetween(idleStart, idleEnd)) / idleWindow.Seconds(),
		readsPerRequest: perRequest(readsBetween(idleStart, idleEnd), readsBetween(idleEnd, busyEnd)),
	}
	for name, calls := range busyEnd.calls {
		if name == "info" { // our own reads
			continue
		}
		n := perRequest(idleEnd.calls[name]-idleStart.calls[name], calls-idleEnd.calls[name])
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
	return r
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
		if v, ok := strings.CutPrefix(line, "total_reads_processed:"); ok {
			c.reads, _ = strconv.ParseInt(v, 10, 64)
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

// readsBetween is the reads of client requests Redis made between two
// readings, less the INFO that took the second one.
func readsBetween(a, b redisCounters) int64 { return b.reads - a.reads - 1 }

// pathCost is what one call on a path costs Redis: commands, and reads
// (round trips).
type pathCost struct {
	path         string
	perCall      float64
	readsPerCall float64
}

// commandsPerPath counts, as measureCommands does for sync calls, the Redis
// commands per call of every other path: n calls at concurrency 1 between
// two readings of the counters, less the idle rate over that time.
func (e *env) commandsPerPath(ctx context.Context, n int, idle cmdResult) ([]pathCost, error) {
	hooksBefore := e.hooks.delivered.Load()
	paths := []struct {
		name string
		call func(ctx context.Context) error
		// settle waits, after the calls, for the work they left behind.
		settle func(ctx context.Context) error
	}{
		{name: "cache hit", call: func(ctx context.Context) error { _, err := e.cached(ctx, true); return err }},
		{name: "idempotent replay", call: func(ctx context.Context) error { return e.replay(ctx, true) }},
		{name: "async job: submit, run, one long poll until done", call: func(ctx context.Context) error {
			id, err := e.submit(ctx, call{phase: "cmd-async"})
			if err == nil {
				_, err = e.getJob(ctx, id)
			}
			return err
		}},
		{name: "async job with a webhook: submit, run, deliver", call: func(ctx context.Context) error {
			_, err := e.submit(ctx, call{phase: "cmd-hook", hookURL: e.hooks.url})
			return err
		}, settle: func(ctx context.Context) error {
			return testenv.Poll(ctx, completionTimeout, "the webhooks", func(context.Context) error {
				if got := e.hooks.delivered.Load() - hooksBefore; got < int64(n) {
					return fmt.Errorf("%d of %d delivered", got, n)
				}
				return nil
			})
		}},
		{name: "LLM completion (sync)", call: func(ctx context.Context) error { _, err := e.llmProxied(ctx); return err }},
	}
	var costs []pathCost
	for _, p := range paths {
		before, err := e.counters(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := runLoad(ctx, n, 1, func(ctx context.Context, _ int) error { return p.call(ctx) }); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if p.settle != nil {
			if err := p.settle(ctx); err != nil {
				return nil, err
			}
		}
		after, err := e.counters(ctx)
		if err != nil {
			return nil, err
		}
		window := after.at.Sub(before.at).Seconds()
		costs = append(costs, pathCost{p.name,
			(float64(after.total-before.total) - idle.idlePerSec*window) / float64(n),
			(float64(readsBetween(before, after)) - idle.idleReadsPerSec*window) / float64(n)})
	}
	return costs, nil
}

func (r *report) printPaths(p printer) {
	p("Every path, counted the same way (%d calls each at concurrency 1; a webhook's delivery is awaited before the second reading):", r.opts.cmdRequests)
	p("")
	p("| path | Redis commands per call | round trips per call (Redis's reads) |")
	p("|---|---:|---:|")
	p("| sync call (above) | %.1f | %.1f |", r.cmds.perRequest, r.cmds.readsPerRequest)
	for _, c := range r.paths {
		p("| %s | %.1f | %.1f |", c.path, c.perCall, c.readsPerCall)
	}
	p("")
	p("Round trips are counted by Redis (total_reads_processed, the idle rate subtracted): a pipeline is one read, as is each wait of a popper (its BLPOP); a sync call the api runs costs its create and its finish, one through a worker also the popper's next wait beside the call.")
	p("")
}
