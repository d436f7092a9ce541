// Command bench measures ReliAPI against its own building blocks in one run,
// prints a markdown report and writes results.json and latency.png:
//
//   - the latency each way of calling through reliapi (sync, cache hit,
//     idempotent replay, async submit) adds over calling the upstream
//     directly, at several concurrencies, and the highest throughput whose
//     p99 added latency stays within 10 ms;
//   - asynchronous job throughput through api + worker, next to raw asynq on
//     the same Redis with the same worker settings;
//   - the Redis commands one call costs on each path;
//   - the latency an LLM call, and the first piece of a streamed one, adds
//     over calling the (fake) provider directly;
//   - async job throughput with a webhook per job next to without;
//   - job throughput with 1, 2 and 4 worker processes on a slow upstream;
//   - the api's and a worker's resident memory over a soak at a steady rate;
//   - what one tenant's flood of async jobs costs another tenant, and, with
//     -plain-binary, the fair lane's async throughput next to the plain
//     lane it replaced.
//
// It starts everything it needs (a private redis-server, a local upstream,
// `reliapi api` and `reliapi worker` processes) and stops it all on exit, on
// error and on Ctrl-C. Run it from the module root:
//
//	go run ./internal/bench [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	warmup        int           // sync requests of each kind before measuring
	levels        []int         // concurrencies of the latency sweep
	n1            int           // requests of each mode at concurrency 1
	n             int           // requests of each mode at every other concurrency
	jobs          int           // async jobs, ours and raw asynq each
	asyncRounds   int           // rounds of the async runs (ours, raw asynq, raw asynq + GET)
	submitConc    int           // concurrency of async submits and enqueues
	concurrency   int           // worker.concurrency, also raw asynq's
	checkInterval time.Duration // raw asynq's task_check_interval
	cmdRequests   int           // calls of each path for the Redis commands count
	llmN          int           // measured LLM calls of each kind
	webhookJobs   int           // async jobs of each run with or without webhooks
	webhookRuns   int           // runs with webhooks, each between two without
	scaleWorkers  []int         // worker processes of each scaling run
	scaleJobs     int           // async jobs of each scaling run
	scaleConc     int           // worker.concurrency of each scaling worker
	scaleDelay    time.Duration // the upstream's latency in the scaling runs
	soak          time.Duration // length of the memory soak
	soakRate      int           // sync calls per second during the soak
	idleWindow    time.Duration // how long idle Redis traffic is measured
	fleetWindow   time.Duration // how long the idle fleet's (api + 2 workers) is measured
	out           string        // directory for results.json and latency.png; none when empty
	timeout       time.Duration // bound on the whole run
	binary        string        // a reliapi binary to measure instead of building this tree's
	fairFlood     int           // async jobs of the flooding tenant in the fair-share phase
	fairJobs      int           // async jobs of the other tenant, each awaited
	fairSync      int           // sync calls of the enterprise tenant, idle and during a flood
	plainBinary   string        // a plain-lane reliapi binary to compare async jobs/s with; none when empty
	plainRuns     int           // alternating runs of each build with plainBinary
	only          []string      // phases to run; all when empty
}

// phaseNames are the phases of a run, in order, as -only names them.
var phaseNames = []string{"latency", "throughput", "costs", "scale", "fairness"}

// runs reports whether the run includes the named phase.
func (o *options) runs(phase string) bool { return len(o.only) == 0 || slices.Contains(o.only, phase) }

// register defines the flags on fs, with the full run's defaults.
func (o *options) register(fs *flag.FlagSet) {
	fs.IntVar(&o.warmup, "warmup", 200, "sync requests of each kind sent before measuring")
	fs.Func("levels", "comma-separated concurrencies of the latency sweep (default 1,2,4,8,16,32,64)", intList(&o.levels))
	fs.IntVar(&o.n1, "n1", 2000, "requests of each mode (direct, sync, cache hit, replay, submit) at concurrency 1")
	fs.IntVar(&o.n, "n", 3000, "requests of each mode at every other concurrency")
	fs.IntVar(&o.jobs, "jobs", 10000, "async jobs submitted (ours) and tasks enqueued (raw asynq); fewer make raw asynq's run too short to time (2,000 took 0.2 s)")
	fs.IntVar(&o.submitConc, "submit-concurrency", 32, "concurrent async submitters")
	fs.IntVar(&o.concurrency, "worker-concurrency", 64, "worker.concurrency, also used by the raw asynq server")
	fs.DurationVar(&o.checkInterval, "task-check-interval", time.Millisecond, "the raw asynq server's task_check_interval (reliapi runs with its defaults)")
	fs.IntVar(&o.cmdRequests, "cmd-requests", 300, "calls of each path (concurrency 1) used to count Redis commands per call")
	fs.IntVar(&o.llmN, "llm-n", 500, "measured LLM calls of each kind at concurrency 1 (direct and proxy each)")
	fs.IntVar(&o.webhookJobs, "webhook-jobs", 4000, "async jobs of each webhook run, with and without a webhook each")
	fs.IntVar(&o.asyncRounds, "async-rounds", 3, "rounds of the async throughput runs (reliapi, raw asynq, raw asynq + GET, one after the other, every other round in reverse); the round of median ratio is reported")
	fs.IntVar(&o.webhookRuns, "webhook-runs", 5, "runs with a webhook per job, each between two runs without; the one of median ratio is reported")
	fs.Func("scale-workers", "comma-separated worker process counts of the scaling runs (default 1,2,4)", intList(&o.scaleWorkers))
	fs.IntVar(&o.scaleJobs, "scale-jobs", 1000, "async jobs of each scaling run")
	fs.IntVar(&o.scaleConc, "scale-worker-concurrency", 8, "worker.concurrency of each worker in the scaling runs")
	fs.DurationVar(&o.scaleDelay, "scale-delay", 50*time.Millisecond, "the upstream's latency in the scaling runs")
	fs.DurationVar(&o.soak, "soak", 5*time.Minute, "length of the memory soak")
	fs.IntVar(&o.soakRate, "soak-rate", 100, "sync calls per second during the soak")
	fs.DurationVar(&o.idleWindow, "idle-window", time.Second, "how long idle Redis commands are counted before the commands batch")
	fs.DurationVar(&o.fleetWindow, "idle-fleet-window", 10*time.Second, "how long the Redis commands of an idle api and two workers are counted")
	fs.StringVar(&o.out, "out", "bench", "directory for results.json and latency.png (created; empty: write neither)")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	fs.StringVar(&o.binary, "binary", "", "measure this reliapi binary (e.g. an earlier build, to compare) instead of building this tree's")
	fs.IntVar(&o.fairFlood, "fair-flood", 5000, "async jobs one tenant floods the fleet with in the fair-share phase")
	fs.IntVar(&o.fairJobs, "fair-jobs", 100, "async jobs of the other tenant in the fair-share phase, from 10 clients each awaiting its result")
	fs.IntVar(&o.fairSync, "fair-sync", 100, "sync calls of the enterprise tenant, paired with direct calls, idle and during the free tenant's flood")
	fs.StringVar(&o.plainBinary, "plain-binary", "", "a reliapi binary of the plain lane (built from d2f713f) whose async jobs/s the fair-share phase measures next to this build's, in alternating runs")
	fs.IntVar(&o.plainRuns, "plain-runs", 3, "alternating runs of each build with -plain-binary")
	fs.Func("only", "comma-separated phases to run, of "+strings.Join(phaseNames, ", ")+" (default all; with it, results.json and latency.png are not written)", phaseList(&o.only))
}

// check fills the list defaults and rejects what cannot be measured.
func (o *options) check() error {
	if o.levels == nil {
		o.levels = []int{1, 2, 4, 8, 16, 32, 64}
	}
	if o.scaleWorkers == nil {
		o.scaleWorkers = []int{1, 2, 4}
	}
	if min(o.warmup, o.n1, o.n, o.jobs, o.asyncRounds, o.submitConc, o.concurrency, o.cmdRequests, o.llmN, o.webhookJobs, o.webhookRuns, o.scaleJobs, o.scaleConc, o.soakRate,
		o.fairFlood, o.fairJobs, o.fairSync, o.plainRuns) < 1 ||
		min(slices.Min(o.levels), slices.Min(o.scaleWorkers)) < 1 ||
		o.checkInterval <= 0 || o.idleWindow <= 0 || o.fleetWindow <= 0 || o.scaleDelay < 0 || o.soak <= 0 {
		return errors.New("every count, level, interval and window must be positive")
	}
	return nil
}

// phaseList parses a comma-separated list of phase names into *dst.
func phaseList(dst *[]string) func(string) error {
	return func(s string) error {
		*dst = nil
		for f := range strings.SplitSeq(s, ",") {
			if f = strings.TrimSpace(f); !slices.Contains(phaseNames, f) {
				return fmt.Errorf("%q is not a phase (%s)", f, strings.Join(phaseNames, ", "))
			}
			*dst = append(*dst, f)
		}
		return nil
	}
}

// intList parses a comma-separated list of integers into *dst.
func intList(dst *[]int) func(string) error {
	return func(s string) error {
		*dst = nil
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("%q is not a number", f)
			}
			*dst = append(*dst, n)
		}
		return nil
	}
}

func main() {
	var o options
	o.register(flag.CommandLine)
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run sets up the system, measures every phase and prints the report. The
// environment is torn down before run returns, whatever happens.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()

	progress := printer(func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%5.1fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	})
	progress("setting up redis-server, upstream, reliapi api and worker")
	e, err := setup(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.run(ctx, o, progress); err != nil {
		return e.withLogs(err)
	}
	e.rep.total = time.Since(start)
	e.rep.print(stdout)
	if o.out == "" || len(o.only) > 0 {
		// A partial run would overwrite a whole run's figures with holes.
		return nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if err := e.rep.writeJSON(filepath.Join(o.out, "results.json")); err != nil {
		return err
	}
	if err := e.rep.plotLatency(filepath.Join(o.out, "latency.png")); err != nil {
		return err
	}
	progress("wrote %s and %s", filepath.Join(o.out, "results.json"), filepath.Join(o.out, "latency.png"))
	return nil
}

// run measures the phases in order (those -only names), on a quiet system
// each time.
func (e *env) run(ctx context.Context, o options, progress printer) error {
	phases := map[string]func(context.Context, options, printer) error{
		"latency": e.runLatency, "throughput": e.runThroughput, "costs": e.runCosts, "scale": e.runScale, "fairness": e.runFairness,
	}
	for _, name := range phaseNames {
		if !o.runs(name) {
			continue
		}
		if err := phases[name](ctx, o, progress); err != nil {
			return err
		}
	}
	progress("done")
	return nil
}

// runLatency is the latency sweep: every mode at every concurrency.
func (e *env) runLatency(ctx context.Context, o options, progress printer) error {
	progress("latency sweep: warm-up")
	if err := e.warmUp(ctx, o.warmup); err != nil {
		return err
	}
	if err := e.prepareSweep(ctx); err != nil {
		return err
	}
	for _, conc := range o.levels {
		n := o.n
		if conc == 1 {
			n = o.n1
		}
		progress("latency sweep: %d requests of each mode at concurrency %d", n, conc)
		l, err := e.measureLevel(ctx, n, conc)
		if err != nil {
			return err
		}
		e.rep.levels = append(e.rep.levels, l)
	}
	return nil
}

// runThroughput is async job throughput, ours next to raw asynq's, in
// rounds of three runs one after the other, so that each ratio compares
// runs that shared a moment of a noisy machine; the round of median ratio
// is reported. Every other round runs them in reverse order: this box
// drifts within minutes, and a fixed order would hand the drift to the
// same run every time.
func (e *env) runThroughput(ctx context.Context, o options, progress printer) error {
	rounds := make([]asyncRound, o.asyncRounds)
	for i := range rounds {
		r := &rounds[i]
		note := func(what string) { progress("async throughput, round %d of %d: %d %s", i+1, len(rounds), o.jobs, what) }
		runs := []func() error{
			func() (err error) {
				note("jobs through reliapi")
				r.ours, err = e.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("async-%d", i)}, o.jobs, o.submitConc)
				return err
			},
			func() (err error) {
				note("tasks through raw asynq")
				r.raw, err = e.measureAsyncRaw(ctx, o.jobs, o.submitConc, o.concurrency, o.checkInterval, false)
				return err
			},
			func() (err error) {
				note("tasks through raw asynq calling the upstream")
				r.rawHTTP, err = e.measureAsyncRaw(ctx, o.jobs, o.submitConc, o.concurrency, o.checkInterval, true)
				return err
			},
		}
		if i%2 == 1 {
			slices.Reverse(runs)
		}
		for _, run := range runs {
			if err := run(); err != nil {
				return err
			}
		}
	}
	e.rep.asyncRounds = rounds
	m := medianRound(rounds)
	e.rep.ours, e.rep.raw, e.rep.rawHTTP = m.ours, m.raw, m.rawHTTP
	return nil
}

// runCosts is what a call costs Redis, LLM calls, webhooks, and the trace
// of one sync call.
func (e *env) runCosts(ctx context.Context, o options, progress printer) (err error) {
	if !o.runs("latency") {
		// The cache-hit and replay paths need the entry and the job the
		// sweep makes first.
		if err := e.prepareSweep(ctx); err != nil {
			return err
		}
	}
	progress("redis commands: %v idle, then %d calls of each path", o.idleWindow, o.cmdRequests)
	if e.rep.cmds, err = e.measureCommands(ctx, o.idleWindow, o.cmdRequests); err != nil {
		return err
	}
	if e.rep.paths, err = e.commandsPerPath(ctx, o.cmdRequests, e.rep.cmds); err != nil {
		return err
	}
	progress("redis commands: an idle fleet of 1 api and 2 workers for %v", o.fleetWindow)
	if e.rep.cmds.fleetPerSec, err = e.measureIdleFleet(ctx, o.fleetWindow); err != nil {
		return err
	}
	e.rep.cmds.fleetWindow = o.fleetWindow
	progress("llm: %d completions and %d streams, direct and through reliapi", o.llmN, o.llmN)
	if e.rep.llm, err = e.measureLLM(ctx, o.llmN, max(1, o.warmup/10)); err != nil {
		return err
	}
	progress("webhooks: %d runs of %d async jobs with a webhook each, each between two without", o.webhookRuns, o.webhookJobs)
	if e.rep.webhooks, err = e.measureWebhooks(ctx, o.webhookJobs, o.submitConc, o.webhookRuns); err != nil {
		return err
	}
	progress("tracing one sync call and one LLM completion with MONITOR")
	if e.rep.trace, err = e.traceCall(ctx, func(ctx context.Context) (string, error) { return e.proxySync(ctx, "trace") }); err != nil {
		return err
	}
	e.rep.traceLLM, err = e.traceCall(ctx, e.llmCompletion)
	return err
}

// runScale is worker scaling and the memory soak.
func (e *env) runScale(ctx context.Context, o options, progress printer) (err error) {
	progress("worker scaling: %d jobs on a %v upstream with %v worker processes", o.scaleJobs, o.scaleDelay, o.scaleWorkers)
	if e.rep.scaling, err = e.measureScaling(ctx, o, progress); err != nil {
		return err
	}
	progress("memory soak: %d sync calls/s for %v", o.soakRate, o.soak)
	e.rep.soak, err = e.measureSoak(ctx, o.soak, o.soakRate)
	return err
}
