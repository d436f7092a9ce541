package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// report is everything measured, printed as markdown at the end.
type report struct {
	opts               options
	machine            machine
	config             string
	buildTime          time.Duration
	total              time.Duration
	levels             []level
	ours, raw, rawHTTP asyncResult // the round of median ratio
	asyncRounds        []asyncRound
	cmds               cmdResult
	paths              []pathCost
	llm                llmResult
	webhooks           webhookResult
	trace, traceLLM    []traceStep
	scaling            []scaleRow
	soak               soakResult
	fair               fairResult
}

// machine describes where the numbers were taken.
type machine struct {
	cpus, gomaxprocs int
	cpuModel         string
	kernel           string
	goVersion        string
	redisVersion     string
}

func machineInfo(ctx context.Context, rdb *redis.Client) (machine, error) {
	m := machine{
		cpus:       runtime.NumCPU(),
		gomaxprocs: runtime.GOMAXPROCS(0),
		cpuModel:   "unknown",
		kernel:     runtime.GOOS + "/" + runtime.GOARCH,
		goVersion:  runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel += ", kernel " + strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		for sc := bufio.NewScanner(f); sc.Scan(); {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return m, fmt.Errorf("INFO server: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			m.redisVersion = v
		}
	}
	return m, nil
}

// printer writes one line of the report.
type printer func(format string, args ...any)

// print writes the report as markdown, one function per section.
func (r *report) print(w io.Writer) {
	p := printer(func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) })
	p("# ReliAPI benchmark report")
	p("")
	r.printTargets(p)
	r.printSetup(p)
	// Each section of the phase it needs, so that a run of some phases
	// (-only) prints theirs.
	for _, s := range []struct {
		phase string
		print func(printer)
	}{
		{"latency", r.printSync}, {"throughput", r.printAsync}, {"latency,throughput", r.printCPU},
		{"costs", r.printCommands}, {"costs", r.printTrace}, {"latency", r.printCache}, {"costs", r.printLLM},
		{"costs", r.printWebhooks}, {"scale", r.printScaling}, {"scale", r.printSoak}, {"fairness", r.printFairness},
	} {
		if slices.ContainsFunc(strings.Split(s.phase, ","), r.opts.runs) {
			s.print(p)
		}
	}
}

func (r *report) printSetup(p printer) {
	o, m := r.opts, r.machine
	p("## Setup")
	p("")
	p("| | |")
	p("|---|---|")
	p("| CPU | %s, nproc %d, GOMAXPROCS %d |", m.cpuModel, m.cpus, m.gomaxprocs)
	p("| OS | %s |", m.kernel)
	p("| Go | %s |", m.goVersion)
	p("| Redis | redis-server %s, private instance on a free 127.0.0.1 port, persistence off |", m.redisVersion)
	p("| Processes | 1 × `reliapi api`, 1 × `reliapi worker` (LOG_LEVEL=error; 1, 2 and 4 in section 9); upstream, load generator and raw asynq server inside the bench process |")
	p("| Upstream | local `net/http` server (internal/testenv), GET /get answers %d bytes of JSON at once (after scale-delay in section 9); LLM: internal/fakellm's OpenAI API, answering at once |", len(upstreamBody))
	p("| Flags | warmup %d, levels %v, n1 %d, n %d, jobs %d, submit-concurrency %d, worker-concurrency %d, task-check-interval %v, cmd-requests %d, llm-n %d, webhook-jobs %d, scale-workers %v, scale-jobs %d, scale-worker-concurrency %d, scale-delay %v, soak %v, soak-rate %d, fair-flood %d, fair-jobs %d, fair-sync %d, plain-binary %q, plain-runs %d, only %v |",
		o.warmup, o.levels, o.n1, o.n, o.jobs, o.submitConc, o.concurrency, o.checkInterval, o.cmdRequests, o.llmN, o.webhookJobs, o.scaleWorkers, o.scaleJobs, o.scaleConc, o.scaleDelay, o.soak, o.soakRate,
		o.fairFlood, o.fairJobs, o.fairSync, o.plainBinary, o.plainRuns, o.only)
	p("| Run | reliapi built in %.1f s; whole run %.1f s |", r.buildTime.Seconds(), r.total.Seconds())
	p("")
	p("Config (written to a temporary file, passed as RELIAPI_CONFIG):")
	p("")
	p("```yaml")
	p("%s", strings.TrimSuffix(r.config, "\n"))
	p("```")
	p("")
}

func (r *report) printSync(p printer) {
	p("## 1. Added latency")
	p("")
	p("At each concurrency, in a closed loop, first the direct call (keep-alive GET upstream/get), then each way through reliapi, one after the other: **sync** = POST /v1/proxy/http `{\"target\":\"bench\",\"method\":\"GET\",\"path\":\"/get\"}` without Prefer (run by the api that took it: its job recorded running in one round trip, the upstream called meanwhile, its end recorded in a second; see server.run_sync_calls); **cache hit** = the same on a cached target, answered by the api; **idempotent replay** = a finished job's Idempotency-Key again; **async submit** = `Prefer: respond-async` until the 202 (its jobs finish before the next run). Added = the mode's percentile minus the direct call's p50 (the direct run is short, and one hiccup of the machine sets its tail); at concurrency 1 each mode's calls alternate one for one with direct calls (paired), and its added latency is the mode's percentile minus the same percentile of those, taken at the same moments of the machine (the direct row shows a run of its own). %d warm-up requests of each first.", r.opts.warmup)
	p("")
	p("| concurrency | path | requests | p50 | p90 | p99 | req/s | added p50 | added p90 | added p99 |")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range r.levels {
		d := l.direct
		p("| %d | direct | %d | %s | %s | %s | %.0f | | | |", l.conc, d.n, ms(d.p50), ms(d.p90), ms(d.p99), d.perSecond)
		for _, m := range modes {
			x := l.modes[m]
			p("| %d | %s | %d | %s | %s | %s | %.0f | **%s** | %s | %s |", l.conc, m, x.n, ms(x.p50), ms(x.p90), ms(x.p99), x.perSecond,
				ms(l.added(m, 0.5)), ms(l.added(m, 0.9)), ms(l.added(m, 0.99)))
		}
	}
	p("")
	p("Highest throughput whose p99 added latency stays within %v:", p99Bound)
	p("")
	p("| path | req/s | at concurrency | added p99 |")
	p("|---|---:|---:|---:|")
	for _, m := range modes {
		if l, ok := r.bestUnder(m, p99Bound); ok {
			p("| %s | %.0f | %d | %s |", m, l.modes[m].perSecond, l.conc, ms(l.added(m, 0.99)))
		} else {
			p("| %s | none: p99 added over %v at every concurrency | | |", m, p99Bound)
		}
	}
	p("")
	p("Where a sync call's mean time goes, from its job's created_at / started_at / completed_at (Redis clock, whole ms, so means only; a call the api runs starts in the round trip that creates its job, and its upstream call may begin before):")
	p("")
	p("| concurrency | queued: create until start | running: start until the end is recorded | rest: HTTP, validation, the create's round trip, the caller told | mean |")
	p("|---:|---:|---:|---:|---:|")
	for _, l := range r.levels {
		s := l.split
		p("| %d | %s | %s | %s | %s |", l.conc, ms(s.queued), ms(s.running), ms(s.rest), ms(l.modes[modeSync].mean))
	}
	p("")
}

// p99Bound is the added p99 latency within which throughput is reported.
const p99Bound = 10 * time.Millisecond

// bestUnder returns the level where mode's throughput was highest among
// those whose added p99 stayed within bound.
func (r *report) bestUnder(mode string, bound time.Duration) (level, bool) {
	var best level
	found := false
	for _, l := range r.levels {
		if l.added(mode, 0.99) <= bound && (!found || l.modes[mode].perSecond > best.modes[mode].perSecond) {
			best, found = l, true
		}
	}
	return best, found
}

// peak returns the highest throughput of mode over all levels.
func (r *report) peak(mode string) float64 {
	l, _ := r.peakLevel(mode)
	return l.modes[mode].perSecond
}

// peakLevel is the level at which mode had its highest throughput.
func (r *report) peakLevel(mode string) (level, bool) {
	return r.bestUnder(mode, math.MaxInt64)
}

func (r *report) printAsync(p printer) {
	o := r.opts
	p("## 2. Asynchronous throughput")
	p("")
	p("%d jobs each, submitted by %d concurrent clients (ours: each submit reads the 202's status and Location, the job's ID, and discards its body unparsed); jobs/s counts from the first submit to the last completion. %d rounds of the three runs, one after the other (every other round in reverse order, so that the machine's drift does not always fall on the same run); the round of median ratio (ours / raw asynq + GET) is shown.", o.jobs, o.submitConc, len(r.asyncRounds))
	p("")
	p("| system | jobs | first submit → last done | jobs/s | submits/s | submit p50 | submit p99 |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	p("| reliapi: POST /v1/proxy/http + `Prefer: respond-async` → worker → upstream | %d | %s | **%.0f** | %.0f | %s | %s |",
		r.ours.jobs, ms(r.ours.wall), r.ours.perSecond, r.ours.submit.perSecond, ms(r.ours.submit.p50), ms(r.ours.submit.p99))
	p("| raw asynq: Client.Enqueue → no-op handler (same Redis, concurrency %d, TaskCheckInterval %v) | %d | %s | **%.0f** | %.0f | %s | %s |",
		o.concurrency, o.checkInterval, r.raw.jobs, ms(r.raw.wall), r.raw.perSecond, r.raw.submit.perSecond, ms(r.raw.submit.p50), ms(r.raw.submit.p99))
	p("| raw asynq + the same upstream GET in the handler (no api, no job records) | %d | %s | **%.0f** | %.0f | %s | %s |",
		r.rawHTTP.jobs, ms(r.rawHTTP.wall), r.rawHTTP.perSecond, r.rawHTTP.submit.perSecond, ms(r.rawHTTP.submit.p50), ms(r.rawHTTP.submit.p99))
	p("")
	p("**ours / raw = %.2f**; ours / (raw + upstream GET) = %.2f. Every reliapi job was read back as `succeeded` and the upstream saw each exactly once; %d job(s) ran more than once.",
		r.ours.perSecond/r.raw.perSecond, r.ours.perSecond/r.rawHTTP.perSecond, r.ours.redeliver)
	p("")
	ratios := make([]string, len(r.asyncRounds))
	for i, round := range r.asyncRounds {
		ratios[i] = fmt.Sprintf("%.2f (%.0f vs %.0f/s)", round.ratio(), round.ours.perSecond, round.rawHTTP.perSecond)
	}
	p("Every round, ours / (raw + upstream GET): %s.", strings.Join(ratios, " · "))
	p("")
}

func (r *report) printCommands(p printer) {
	c := r.cmds
	p("## 4. Redis commands per call")
	p("")
	p("Idle system (api + worker waiting, with the default intervals): **%.0f commands/s** over %.1f s; an idle fleet of 1 api and 2 workers: **%.0f commands/s** over %.1f s.",
		c.idlePerSec, c.idleWindow.Seconds(), c.fleetPerSec, c.fleetWindow.Seconds())
	if u := c.idleCPU; u != nil {
		p("Meanwhile the idle worker used %.0f%% of a core and redis-server %.0f%% (api %.0f%%).", pct(u[1]), pct(u[2]), pct(u[0]))
	}
	p("Then %d sync calls at concurrency 1 in %.2f s: %d commands (total_commands_processed), minus %.0f idle → **%.1f commands per call**.",
		c.requests, c.busyWindow.Seconds(), c.busyTotal, c.idlePerSec*c.busyWindow.Seconds(), c.perRequest)
	p("")
	p("Redis 7 counts the commands a Lua script runs in both figures, so this is commands executed, not round trips; EVALSHA is the number of script calls. The idle traffic is the worker polling each queue (EVALSHA + EXISTS + RPOPLPUSH) every ~task_check_interval, and it does not keep exactly its idle rate while calls run, so those three rows are off by up to about ±0.7 and the total by about ±2. Section 5 counts one call exactly.")
	p("")
	p("By command (INFO commandstats, idle rate subtracted, ≥ 0.05 per call):")
	p("")
	p("| command | per call |")
	p("|---|---:|")
	for _, cc := range c.byCommand {
		p("| %s | %.2f |", cc.name, cc.perRequest)
	}
	p("")
	r.printPaths(p)
}

// printTrace prints the traced calls' round trips to Redis.
func (r *report) printTrace(p printer) {
	p("## 5. One sync call, traced with MONITOR")
	p("")
	p("Every round trip to Redis made for one call on the idle system (the worker's idle polling filtered out); times are Redis's clock from the first one. Commands one client sent less than %v apart are shown as one pipeline (a heuristic).", pipelineGap)
	p("")
	printSteps(p, r.trace)
	if len(r.traceLLM) > 0 {
		p("The same for one LLM completion (section 7's, concurrency 1): its budget hold and its settling travel in the same pipelines.")
		p("")
		printSteps(p, r.traceLLM)
	}
}

// printSteps prints one traced call's round trips and their count.
func printSteps(p printer, steps []traceStep) {
	p("| # | at | client | command (first key) | run inside the script |")
	p("|---:|---:|---|---|---|")
	counts := map[string]int{}
	commands := 0
	for i, s := range steps {
		cmd := "`" + s.cmd + "`"
		if len(s.piped) > 0 {
			cmd += " + " + strings.Join(s.piped, ", ") + " (one pipeline)"
		}
		p("| %d | %s | %s | %s | %s |", i+1, ms(s.at), s.client, cmd, strings.Join(s.inLua, ", "))
		counts[s.client]++
		commands += 1 + len(s.piped) + len(s.inLua)
	}
	p("")
	var parts []string
	for _, c := range []string{"api", "worker"} {
		parts = append(parts, fmt.Sprintf("%s %d", c, counts[c]))
	}
	p("%d round trips (%s), %d commands executed in all (scripts' own commands included).", len(steps), strings.Join(parts, ", "), commands)
	p("")
}

// printCPU prints the CPU each process spent per call, when /proc was
// readable.
func (r *report) printCPU(p printer) {
	type cpuRow struct {
		name string
		cpu  *cpuUsage
	}
	var rows []cpuRow
	for _, l := range r.levels {
		rows = append(rows, cpuRow{fmt.Sprintf("reliapi sync, concurrency %d", l.conc), l.cpus[modeSync]})
	}
	// A cache hit and an async submit at their peak: the api's front door
	// alone, which a job pays before any queue.
	for _, m := range []struct{ mode, name string }{
		{modeCached, "cache hit (answered by the api from Redis)"},
		{modeSubmit, "async submit until its 202 (the worker column runs the jobs)"},
	} {
		if l, ok := r.peakLevel(m.mode); ok {
			rows = append(rows, cpuRow{fmt.Sprintf("reliapi %s, concurrency %d, its peak", m.name, l.conc), l.cpus[m.mode]})
		}
	}
	if r.opts.runs("throughput") {
		rows = append(rows,
			cpuRow{"reliapi async job", r.ours.cpu},
			cpuRow{"raw asynq task (its client and server run in the bench process)", r.raw.cpu},
			cpuRow{"raw asynq task + upstream GET", r.rawHTTP.cpu})
	}
	p("## 3. CPU per call")
	p("")
	p("utime + stime from /proc over each measured run, divided by its calls. The bench column includes the load generator and the upstream. 1 s of CPU on %d cores bounds throughput at about %d × 1 s / total.", r.machine.cpus, r.machine.cpus)
	p("")
	p("| run | api | worker | redis | bench | total |")
	p("|---|---:|---:|---:|---:|---:|")
	for _, row := range rows {
		if row.cpu == nil {
			p("| %s | n/a | n/a | n/a | n/a | n/a |", row.name)
			continue
		}
		u := row.cpu
		p("| %s | %s | %s | %s | %s | %s |", row.name, us(u[0]), us(u[1]), us(u[2]), us(u[3]), us(u.total()))
	}
	p("")
}

// pct is CPU time per second as a percentage of one core.
func pct(perSecond time.Duration) float64 { return 100 * perSecond.Seconds() }

// us formats a duration in microseconds.
func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// ms formats a duration in milliseconds with enough digits for sub-ms
// values.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}
