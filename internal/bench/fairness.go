package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
)

// The fair-share phase (issue 16) measures what one tenant's flood of async
// jobs costs another tenant on the same fleet: tenant B's jobs, submit to
// result, alone and while tenant A's flood is queued; A's jobs/s alone and
// with B's jobs among them; an enterprise tenant's sync calls alone and
// while a free tenant floods; and, given -plain-binary, what the fair lane
// costs in async jobs/s next to the plain lane it replaced.

// benchTenant is a tenant of the fair-share phase.
type benchTenant struct{ name, tier, key string }

// The fair-share phase's tenants, in every fleet's config: A and B of one
// tier (weight 4 each), and a free (weight 1) and an enterprise (weight 8)
// tenant. No limit of theirs refuses a call: only the workers hold the
// flood back.
var (
	tenantA    = benchTenant{"flood-a", "pro", "bench-key-flood-a"}
	tenantB    = benchTenant{"steady-b", "pro", "bench-key-steady-b"}
	tenantFree = benchTenant{"flood-free", "free", "bench-key-flood-free"}
	tenantEnt  = benchTenant{"steady-enterprise", "enterprise", "bench-key-steady-enterprise"}
)

// benchTenants are the tenants of benchConfig.
func benchTenants() map[string]testenv.Section {
	out := map[string]testenv.Section{}
	for _, t := range []benchTenant{tenantA, tenantB, tenantFree, tenantEnt} {
		out[t.name] = testenv.Section{
			"tier":     t.tier,
			"limits":   "{rpm: 0, burst: 0, max_concurrent_jobs: 0, ip_rpm: 0, fingerprint_rpm: 0}",
			"api_keys": fmt.Sprintf("[{sha256: %x}]", sha256.Sum256([]byte(t.key))),
		}
	}
	return out
}

// fairClients are tenant B's clients: each submits a job, waits for its
// result, then submits the next, as an interactive client does.
const fairClients = 10

// fairResult is what the fair-share phase measured.
type fairResult struct {
	bIdle, bFlood  stats       // B's async jobs, submit → result
	aAlone, aWithB asyncResult // A's flood, alone and with B's jobs among it
	// backlog is how many of A's jobs had not reached the upstream when B
	// began and when B's last result came: B ran while A's were queued.
	backlog             [2]int
	syncIdle, syncFlood pairedRun   // the enterprise tenant's sync calls
	freeFlood           asyncResult // the free tenant's flood meanwhile
	syncBacklog         [2]int      // as backlog, of the free tenant's flood
	vsPlain             []plainRun  // alternating runs, with -plain-binary
}

// pairedRun is calls made one for one with direct calls (runPaired).
type pairedRun struct{ direct, calls stats }

// added is the calls' p50 over the direct calls'.
func (p pairedRun) added() time.Duration { return p.calls.p50 - p.direct.p50 }

// plainRun is one alternation of the comparison: this build's async
// throughput, then the plain lane's.
type plainRun struct{ fair, plain asyncResult }

// runFairness is the fair-share phase.
func (e *env) runFairness(ctx context.Context, o options, progress printer) (err error) {
	f := &e.rep.fair
	progress("fair share: tenant B alone, %d async jobs from %d clients, each waiting for its result", o.fairJobs, fairClients)
	if f.bIdle, err = e.roundTrips(ctx, call{phase: "fair-b-idle", key: tenantB.key}, o.fairJobs); err != nil {
		return err
	}
	progress("fair share: tenant A alone, %d async jobs", o.fairFlood)
	if f.aAlone, err = e.measureAsync(ctx, call{phase: "fair-a-alone", key: tenantA.key}, o.fairFlood, o.submitConc, nil); err != nil {
		return err
	}
	progress("fair share: tenant A queues %d async jobs, then B makes %d", o.fairFlood, o.fairJobs)
	f.aWithB, err = e.measureAsync(ctx, call{phase: "fair-a-flood", key: tenantA.key}, o.fairFlood, o.submitConc,
		e.whileQueued("fair-a-flood", o.fairFlood, &f.backlog, func(ctx context.Context) (err error) {
			f.bFlood, err = e.roundTrips(ctx, call{phase: "fair-b-flood", key: tenantB.key}, o.fairJobs)
			return err
		}))
	if err != nil {
		return err
	}
	progress("fair share: %d sync calls of the enterprise tenant, paired with direct calls", o.fairSync)
	if f.syncIdle, err = e.pairedSync(ctx, call{phase: "fair-sync-idle", key: tenantEnt.key}, o.fairSync); err != nil {
		return err
	}
	progress("fair share: the free tenant queues %d async jobs, then the enterprise tenant makes %d sync calls", o.fairFlood, o.fairSync)
	f.freeFlood, err = e.measureAsync(ctx, call{phase: "fair-free-flood", key: tenantFree.key}, o.fairFlood, o.submitConc,
		e.whileQueued("fair-free-flood", o.fairFlood, &f.syncBacklog, func(ctx context.Context) (err error) {
			f.syncFlood, err = e.pairedSync(ctx, call{phase: "fair-sync-flood", key: tenantEnt.key}, o.fairSync)
			return err
		}))
	if err != nil || o.plainBinary == "" {
		return err
	}
	f.vsPlain, err = e.comparePlain(ctx, o, progress)
	return err
}

// whileQueued wraps during, run once a flood of jobs calls of phase is
// submitted, to note in backlog how many of them had not reached the
// upstream yet when it began and when it ended.
func (e *env) whileQueued(phase string, jobs int, backlog *[2]int, during func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		backlog[0] = jobs - e.upstream.KeyCalls(phase)
		err := during(ctx)
		backlog[1] = jobs - e.upstream.KeyCalls(phase)
		return err
	}
}

// roundTrips makes n async calls c from fairClients clients, each waiting
// for its job's result (GET /v1/jobs/{id}?wait=10, answered when the job
// ends) before it submits the next, and summarizes the time from each
// submit to its result.
func (e *env) roundTrips(ctx context.Context, c call, n int) (stats, error) {
	s, err := runLoad(ctx, n, fairClients, func(ctx context.Context, _ int) error {
		id, err := e.submit(ctx, c)
		if err != nil {
			return err
		}
		j, err := e.getJobOf(ctx, c.key, id)
		if err != nil {
			return err
		}
		if j.Status != "succeeded" {
			return fmt.Errorf("job %s of %s ended %q, want succeeded", id, c.phase, j.Status)
		}
		return nil
	})
	if err != nil {
		return stats{}, err
	}
	return summarize(s), nil
}

// pairedSync makes n sync calls c, each after a direct call (runPaired).
func (e *env) pairedSync(ctx context.Context, c call, n int) (pairedRun, error) {
	d, s, err := runPaired(ctx, n, func(ctx context.Context) error { return e.direct(ctx, "fair-direct") },
		func(ctx context.Context, _ int) error {
			_, err := e.syncCall(ctx, c)
			return err
		})
	if err != nil {
		return pairedRun{}, err
	}
	return pairedRun{direct: summarize(d), calls: summarize(s)}, nil
}

// comparePlain measures async jobs/s of this build and of the plain-lane
// build at o.plainBinary, each on a fleet of its own started side by side
// (a fresh redis-server, one api, one worker, the bench's config), in
// alternating runs of o.jobs jobs, so that both see the same moments of a
// noisy machine.
func (e *env) comparePlain(ctx context.Context, o options, progress printer) ([]plainRun, error) {
	progress("fair share: a fleet of this build and one of the plain lane's (%s), side by side", o.plainBinary)
	fair, err := e.sideFleet(ctx, "fair", e.bin, o.concurrency)
	if err != nil {
		return nil, fmt.Errorf("this build's fleet: %w", err)
	}
	defer fair.close()
	plain, err := e.sideFleet(ctx, "plain", o.plainBinary, o.concurrency)
	if err != nil {
		return nil, fmt.Errorf("the plain lane's fleet: %w", err)
	}
	defer plain.close()
	runs := make([]plainRun, o.plainRuns)
	for i := range runs {
		progress("fair share: run %d of %d, %d async jobs on each build", i+1, o.plainRuns, o.jobs)
		if runs[i].fair, err = fair.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("vs-fair-%d", i)}, o.jobs, o.submitConc); err != nil {
			return nil, fmt.Errorf("this build's fleet: %w", fair.withLogs(err))
		}
		if runs[i].plain, err = plain.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("vs-plain-%d", i)}, o.jobs, o.submitConc); err != nil {
			return nil, fmt.Errorf("the plain lane's fleet: %w", plain.withLogs(err))
		}
	}
	return runs, nil
}

// sideFleet starts a fleet of bin for the comparison: a redis-server of its
// own, and one api and one worker with the bench's config on the bench's
// upstream. Its close stops them all.
func (e *env) sideFleet(ctx context.Context, name, bin string, concurrency int) (f *env, err error) {
	f = &env{client: e.client, upstream: e.upstream, llm: e.llm, hooks: e.hooks, bin: bin}
	defer func() {
		if err != nil {
			err = f.withLogs(err)
			f.close()
		}
	}()
	if f.dir, err = os.MkdirTemp(e.dir, name+"-"); err != nil {
		return f, err
	}
	if f.redis, err = testenv.StartRedisProcess(f.dir); err != nil {
		return f, err
	}
	f.defer_(f.redis.Stop)
	f.rdb = redis.NewClient(&redis.Options{Addr: f.redis.Addr})
	f.defer_(func() { f.rdb.Close() })
	path := filepath.Join(f.dir, "config.yaml")
	if err := benchConfig(e.upstream.URL, e.llm.url, concurrency).Write(path); err != nil {
		return f, err
	}
	if err := f.startReliAPI(ctx, path); err != nil {
		return f, err
	}
	return f, f.cpuPIDs(ctx)
}

// medians are the median async jobs/s of each build over the runs.
func (f fairResult) medians() (fair, plain float64) {
	var a, b []float64
	for _, r := range f.vsPlain {
		a = append(a, r.fair.perSecond)
		b = append(b, r.plain.perSecond)
	}
	return median(a), median(b)
}

// median is the middle value of xs (the mean of the two middle ones).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// fairTargets are issue 16's targets, each against its baseline of the
// same run.
func (r *report) fairTargets(add func(name, want, measured, baseline string, met bool)) {
	f := r.fair
	if f.bIdle.n > 0 && f.bFlood.n > 0 {
		x := float64(f.bFlood.p50) / float64(f.bIdle.p50)
		add(fmt.Sprintf("tenant B's async submit→result p50 while A (same tier) has %d jobs queued", r.opts.fairFlood), fmt.Sprintf("≤ %.0f× idle", targetFloodP50),
			fmt.Sprintf("%.2f× (%s)", x, ms(f.bFlood.p50)), "B alone "+ms(f.bIdle.p50), x <= targetFloodP50)
	}
	if f.aAlone.perSecond > 0 && f.aWithB.perSecond > 0 {
		x := f.aWithB.perSecond / f.aAlone.perSecond
		add("tenant A's jobs/s with B's jobs among its flood", fmt.Sprintf("≥ %.2f× alone", targetFloodShare),
			fmt.Sprintf("%.2f× (%.0f/s)", x, f.aWithB.perSecond), fmt.Sprintf("A alone %.0f/s", f.aAlone.perSecond), x >= targetFloodShare)
	}
	if f.syncIdle.calls.n > 0 && f.syncFlood.calls.n > 0 {
		x := float64(f.syncFlood.added()) / float64(f.syncIdle.added())
		add("enterprise tenant's sync added p50 while a free tenant floods", fmt.Sprintf("≤ %.0f× idle", targetFloodSync),
			fmt.Sprintf("%.2f× (%s)", x, ms(f.syncFlood.added())), "idle "+ms(f.syncIdle.added()), x <= targetFloodSync)
	}
	if len(f.vsPlain) > 0 {
		fair, plain := f.medians()
		x := fair / plain
		add("async jobs/s, fair lane vs plain lane (d2f713f), alternating runs", fmt.Sprintf("≥ %.2f×", targetFairVsPlain),
			fmt.Sprintf("%.2f× (%.0f/s)", x, fair), fmt.Sprintf("plain lane %.0f/s", plain), x >= targetFairVsPlain)
	}
}

func (r *report) printFairness(p printer) {
	f, o := r.fair, r.opts
	p("## 11. Fair share between tenants (issue 16)")
	p("")
	p("Tenants `%s` and `%s` (A and B, both %s: weight 4 each), `%s` (%s, weight 1) and `%s` (%s, weight 8), with no rate or concurrency limits. "+
		"B's async jobs come from %d clients, each submitting one (`Prefer: respond-async`) and waiting for its result (`GET /v1/jobs/{id}?wait=10`) before the next: the time is submit → result. "+
		"A's flood is %d async jobs from %d clients; B starts once all of A's are submitted. A's jobs/s counts from A's first submit to A's last completion.",
		tenantA.name, tenantB.name, tenantA.tier, tenantFree.name, tenantFree.tier, tenantEnt.name, tenantEnt.tier, fairClients, o.fairFlood, o.submitConc)
	p("")
	p("| run | B's jobs | B p50 | B p90 | B p99 | A's jobs/s | A's jobs not yet run when B began / ended |")
	p("|---|---:|---:|---:|---:|---:|---|")
	p("| B alone | %d | %s | %s | %s | | |", f.bIdle.n, ms(f.bIdle.p50), ms(f.bIdle.p90), ms(f.bIdle.p99))
	p("| A alone | | | | | %.0f | |", f.aAlone.perSecond)
	p("| A's flood queued, then B | %d | %s | %s | %s | %.0f | %d / %d |", f.bFlood.n, ms(f.bFlood.p50), ms(f.bFlood.p90), ms(f.bFlood.p99), f.aWithB.perSecond, f.backlog[0], f.backlog[1])
	p("")
	p("The enterprise tenant's sync calls (POST /v1/proxy/http without Prefer), each after a direct GET of the upstream (paired, as in section 1), alone and once the free tenant's flood of %d async jobs is submitted:", o.fairFlood)
	p("")
	p("| run | calls | direct p50 | sync p50 | **added p50** | sync p99 | free tenant's jobs not yet run when the calls began / ended |")
	p("|---|---:|---:|---:|---:|---:|---|")
	for _, row := range []struct {
		name    string
		run     pairedRun
		backlog string
	}{{"alone", f.syncIdle, ""}, {"free tenant's flood queued", f.syncFlood, fmt.Sprintf("%d / %d", f.syncBacklog[0], f.syncBacklog[1])}} {
		p("| %s | %d | %s | %s | **%s** | %s | %s |", row.name, row.run.calls.n, ms(row.run.direct.p50), ms(row.run.calls.p50), ms(row.run.added()), ms(row.run.calls.p99), row.backlog)
	}
	p("")
	r.printVsPlain(p)
}

// printVsPlain prints the fair lane's async throughput next to the plain
// lane's, or how to measure it.
func (r *report) printVsPlain(p printer) {
	f, o := r.fair, r.opts
	how := "`git worktree add /tmp/plain d2f713f && (cd /tmp/plain && go build -o /tmp/reliapi-plain ./cmd/reliapi)`, then `go run ./internal/bench -plain-binary /tmp/reliapi-plain`"
	if len(f.vsPlain) == 0 {
		p("The plain lane (a Redis list per shard, RPUSH/BLPOP; replaced by the fair queue in 9a51bea) was not measured: build its last version, d2f713f, and pass it, %s.", how)
		p("")
		return
	}
	p("Async jobs/s of this build next to the plain lane's (a Redis list per shard, RPUSH/BLPOP; the build of d2f713f, the parent of 9a51bea, which replaced it: %s). "+
		"Each build runs on a fleet of its own started side by side (a fresh redis-server, 1 api, 1 worker, the config above), %d jobs a run from %d clients as in section 2, the builds taking turns so that both see the same moments of the machine:", how, o.jobs, o.submitConc)
	p("")
	p("| run | fair lane jobs/s | plain lane jobs/s | fair / plain | fair lane CPU per job: all (redis, worker, api) | plain lane CPU per job: all (redis, worker, api) |")
	p("|---:|---:|---:|---:|---:|---:|")
	for i, run := range f.vsPlain {
		p("| %d | %.0f | %.0f | %.2f | %s | %s |", i+1, run.fair.perSecond, run.plain.perSecond, run.fair.perSecond/run.plain.perSecond, cpuSplit(run.fair.cpu), cpuSplit(run.plain.cpu))
	}
	fair, plain := f.medians()
	p("| median | **%.0f** | **%.0f** | **%.2f** | | |", fair, plain, fair/plain)
	p("")
	p("CPU per job is utime + stime of each fleet's processes over the run (as section 3; all includes the bench process: load generator and upstream). On 2 cores the jobs/s of a CPU-bound run follow the CPU a job costs.")
	p("")
}

// cpuSplit is CPU per job in all and of redis, worker and api, or n/a.
func cpuSplit(u *cpuUsage) string {
	if u == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s (%s, %s, %s)", us(u.total()), us(u[2]), us(u[1]), us(u[0]))
}

// jsonFair is the fair-share phase in results.json.
type jsonFair struct {
	BAlone      jsonStats  `json:"b_alone_submit_to_result"`
	BFlood      jsonStats  `json:"b_during_a_flood_submit_to_result"`
	AAlone      jsonRun    `json:"a_alone"`
	AWithB      jsonRun    `json:"a_with_b"`
	Backlog     [2]int     `json:"a_not_run_when_b_began_ended"`
	SyncAlone   jsonPaired `json:"enterprise_sync_alone"`
	SyncFlood   jsonPaired `json:"enterprise_sync_during_free_flood"`
	SyncBacklog [2]int     `json:"free_not_run_when_sync_began_ended"`
	VsPlain     []jsonVs   `json:"fair_vs_plain_lane,omitempty"`
}

type jsonPaired struct {
	Direct  jsonStats `json:"direct"`
	Sync    jsonStats `json:"sync"`
	AddedMS float64   `json:"added_p50_ms"`
}

type jsonVs struct {
	Fair  jsonRun `json:"fair"`
	Plain jsonRun `json:"plain"`
}

func (f fairResult) json() *jsonFair {
	paired := func(p pairedRun) jsonPaired { return jsonPaired{jsonOf(p.direct), jsonOf(p.calls), msf(p.added())} }
	out := &jsonFair{BAlone: jsonOf(f.bIdle), BFlood: jsonOf(f.bFlood), AAlone: runOf(f.aAlone), AWithB: runOf(f.aWithB), Backlog: f.backlog,
		SyncAlone: paired(f.syncIdle), SyncFlood: paired(f.syncFlood), SyncBacklog: f.syncBacklog}
	for _, r := range f.vsPlain {
		out.VsPlain = append(out.VsPlain, jsonVs{runOf(r.fair), runOf(r.plain)})
	}
	return out
}
