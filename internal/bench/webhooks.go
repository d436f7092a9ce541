package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// The webhook phase times async throughput with a webhook per job to a
// receiver that takes receiverLatency to answer, each run with webhooks
// bracketed by two runs without: W H W H W … W. Deliveries run on their
// own queue and pool, so job throughput should not suffer. The machine
// drifts between runs seconds apart (and each run leaves records behind),
// so a run with webhooks is compared with the mean of the two runs around
// it, which cancels a drift in either direction; the bracket of median
// ratio is reported.

// receiverLatency is how long the bench's webhook receiver takes to answer.
const receiverLatency = 50 * time.Millisecond

// benchSecret signs the bench's webhooks.
const benchSecret = "whsec_YmVuY2gtb25seS13ZWJob29rLXNlY3JldC0xMjM0"

// hookReceiver counts the deliveries it accepted.
type hookReceiver struct {
	url       string
	srv       *http.Server
	delivered atomic.Int64
	last      atomic.Int64 // unix nanos of the latest delivery
}

func startHookReceiver() (*hookReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookReceiver{url: "http://" + l.Addr().String() + "/hook"}
	h.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select { // the receiver's own latency
		case <-time.After(receiverLatency):
		case <-r.Context().Done():
			return
		}
		h.delivered.Add(1)
		h.last.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	})}
	go h.srv.Serve(l)
	return h, nil
}

func (h *hookReceiver) close() { h.srv.Close() }

// webhookBracket is a run with webhooks and the runs without around it.
type webhookBracket struct {
	before, with, after asyncResult
	// delivered is how long after the first submit of the run with
	// webhooks the last delivery was accepted.
	delivered time.Duration
	// cpuWithout and cpuWith are the CPU per job of the run before and of
	// the run with webhooks, the second until its last delivery;
	// cpuWithJobs is the second's until its jobs were read back, the
	// deliveries made by then included (nil without /proc). Each run's
	// figure includes reading its jobs back once (measureAsync).
	cpuWithout, cpuWith, cpuWithJobs *cpuUsage
	// readBack is when, after the first submit, the run's jobs had been
	// read back, and deliveredByReadBack the share of the deliveries made
	// by then.
	readBack            time.Duration
	deliveredByReadBack float64
}

// withoutPerSecond is the jobs/s without webhooks the bracket's run with
// them is compared with: the mean of the runs before and after it.
func (b webhookBracket) withoutPerSecond() float64 {
	return (b.before.perSecond + b.after.perSecond) / 2
}

// ratio is the bracket's jobs/s with webhooks over without.
func (b webhookBracket) ratio() float64 { return b.with.perSecond / b.withoutPerSecond() }

// webhookResult compares async throughput with and without webhooks over
// brackets of runs: the bracket of median ratio, and all of them.
type webhookResult struct {
	webhookBracket
	brackets []webhookBracket
}

// ratios are every bracket's ratio, in the order they ran.
func (w webhookResult) ratios() []float64 {
	out := make([]float64, len(w.brackets))
	for i, b := range w.brackets {
		out[i] = b.ratio()
	}
	return out
}

// measureWebhooks runs brackets runs with a webhook per job, each between
// two without (a run without closes one bracket and opens the next), every
// run of jobs async jobs, waiting for every delivery before going on.
func (e *env) measureWebhooks(ctx context.Context, jobs, conc, brackets int) (webhookResult, error) {
	var res webhookResult
	before, cpuBefore, err := e.measureWithoutHooks(ctx, jobs, conc, 0)
	if err != nil {
		return res, err
	}
	for i := range brackets {
		b, err := e.measureWithHooks(ctx, jobs, conc, i)
		if err != nil {
			return res, err
		}
		b.before, b.cpuWithout = before, cpuBefore
		if before, cpuBefore, err = e.measureWithoutHooks(ctx, jobs, conc, i+1); err != nil {
			return res, err
		}
		b.after = before
		res.brackets = append(res.brackets, b)
	}
	byRatio := slices.SortedFunc(slices.Values(res.brackets), func(a, b webhookBracket) int { return cmp.Compare(a.ratio(), b.ratio()) })
	res.webhookBracket = byRatio[len(byRatio)/2]
	return res, nil
}

// measureWithoutHooks runs jobs async jobs without webhooks; run numbers
// the phase. It returns their CPU per job too.
func (e *env) measureWithoutHooks(ctx context.Context, jobs, conc, run int) (asyncResult, *cpuUsage, error) {
	cpu := e.startCPU()
	res, err := e.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("hooks-off-%d", run)}, jobs, conc)
	return res, cpu.perCall(jobs), err
}

// measureWithHooks runs jobs async jobs with a webhook each and waits for
// every delivery; run numbers the phase.
func (e *env) measureWithHooks(ctx context.Context, jobs, conc, run int) (webhookBracket, error) {
	var res webhookBracket
	var err error
	before := e.hooks.delivered.Load()
	cpu := e.startCPU()
	start := time.Now()
	if res.with, err = e.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("hooks-on-%d", run), hookURL: e.hooks.url}, jobs, conc); err != nil {
		return res, err
	}
	res.cpuWithJobs = cpu.perCall(jobs)
	res.readBack = time.Since(start)
	res.deliveredByReadBack = float64(e.hooks.delivered.Load()-before) / float64(jobs)
	err = testenv.Poll(ctx, completionTimeout, "every webhook to be delivered", func(context.Context) error {
		if got := e.hooks.delivered.Load() - before; got < int64(jobs) {
			return fmt.Errorf("%d of %d webhooks delivered", got, jobs)
		}
		return nil
	})
	if got := e.hooks.delivered.Load() - before; err == nil && got != int64(jobs) {
		err = fmt.Errorf("%d jobs' webhooks were delivered %d times", jobs, got)
	}
	res.delivered = time.Unix(0, e.hooks.last.Load()).Sub(start)
	res.cpuWith = cpu.perCall(jobs)
	return res, err
}

func (r *report) printWebhooks(p printer) {
	w := r.webhooks
	p("## 8. Webhooks")
	p("")
	p("%d runs of %d async jobs each with a webhook per job to a receiver that answers after %v, each between two runs without webhooks (W H W H … W: a run without closes one bracket and opens the next), all submitted by %d clients as in section 2; every delivery is awaited before the next run. A run with webhooks is compared with the mean of the two around it, which cancels the machine's drift between runs. Deliveries run on a pool of their own in each worker (webhooks.concurrency 32 slots), first attempts taken from the webhook lane, their asynq tasks on the `webhooks` queue waiting as fallbacks.", len(w.brackets), w.with.jobs, receiverLatency, r.opts.submitConc)
	p("")
	p("| bracket | without, before: jobs/s | with: first submit → last job done | jobs/s | without, after: jobs/s | with ÷ mean of without |")
	p("|---:|---:|---:|---:|---:|---:|")
	for i, b := range w.brackets {
		p("| %d | %.0f | %s | %.0f | %.0f | %.2f |", i+1, b.before.perSecond, ms(b.with.wall), b.with.perSecond, b.after.perSecond, b.ratio())
	}
	p("")
	p("**with / without = %.2f** jobs/s (the bracket of median ratio). Every webhook was delivered exactly once; in that bracket the last %s after the first submit (%.0f deliveries/s end to end).",
		w.ratio(), ms(w.delivered), float64(w.with.jobs)/w.delivered.Seconds())
	p("")
	if w.cpuWithout != nil && w.cpuWith != nil && w.cpuWithJobs != nil {
		p("CPU per job in that bracket, from the first submit until every job had ended and been read back once (without webhooks: the run before), and for the run with webhooks also until the last delivery; the bench column includes the upstream and the receiver:")
		p("")
		p("| run | api | worker | redis | bench | total |")
		p("|---|---:|---:|---:|---:|---:|")
		for _, row := range []struct {
			name string
			u    *cpuUsage
		}{{"without webhooks", w.cpuWithout}, {"with webhooks, until its jobs were read back", w.cpuWithJobs}, {"with webhooks, until the last delivery", w.cpuWith}} {
			u := row.u
			p("| %s | %s | %s | %s | %s | %s |", row.name, us(u[0]), us(u[1]), us(u[2]), us(u[3]), us(u.total()))
		}
		p("")
		p("One delivery costs about %s of CPU here, %.0f%% of a job's: on a machine whose cores the jobs already fill, that is the throughput the deliveries take. By the time the jobs were read back (%s after the first submit), %.0f%% of the deliveries were made (%.0f/s), and they and the webhooks' share of each job added %s per job.",
			us(w.cpuWith.total()-w.cpuWithout.total()), 100*float64(w.cpuWith.total()-w.cpuWithout.total())/float64(w.cpuWithout.total()),
			ms(w.readBack), 100*w.deliveredByReadBack, w.deliveredByReadBack*float64(w.with.jobs)/w.readBack.Seconds(), us(w.cpuWithJobs.total()-w.cpuWithout.total()))
		p("")
	}
}
