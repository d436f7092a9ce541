// Command bench measures ReliAPI against its own building blocks in one run
// and prints a markdown report:
//
//   - the latency a synchronous proxy call adds over calling the upstream
//     directly, at concurrency 1 and 32;
//   - asynchronous job throughput through api + worker, next to raw asynq on
//     the same Redis with the same worker settings;
//   - how many Redis commands one synchronous call costs;
//   - the latency an LLM call, and the first piece of a streamed one, adds
//     over calling the (fake) provider directly;
//   - async job throughput with a webhook per job next to without.
//
// It starts everything it needs (a private redis-server, a local upstream,
// one `reliapi api` and one `reliapi worker` process) and stops it all on
// exit, on error and on Ctrl-C. Run it from the module root:
//
//	go run ./internal/bench [flags]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	warmup        int           // sync requests of each kind before measuring
	n1            int           // measured sync requests at concurrency 1
	n32           int           // measured sync requests at concurrency 32
	jobs          int           // async jobs, ours and raw asynq each
	submitConc    int           // concurrency of async submits and enqueues
	concurrency   int           // worker.concurrency, also raw asynq's
	checkInterval time.Duration // worker.task_check_interval, also raw asynq's
	cmdRequests   int           // sync requests for the Redis commands count
	llmN          int           // measured LLM calls of each kind
	webhookJobs   int           // async jobs without and with webhooks
	idleWindow    time.Duration // how long idle Redis traffic is measured
	timeout       time.Duration // bound on the whole run
}

func main() {
	var o options
	flag.IntVar(&o.warmup, "warmup", 200, "sync requests of each kind sent before measuring")
	flag.IntVar(&o.n1, "n1", 2000, "measured sync requests at concurrency 1 (direct and proxy each)")
	flag.IntVar(&o.n32, "n32", 5000, "measured sync requests at concurrency 32 (direct and proxy each)")
	flag.IntVar(&o.jobs, "jobs", 2000, "async jobs submitted (ours) and tasks enqueued (raw asynq)")
	flag.IntVar(&o.submitConc, "submit-concurrency", 32, "concurrent async submitters")
	flag.IntVar(&o.concurrency, "worker-concurrency", 64, "worker.concurrency, also used by the raw asynq server")
	flag.DurationVar(&o.checkInterval, "task-check-interval", time.Millisecond, "worker.task_check_interval, also used by the raw asynq server")
	flag.IntVar(&o.cmdRequests, "cmd-requests", 500, "sync requests (concurrency 1) used to count Redis commands per request")
	flag.IntVar(&o.webhookJobs, "webhook-jobs", 1000, "async jobs run without, then with, a webhook each")
	flag.IntVar(&o.llmN, "llm-n", 500, "measured LLM calls of each kind at concurrency 1 (direct and proxy each)")
	flag.DurationVar(&o.idleWindow, "idle-window", time.Second, "how long idle Redis commands are counted before the commands batch")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if min(o.warmup, o.n1, o.n32, o.jobs, o.submitConc, o.concurrency, o.cmdRequests, o.llmN, o.webhookJobs) < 1 || o.checkInterval <= 0 || o.idleWindow <= 0 {
		fmt.Fprintln(os.Stderr, "bench: every count, interval and window must be positive")
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
	return nil
}

// run measures the phases in order, on a quiet system each time.
func (e *env) run(ctx context.Context, o options, progress printer) error {
	progress("sync latency: warm-up")
	if err := e.warmUp(ctx, o.warmup); err != nil {
		return err
	}
	for _, c := range []struct{ n, conc int }{{o.n1, 1}, {o.n32, 32}} {
		progress("sync latency: %d requests at concurrency %d", c.n, c.conc)
		row, err := e.measureSync(ctx, c.n, c.conc)
		if err != nil {
			return err
		}
		e.rep.sync = append(e.rep.sync, row)
	}
	progress("async throughput: %d jobs through reliapi", o.jobs)
	ours, err := e.measureAsyncOurs(ctx, "async", o.jobs, o.submitConc, "")
	if err != nil {
		return err
	}
	progress("async throughput: %d tasks through raw asynq", o.jobs)
	raw, err := e.measureAsyncRaw(ctx, o.jobs, o.submitConc, o.concurrency, o.checkInterval, false)
	if err != nil {
		return err
	}
	progress("async throughput: %d tasks through raw asynq calling the upstream", o.jobs)
	rawHTTP, err := e.measureAsyncRaw(ctx, o.jobs, o.submitConc, o.concurrency, o.checkInterval, true)
	if err != nil {
		return err
	}
	e.rep.ours, e.rep.raw, e.rep.rawHTTP = ours, raw, rawHTTP
	progress("redis commands: %v idle, then %d sync requests", o.idleWindow, o.cmdRequests)
	cmds, err := e.measureCommands(ctx, o.idleWindow, o.cmdRequests)
	if err != nil {
		return err
	}
	e.rep.cmds = cmds
	progress("response cache: %d hits and %d uncached calls at concurrency 32", o.n32, o.n32)
	if e.rep.cache, err = e.measureCache(ctx, o.n32, 32, cmds.idlePerSec); err != nil {
		return err
	}
	progress("llm: %d completions and %d streams, direct and through reliapi", o.llmN, o.llmN)
	if e.rep.llm, err = e.measureLLM(ctx, o.llmN, max(1, o.warmup/10)); err != nil {
		return err
	}
	progress("webhooks: %d async jobs without, then %d with a webhook each", o.webhookJobs, o.webhookJobs)
	if e.rep.webhooks, err = e.measureWebhooks(ctx, o.webhookJobs, o.submitConc); err != nil {
		return err
	}
	progress("tracing one sync call with MONITOR")
	if e.rep.trace, err = e.traceCall(ctx); err != nil {
		return err
	}
	progress("done")
	return nil
}
