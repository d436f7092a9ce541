package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShortRun runs the whole report at a small size, as `make test` does,
// so that a change that breaks one of its paths (a failed call, a lost or
// repeated job, a webhook not delivered, a worker that does not scale out
// or come back, a section missing) fails CI. It checks what the run
// produced, never how fast it was: speed is measured by `make bench`.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, builds and runs reliapi processes")
	}
	o := options{
		warmup: 50, levels: []int{1, 8}, n1: 100, n: 200,
		jobs: 200, asyncRounds: 2, submitConc: 16, concurrency: 16, checkInterval: time.Millisecond,
		cmdRequests: 20, llmN: 20, webhookJobs: 100, webhookRuns: 2,
		scaleWorkers: []int{1, 2}, scaleJobs: 100, scaleConc: 4, scaleDelay: 20 * time.Millisecond,
		soak: 5 * time.Second, soakRate: 40, fairFlood: 300, fairJobs: 20, fairSync: 20, plainRuns: 1,
		idleWindow: 500 * time.Millisecond, fleetWindow: 500 * time.Millisecond, out: t.TempDir(), timeout: 4 * time.Minute,
	}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	var report, progress bytes.Buffer
	if err := run(context.Background(), o, &report, &progress); err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	for _, section := range []string{"## Targets", "## 1. Added latency", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7.", "## 8.", "## 9. Worker scaling", "## 10. Memory soak", "## 11. Fair share"} {
		if !strings.Contains(report.String(), section) {
			t.Errorf("report lacks %q", section)
		}
	}

	checkResultsJSON(t, o)
	checkLatencyPNG(t, o.out)
}

// checkResultsJSON checks that results.json in o.out holds every phase's
// figures.
func checkResultsJSON(t *testing.T, o options) {
	t.Helper()
	var res jsonResults
	b, err := os.ReadFile(filepath.Join(o.out, "results.json"))
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if len(res.AsyncRatios) != o.asyncRounds || res.Async["reliapi"].PerSecond <= 0 {
		t.Errorf("results.json has %d async rounds (want %d), reliapi's async run %+v", len(res.AsyncRatios), o.asyncRounds, res.Async["reliapi"])
	}
	if len(res.WebhookRatios) != o.webhookRuns || res.Webhooks["with"].PerSecond <= 0 {
		t.Errorf("results.json has %d webhook brackets (want %d), the run with webhooks %+v", len(res.WebhookRatios), o.webhookRuns, res.Webhooks["with"])
	}
	if len(res.Latency) != len(o.levels) {
		t.Errorf("results.json has %d latency levels, want %d", len(res.Latency), len(o.levels))
	}
	for _, l := range res.Latency {
		for _, m := range modes {
			if s := l.Modes[m]; s.N == 0 || s.PerSecond <= 0 || s.P50 <= 0 {
				t.Errorf("concurrency %d, %s: %+v", l.Concurrency, m, s)
			}
		}
	}
	// A sync call costs a few dozen commands (section 5 traces one); a
	// cache hit, a handful. Far more means a loop or a leak per call.
	for path, n := range res.Commands {
		if n <= 0 || n > 200 {
			t.Errorf("%s: %.1f Redis commands per call", path, n)
		}
	}
	if len(res.Scaling) != len(o.scaleWorkers) || len(res.Targets) == 0 || len(res.Soak.Samples) < 2 {
		t.Errorf("results.json lacks scaling runs, targets or soak samples: %d, %d, %d", len(res.Scaling), len(res.Targets), len(res.Soak.Samples))
	}
	if f := res.Fairness; f == nil || f.BAlone.N != o.fairJobs || f.BFlood.N != o.fairJobs || f.AWithB.PerSecond <= 0 || f.SyncFlood.Sync.N != o.fairSync {
		t.Errorf("results.json lacks the fair-share runs: %+v", f)
	}
}

// checkLatencyPNG checks that dir holds a latency.png of a sensible size.
func checkLatencyPNG(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "latency.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("latency.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("latency.png is %v", b)
	}
}

// TestOnlyFlag: -only takes known phase names and runs just those.
func TestOnlyFlag(t *testing.T) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.register(fs)
	if err := fs.Parse([]string{"-only", "fairness, costs"}); err != nil {
		t.Fatal(err)
	}
	if !o.runs("fairness") || !o.runs("costs") || o.runs("latency") {
		t.Errorf("-only fairness,costs runs %v", o.only)
	}
	if err := fs.Parse([]string{"-only", "fairness,speed"}); err == nil {
		t.Error("-only accepted an unknown phase")
	}
	if o = (options{}); !o.runs("latency") {
		t.Error("no -only does not run every phase")
	}
}
