package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// fairTenant is one tenant of TestFairShareAcrossWorkers: its weight is
// its tier's (free 1, developer 2, pro 4).
type fairTenant struct {
	name, tier, key string
	weight          int
}

var fairTenants = []fairTenant{
	{"light", "free", "key-light", 1},
	{"medium", "developer", "key-medium", 2},
	{"heavy", "pro", "key-heavy", 4},
}

// fairJob is what the test reads back of one job.
type fairJob struct {
	tenant           int // index in fairTenants
	created, started time.Time
}

// TestFairShareAcrossWorkers is issue 16's fairness test: three tenants of
// weights 1, 2 and 4 queue async jobs on one api for three worker
// processes, and in every full second while all three have work queued
// the jobs started per tenant follow the weights within 10 %.
//
// The tenants queue in the order a FIFO would serve worst: all of heavy's
// jobs, then medium's, then light's, 1:2:4 in number so that all three
// stay backlogged for seconds. The upstream holds every call until
// everything is queued, so that the fair queue starts with all three
// backlogged (the first 24 jobs, one per worker slot, start before and
// are not counted); then a call takes 10 ms, so that the workers' slots,
// not the submitters, bound how fast jobs start.
func TestFairShareAcrossWorkers(t *testing.T) {
	t.Parallel()
	perWeight := 800 // jobs per unit of weight: 800, 1,600, 3,200; about 5 s of work
	if testing.Short() {
		perWeight = 400 // about 3 full windows
	}
	c := startCluster(t, 1, 3, func(cfg *testenv.Config) {
		cfg.Worker["concurrency"] = "8" // 24 slots in all
		// The first calls are held until everything is queued, however
		// long a loaded machine takes: they must not time out, nor open
		// the breaker for the rest.
		cfg.Targets["up"]["timeout_ms"] = "120000"
		cfg.Targets["up"]["circuit"] = "{error_threshold: 1000000}"
		cfg.Tenants = map[string]testenv.Section{}
		for _, tn := range fairTenants {
			cfg.Tenants[tn.name] = testenv.Section{
				"tier": tn.tier,
				// No limit refuses a call: only the workers hold them back.
				"limits":   "{rpm: 0, burst: 0, max_concurrent_jobs: 0, ip_rpm: 0, fingerprint_rpm: 0}",
				"api_keys": fmt.Sprintf("[{sha256: %x}]", sha256.Sum256([]byte(tn.key))),
			}
		}
	})
	gate := make(chan struct{})
	work := testenv.Answer(10*time.Millisecond, `{"ok":true}`)
	c.upstream.Handle("/work", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
			work(w, r)
		case <-r.Context().Done():
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	began := time.Now()
	ids := submitFair(t, client, c.apis[0], perWeight)
	released := time.Now()
	close(gate)
	jobs := readFairJobs(t, client, c.apis[0], ids)
	t.Logf("queued %d jobs in %v; all ended %v later", len(jobs), released.Sub(began).Round(time.Millisecond),
		time.Since(released).Round(time.Millisecond))
	rows, err := fairWindows(jobs, released)
	for _, r := range rows {
		t.Log(r)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// submitFair queues perWeight×weight jobs of each tenant, heavy's first
// and light's last, by 16 submitters, and returns their IDs by tenant.
func submitFair(t *testing.T, client *http.Client, api string, perWeight int) [][]string {
	t.Helper()
	type slot struct{ tenant, n int }
	var order []slot
	for i := len(fairTenants) - 1; i >= 0; i-- {
		for n := range perWeight * fairTenants[i].weight {
			order = append(order, slot{i, n})
		}
	}
	ids := make([][]string, len(fairTenants))
	for i, tn := range fairTenants {
		ids[i] = make([]string, perWeight*tn.weight)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(order) && !t.Failed(); i = int(next.Add(1)) - 1 {
				s := order[i]
				tc := &testenv.Client{APIKey: fairTenants[s.tenant].key, HTTP: client}
				r := tc.Call(t, "POST", api+"/v1/proxy/http",
					map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/work?n=%d", i)}, "Prefer", "respond-async")
				if r.Status != http.StatusAccepted {
					t.Errorf("job %d of %s: %d %s", s.n, fairTenants[s.tenant].name, r.Status, r.Raw)
					return
				}
				ids[s.tenant][s.n], _ = r.Body["id"].(string)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// readFairJobs waits for every job to end and reads when it was created
// and started.
func readFairJobs(t *testing.T, client *http.Client, api string, ids [][]string) []fairJob {
	t.Helper()
	var mu sync.Mutex
	var out []fairJob
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for tenant, list := range ids {
		tc := &testenv.Client{APIKey: fairTenants[tenant].key, HTTP: client}
		for _, id := range list {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				r := tc.Call(t, "GET", api+"/v1/jobs/"+id+"?wait=30", nil)
				created, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(r.Body["created_at"]))
				started, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(r.Body["started_at"]))
				if r.Status != http.StatusOK || r.Body["status"] != "succeeded" || err1 != nil || err2 != nil {
					t.Errorf("job %s: %d %s", id, r.Status, r.Raw)
					return
				}
				mu.Lock()
				out = append(out, fairJob{tenant: tenant, created: created, started: started})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// fairTolerance is how far a tenant's share of a window's starts may stray
// from its weight's share, relative to that share (issue 16: "within
// 10 %"). With weights 1, 2 and 4 the light tenant's share is 1/7 ≈ 14.3 %,
// so it must get 12.9 % to 15.7 % of every window's starts; heavy's 4/7 ≈
// 57.1 %, so 51.4 % to 62.9 %. The fair queue itself is exact to a job or
// two per window (a pop's order and its start's time can differ by the
// few milliseconds between the two round trips), far inside this at
// hundreds of starts a second; FIFO, or equal weights, is far outside it.
const fairTolerance = 0.10

// fairWindows splits the starts after from into full 1 s windows, from the
// first of them up to the moment the first tenant ran out of queued work
// (its last start), and returns a table of each tenant's starts per
// window, with an error naming every window where a tenant's share strays
// from weight/Σweights by more than fairTolerance of that share, or where
// a tenant did not have work queued all through the window (then the test
// did not measure what it says).
func fairWindows(jobs []fairJob, from time.Time) ([]string, error) {
	first, end := fairSpan(jobs, from)
	var weights float64
	for _, tn := range fairTenants {
		weights += float64(tn.weight)
	}
	rows := []string{"window    light          medium         heavy          (want 14.3 %, 28.6 %, 57.1 % ± 10 % of that)"}
	var problems []string
	for w := first; !w.Add(time.Second).After(end); w = w.Add(time.Second) {
		count, backlogged := fairCount(jobs, w, w.Add(time.Second))
		total := count[0] + count[1] + count[2]
		at := fmt.Sprintf("%4.1f s", w.Sub(first).Seconds())
		row := at
		for i, tn := range fairTenants {
			share := float64(count[i]) / float64(total)
			want := float64(tn.weight) / weights
			row += fmt.Sprintf("  %5d (%4.1f %%)", count[i], 100*share)
			switch {
			case !backlogged[i]:
				problems = append(problems, fmt.Sprintf("window at %s: %s did not have work queued all through it", at, tn.name))
			case math.Abs(share-want) > fairTolerance*want:
				problems = append(problems, fmt.Sprintf("window at %s: %s got %.1f %% of %d starts, want %.1f %% ± %.0f %% of that",
					at, tn.name, 100*share, total, 100*want, 100*fairTolerance))
			}
		}
		rows = append(rows, row)
	}
	switch {
	case len(rows) < 3:
		return rows, fmt.Errorf("only %d full 1 s windows while all three tenants had work: too few jobs for this machine", len(rows)-1)
	case len(problems) > 0:
		return rows, fmt.Errorf("starts did not follow the weights:\n%s", strings.Join(problems, "\n"))
	}
	return rows, nil
}

// fairSpan is the first start after from, and the moment the first tenant
// ran out of queued work: the earliest of the tenants' last starts. Jobs
// started before from were started while the upstream held every call,
// before the fair queue had everything.
func fairSpan(jobs []fairJob, from time.Time) (first, end time.Time) {
	last := make([]time.Time, len(fairTenants))
	for _, j := range jobs {
		if j.started.Before(from) {
			continue
		}
		if first.IsZero() || j.started.Before(first) {
			first = j.started
		}
		if j.started.After(last[j.tenant]) {
			last[j.tenant] = j.started
		}
	}
	return first, slices.MinFunc(last, time.Time.Compare)
}

// fairCount counts each tenant's starts in [from, to), and says whether it
// had work queued all through: a job created by from that started at
// to or later.
func fairCount(jobs []fairJob, from, to time.Time) (count [3]int, backlogged [3]bool) {
	for _, j := range jobs {
		if !j.started.Before(from) && j.started.Before(to) {
			count[j.tenant]++
		}
		if !j.created.After(from) && !j.started.Before(to) {
			backlogged[j.tenant] = true
		}
	}
	return count, backlogged
}

// TestFairWindows checks the judge of TestFairShareAcrossWorkers on made-up
// starts: 1:2:4 passes; 1:1:1 (equal weights) and a tenant with nothing
// queued fail.
func TestFairWindows(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// starts makes n jobs a second for each tenant over 3 s, in turn,
	// every one created at t0 (queued before the first window).
	starts := func(perSecond [3]int) []fairJob {
		var jobs []fairJob
		for s := range 3 {
			for tenant, n := range perSecond {
				for k := range n {
					at := t0.Add(time.Duration(s)*time.Second + time.Duration(k)*time.Second/time.Duration(n))
					jobs = append(jobs, fairJob{tenant: tenant, created: t0, started: at})
				}
			}
		}
		return jobs
	}
	if rows, err := fairWindows(starts([3]int{100, 200, 400}), t0); err != nil {
		t.Errorf("1:2:4 judged unfair: %v\n%s", err, strings.Join(rows, "\n"))
	}
	if _, err := fairWindows(starts([3]int{200, 200, 200}), t0); err == nil || !strings.Contains(err.Error(), "light got 33.3 %") {
		t.Errorf("1:1:1 judged fair: %v", err)
	}
	late := starts([3]int{100, 200, 400})
	for i := range late {
		if late[i].tenant == 0 {
			late[i].created = late[i].started // light's jobs queued only as they start
		}
	}
	if _, err := fairWindows(late, t0); err == nil || !strings.Contains(err.Error(), "light did not have work queued") {
		t.Errorf("a tenant with nothing queued went unnoticed: %v", err)
	}
}
