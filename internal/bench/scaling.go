package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// Workers scale out when jobs wait on their upstream: each worker process
// runs worker.concurrency jobs at once, so on an upstream that takes 50 ms
// one process finishes at most concurrency / 50 ms jobs a second, and more
// processes add to that until the CPU runs out. The scaling runs measure
// exactly that, with a small worker.concurrency so that a 2-core machine
// reaches the upstream's bound, not its own, with 1 and 2 processes.

// workerGrace bounds a worker's graceful shutdown (shutdown_timeout is 5 s).
const workerGrace = 15 * time.Second

// scaleRow is one scaling run.
type scaleRow struct {
	workers int
	res     asyncResult
}

// measureScaling stops the phases' worker, then for each count in
// o.scaleWorkers starts that many workers with worker.concurrency
// o.scaleConc and runs o.scaleJobs async jobs on an upstream that answers
// after o.scaleDelay. Afterwards one worker with the usual config takes
// over again.
func (e *env) measureScaling(ctx context.Context, o options, progress printer) ([]scaleRow, error) {
	cfgPath := filepath.Join(e.dir, "config-scaling.yaml")
	if err := benchConfig(e.upstream.URL, e.llm.url, o.scaleConc).Write(cfgPath); err != nil {
		return nil, err
	}
	// Only the scaling runs' jobs call the upstream meanwhile.
	e.upstream.SetDelay(o.scaleDelay)
	defer e.upstream.SetDelay(0)
	_ = e.worker.Terminate(workerGrace) // one killed after the grace is stopped all the same
	defer e.stopScaleWorkers()

	var rows []scaleRow
	for _, n := range o.scaleWorkers {
		e.stopScaleWorkers()
		for i := range n {
			w, err := e.startWorker(ctx, fmt.Sprintf("scale-worker-%d", i+1), cfgPath)
			if err != nil {
				return rows, err
			}
			e.scaleWorkers = append(e.scaleWorkers, w)
		}
		progress("worker scaling: %d jobs with %d worker process(es)", o.scaleJobs, n)
		res, err := e.measureAsyncOurs(ctx, call{phase: fmt.Sprintf("scale-%d", n)}, o.scaleJobs, o.submitConc)
		if err != nil {
			return rows, err
		}
		rows = append(rows, scaleRow{workers: n, res: res})
	}
	e.stopScaleWorkers()
	w, err := e.startWorker(ctx, "worker", filepath.Join(e.dir, "config.yaml"))
	if err != nil {
		return rows, err
	}
	e.worker = w
	e.pids[1] = w.Pid()
	return rows, nil
}

// stopScaleWorkers shuts the scaling workers down: all are signalled
// first, so that they drain side by side, then each is waited for.
func (e *env) stopScaleWorkers() {
	for _, w := range e.scaleWorkers {
		w.Signal(syscall.SIGTERM)
	}
	for _, w := range e.scaleWorkers {
		_ = w.Terminate(workerGrace) // one killed after the grace is stopped all the same
	}
	e.scaleWorkers = nil
}

func (r *report) printScaling(p printer) {
	o := r.opts
	p("## 9. Worker scaling")
	p("")
	p("%d async jobs per run, submitted by %d clients, on an upstream that answers after %v; each worker process runs %d jobs at once (worker.concurrency), so one process is bound to about %.0f jobs/s. jobs/s counts from the first submit to the last completion.",
		o.scaleJobs, o.submitConc, o.scaleDelay, o.scaleConc, float64(o.scaleConc)/o.scaleDelay.Seconds())
	p("")
	p("| worker processes | first submit → last done | jobs/s | × one process |")
	p("|---:|---:|---:|---:|")
	for _, row := range r.scaling {
		p("| %d | %s | %.0f | %.2f |", row.workers, ms(row.res.wall), row.res.perSecond, row.res.perSecond/r.scaling[0].res.perSecond)
	}
	p("")
}
