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

// The webhook phase runs the async throughput measurement in pairs, one
// run after the other: without webhooks, and with a webhook per job to a
// receiver that takes receiverLatency to answer. Deliveries run on their
// own queue and pool, so job throughput should not suffer. A pair's runs
// share a moment of a noisy machine; the pair of median ratio is reported.

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

// webhookPair is one run without webhooks and the run with them after it.
type webhookPair struct {
	without, with asyncResult
	// delivered is how long after the first submit the last delivery was
	// accepted.
	delivered time.Duration
	// cpuWithout and cpuWith are the CPU per job of each run, the second
	// until its last delivery; cpuWithJobs is the second's until its last
	// job ended, the deliveries made by then included (nil without /proc).
	cpuWithout, cpuWith, cpuWithJobs *cpuUsage
	// deliveredByEnd is the share of the deliveries made by the time the
	// last job ended.
	deliveredByEnd float64
}

// ratio is the pair's jobs/s with webhooks over without.
func (w webhookPair) ratio() float64 { return w.with.perSecond / w.without.perSecond }

// webhookResult compares async throughput without and with webhooks over
// pairs of runs taken one after the other: the pair of median ratio, and
// all of them.
type webhookResult struct {
	webhookPair
	pairs []webhookPair
}

// measureWebhooks runs pairs of runs, each jobs async jobs without
// webhooks, then jobs with one each, waiting for every delivery.
func (e *env) measureWebhooks(ctx context.Context, jobs, conc, runs int) (webhookResult, error) {
	var res webhookResult
	for i := range runs {
		pair, err := e.measureWebhookPair(ctx, jobs, conc, i)
		if err != nil {
			return res, err
		}
		res.pairs = append(res.pairs, pair)
	}
	byRatio := slices.SortedFunc(slices.Values(res.pairs), func(a, b webhookPair) int { return cmp.Compare(a.ratio(), b.ratio()) })
	res.webhookPair = byRatio[len(byRatio)/2]
	return res, nil
}

// measureWebhookPair runs jobs async jobs without webhooks, then jobs with
// one each, and waits for every delivery; run numbers the pair's phases.
func (e *env) measureWebhookPair(ctx context.Context, jobs, conc, run int) (webhookPair, error) {
	var res webhookPair
	var err error
	cpu := e.startCPU()
	if res.without, err = e.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("hooks-off-%d", run)}, jobs, conc); err != nil {
		return res, err
	}
	res.cpuWithout = cpu.perCall(jobs)
	before := e.hooks.delivered.Load()
	cpu = e.startCPU()
	start := time.Now()
	if res.with, err = e.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("hooks-on-%d", run), hookURL: e.hooks.url}, jobs, conc); err != nil {
		return res, err
	}
	res.cpuWithJobs = cpu.perCall(jobs)
	res.deliveredByEnd = float64(e.hooks.delivered.Load()-before) / float64(jobs)
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
	p("%d pairs of runs of %d async jobs each, submitted by %d clients as in section 2: without webhooks, then with a webhook per job to a receiver that answers after %v (every delivery awaited before the next run). Deliveries run on a pool of their own in each worker (webhooks.concurrency 32 slots), first attempts taken from the webhook lane, their asynq tasks on the `webhooks` queue waiting as fallbacks.", len(w.pairs), w.with.jobs, r.opts.submitConc, receiverLatency)
	p("")
	p("| pair | without: first submit → last job done | jobs/s | with: first submit → last job done | jobs/s | with / without |")
	p("|---:|---:|---:|---:|---:|---:|")
	for i, pair := range w.pairs {
		p("| %d | %s | %.0f | %s | %.0f | %.2f |", i+1, ms(pair.without.wall), pair.without.perSecond, ms(pair.with.wall), pair.with.perSecond, pair.ratio())
	}
	p("")
	p("**with / without = %.2f** jobs/s (the pair of median ratio). Every webhook was delivered exactly once; in that pair the last %s after the first submit (%.0f deliveries/s end to end).",
		w.ratio(), ms(w.delivered), float64(w.with.jobs)/w.delivered.Seconds())
	p("")
	if w.cpuWithout != nil && w.cpuWith != nil && w.cpuWithJobs != nil {
		p("CPU per job in that pair, from the first submit until the last job ended, and for the run with webhooks also until the last delivery; the bench column includes the upstream and the receiver:")
		p("")
		p("| run | api | worker | redis | bench | total |")
		p("|---|---:|---:|---:|---:|---:|")
		for _, row := range []struct {
			name string
			u    *cpuUsage
		}{{"without webhooks", w.cpuWithout}, {"with webhooks, until the last job ended", w.cpuWithJobs}, {"with webhooks, until the last delivery", w.cpuWith}} {
			u := row.u
			p("| %s | %s | %s | %s | %s | %s |", row.name, us(u[0]), us(u[1]), us(u[2]), us(u[3]), us(u.total()))
		}
		p("")
		p("One delivery costs about %s of CPU here, %.0f%% of a job's: on a machine whose cores the jobs already fill, that is the throughput the deliveries take. Until the last job ended, %.0f%% of the deliveries were made (%.0f/s), and they and the webhooks' share of each job added %s per job.",
			us(w.cpuWith.total()-w.cpuWithout.total()), 100*float64(w.cpuWith.total()-w.cpuWithout.total())/float64(w.cpuWithout.total()),
			100*w.deliveredByEnd, w.deliveredByEnd*float64(w.with.jobs)/w.with.wall.Seconds(), us(w.cpuWithJobs.total()-w.cpuWithout.total()))
		p("")
	}
}
