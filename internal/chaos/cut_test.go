package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// takeoverBound is how soon after a worker is cut off from Redis another
// worker must call the upstream again for each job it was running: the
// cut worker's claims lapse within the lease (5 s after their last
// renewal, at most 5 s / 3 before the cut), and the jobs' asynq tasks,
// which look again when a claim would lapse, take them over.
const takeoverBound = 10 * time.Second

// cutUpstreamDelay is how long the upstream takes while the cut is made,
// so that the cut worker has jobs in flight.
const cutUpstreamDelay = 2 * time.Second

// arrival is one call at the upstream: which worker made it, and when.
type arrival struct {
	worker string
	at     time.Time
}

// hookLog counts what a webhook receiver got, per job.
type hookLog struct {
	mu        sync.Mutex
	ids       map[string]map[string]bool // job → webhook-ids
	completed map[string]map[string]bool // job → completed_at values (one per end)
	got       map[string]int             // job → deliveries answered 2xx
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Data struct {
			ID          string `json:"id"`
			CompletedAt string `json:"completed_at"`
		} `json:"data"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	id := body.Data.ID
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids[id] == nil {
		h.ids[id], h.completed[id] = map[string]bool{}, map[string]bool{}
	}
	h.ids[id][r.Header.Get("webhook-id")] = true
	h.completed[id][body.Data.CompletedAt] = true
	h.got[id]++
	w.WriteHeader(http.StatusNoContent)
}

// TestWorkerCutOff: one of two workers loses Redis (its own TCP proxy
// blackholes every byte, connections left open, as a partition does)
// while it runs jobs, for a while, then gets it back. The jobs it held are
// called again by the other worker within takeoverBound of the cut (their
// claims lapse); when it comes back, its late outcomes are refused: no job
// ends twice (one end announced to its watchers, one webhook message), and a job is called twice at the upstream only when the cut
// worker had called it.
func TestWorkerCutOff(t *testing.T) {
	t.Parallel()
	hooks := &hookLog{ids: map[string]map[string]bool{}, completed: map[string]map[string]bool{}, got: map[string]int{}}
	rcv := httptest.NewServer(hooks)
	t.Cleanup(rcv.Close)
	f := newFleet(t, spec{
		// Each worker tags its upstream calls (X-Worker, from its own
		// environment), so the upstream tells which one called.
		up: testenv.Section{"cache": "{enabled: false}", "auth": "{type: api_key, env_var: CHAOS_WORKER, header: X-Worker}"},
		extra: `webhooks:
  allow_private_networks: true
  schedule_s: [0, 0, 1, 1, 1]
  secrets: {default: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}`,
	})
	calls := &callLog{byKey: map[string][]arrival{}}
	calls.delay.Store(int64(cutUpstreamDelay))
	f.up.Handle("/work", calls.serve)
	ends := watchEnds(t, f)
	f.workers = append(f.workers, f.startWorker(f.proxy.addr, "CHAOS_WORKER=healthy"))
	cutProxy := newTCPProxy(t, f.redis.Addr)
	f.workers = append(f.workers, f.startWorker(cutProxy.addr, "CHAOS_WORKER=cut"))
	client := f.client(30 * time.Second)

	submit := func(prefix string, n int) (ids, keys []string) {
		keys = make([]string, n)
		ids = submitAll(t, client, n, func(i int) map[string]any {
			keys[i] = fmt.Sprintf("%s-%d", prefix, i)
			return map[string]any{"target": "up", "method": "GET", "path": "/work", "headers": map[string]any{"X-Call": keys[i]},
				"webhook": map[string]any{"url": rcv.URL}}
		})
		ends.watch(t, ids)
		return ids, keys
	}
	start := time.Now()
	ids, keys := submit("cut", sized(40, 60))
	testenv.Eventually(t, 30*time.Second, "the worker to be cut off to run jobs", func() bool { return calls.arrived("cut", start) >= 5 })
	cutFor := time.Duration(sized(10, 30)) * time.Second
	cut := time.Now()
	// Jobs submitted during the cut: the cut worker's lane pops, blocked
	// in Redis, may take some (their answers held), whose asynq tasks
	// then run them elsewhere after the grace period; all must end
	// before the cut does.
	var duringIDs, duringKeys []string
	faultFor(cutFor, func() {
		cutProxy.blackhole()
		duringIDs, duringKeys = submit("during", sized(20, 40))
	}, cutProxy.heal)
	healed := time.Now()
	calls.delay.Store(int64(2 * time.Millisecond))
	// Back: the cut worker runs jobs again (and by then has sent what it
	// held back: its late outcomes, retried within a second). Its lane
	// popper returns to the lane once its calls on the dead connections
	// have timed out; the jobs keep coming until it has run one, or the
	// other worker would take a single burst alone.
	var moreIDs, moreKeys []string
	pace := time.NewTicker(100 * time.Millisecond)
	defer pace.Stop()
	for batch := 0; calls.arrived("cut", healed) == 0; batch++ {
		if time.Since(healed) > 30*time.Second {
			t.Fatal("timed out after 30s waiting for the cut worker to run a job after it got Redis back")
		}
		ids, keys := submit(fmt.Sprintf("after%d", batch), 5)
		moreIDs, moreKeys = append(moreIDs, ids...), append(moreKeys, keys...)
		<-pace.C
	}
	duringEnded := latestEnd(t, client, duringIDs)
	ids, keys = append(append(ids, duringIDs...), moreIDs...), append(append(keys, duringKeys...), moreKeys...)

	r := row{scenario: fmt.Sprintf("a worker cut off from Redis (blackholed) for %v", cutFor), accepted: len(ids)}
	for _, id := range ids {
		st, _ := jobStatus(client, id, time.Minute)
		r.tally(st)
	}
	testenv.Eventually(t, time.Minute, "every job's webhook", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return len(hooks.got) >= len(ids)
	})

	c := calls.verdict(keys, cut, healed)
	e := endsOf(ids, ends, hooks)
	r.dups = f.up.Duplicates()
	r.notes = fmt.Sprintf("%d jobs submitted during the cut, the last ended %v after the cut began; ", len(duringIDs), duringEnded.Sub(cut).Round(100*time.Millisecond)) +
		fmt.Sprintf("%d jobs in flight on the cut worker; %d called again by the other worker, the last %v after the cut (≤ %v); "+
			"jobs ended twice: %d; second webhook messages: %d (same message redelivered: %d); a second call for a job the cut worker did not hold: %d",
			c.held, c.takenOver, c.slowest.Round(100*time.Millisecond), takeoverBound, e.double, e.doubleHooks, e.redelivered, c.badSecond)
	record(r)
	why := append(c.why, e.why...)
	if r.lost > 0 || r.completed != len(ids) || e.double > 0 || e.unannounced > 0 || e.doubleHooks > 0 ||
		c.badSecond > 0 || c.held == 0 || c.takenOver == 0 || c.slowest > takeoverBound ||
		duringEnded.IsZero() || !duringEnded.Before(healed) {
		t.Errorf("%+v; %s", r, strings.Join(why[:min(10, len(why))], "; "))
	}
}

// latestEnd is when the last of ids ended (its completed_at), the zero
// time when one has not ended yet.
func latestEnd(t *testing.T, c *testenv.Client, ids []string) time.Time {
	t.Helper()
	var last time.Time
	for _, id := range ids {
		r, err := c.Send(context.Background(), "GET", "/v1/jobs/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r.Body["completed_at"]))
		if err != nil {
			return time.Time{}
		}
		if at.After(last) {
			last = at
		}
	}
	return last
}

// callLog is the upstream's /work for the cut scenario: it records who
// called for each job (X-Call) and when, and answers after delay.
type callLog struct {
	delay atomic.Int64 // time.Duration
	mu    sync.Mutex
	byKey map[string][]arrival // X-Call → arrivals, in order
}

func (l *callLog) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Call")
	l.mu.Lock()
	l.byKey[key] = append(l.byKey[key], arrival{r.Header.Get("X-Worker"), time.Now()})
	l.mu.Unlock()
	testenv.Answer(time.Duration(l.delay.Load()), `{"ok":true}`)(w, r)
}

// arrived counts the calls worker made after since.
func (l *callLog) arrived(worker string, since time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, as := range l.byKey {
		for _, a := range as {
			if a.worker == worker && a.at.After(since) {
				n++
			}
		}
	}
	return n
}

// takeovers is what the upstream saw of the jobs keys around a cut.
type takeovers struct {
	held      int           // jobs the cut worker called before the cut
	takenOver int           // jobs the other worker called again
	slowest   time.Duration // from the cut to the last of those calls
	badSecond int           // second calls that no lapsed claim explains
	why       []string
}

// verdict says which jobs were called twice, and whether each second
// call is a takeover: the first made by the cut worker before it got Redis
// back, the second (and last) by the other worker.
func (l *callLog) verdict(keys []string, cut, healed time.Time) takeovers {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v takeovers
	for _, k := range keys {
		as := l.byKey[k]
		if len(as) > 0 && as[0].worker == "cut" && as[0].at.Before(cut) {
			v.held++
		}
		if len(as) < 2 {
			continue
		}
		if as[0].worker != "cut" || !as[0].at.Before(healed) || len(as) > 2 || as[1].worker != "healthy" {
			v.badSecond++
			v.why = append(v.why, fmt.Sprintf("%s called %v", k, as))
			continue
		}
		v.takenOver++
		v.slowest = max(v.slowest, as[1].at.Sub(cut))
	}
	return v
}

// endings is how the jobs ended, as Redis announced them and as their
// webhooks told.
type endings struct {
	double      int // jobs announced as ended more than once
	unannounced int // jobs never announced: the count cannot be trusted
	doubleHooks int // jobs with a second webhook message (webhook-id or completed_at)
	redelivered int // the same message delivered again (at least once)
	why         []string
}

// endsOf reads, for each of ids, its end announcements and its webhooks.
func endsOf(ids []string, ends *endLog, hooks *hookLog) endings {
	ends.mu.Lock()
	defer ends.mu.Unlock()
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	var e endings
	for _, id := range ids {
		switch n := ends.n[id]; {
		case n == 0:
			e.unannounced++
			e.why = append(e.why, id+" never announced")
		case n > 1:
			e.double++
			e.why = append(e.why, fmt.Sprintf("%s ended %d times", id, n))
		}
		if len(hooks.ids[id]) > 1 || len(hooks.completed[id]) > 1 {
			e.doubleHooks++
			e.why = append(e.why, fmt.Sprintf("%s webhooks: ids %v, completed_at %v", id, hooks.ids[id], hooks.completed[id]))
		}
		e.redelivered += max(hooks.got[id]-1, 0)
	}
	return e
}

// endsChannel is the done channel the test watches jobs on, as an api
// replica watches the jobs its callers wait for.
const endsChannel = "reliapi:jobs:done:chaos"

// endLog counts the ends of the jobs it watches, per job: those announced
// to it, and those that had ended before it named itself their watcher.
type endLog struct {
	mu    sync.Mutex
	n     map[string]int
	store *jobs.Store
}

// watchEnds subscribes to the ends announced on the fleet's Redis (read
// directly, not through the proxy) for the jobs watch names, and on the
// shared channel (cancels, expiries), from now until the test ends.
func watchEnds(t *testing.T, f *fleet) *endLog {
	t.Helper()
	rdb := f.redis.Client(t)
	ps := rdb.Subscribe(context.Background(), endsChannel, "reliapi:jobs:done")
	for range 2 { // both subscriptions are in place
		if _, err := ps.Receive(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { ps.Close() })
	l := &endLog{n: map[string]int{}, store: jobs.NewStore(rdb, jobs.Config{})}
	go func() {
		for m := range ps.Channel() {
			id, _, _ := strings.Cut(m.Payload, "\n")
			l.mu.Lock()
			l.n[id]++
			l.mu.Unlock()
		}
	}()
	return l
}

// watch names the log's channel among the watchers of the default
// tenant's jobs ids, as a long poll does; a job that has ended already
// counts its end then.
func (l *endLog) watch(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		j, err := l.store.GetWatched(context.Background(), "default", id, endsChannel)
		if err != nil {
			t.Fatalf("watching job %s: %v", id, err)
		}
		if j.Status.Terminal() {
			l.mu.Lock()
			l.n[id]++
			l.mu.Unlock()
		}
	}
}
