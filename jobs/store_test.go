package jobs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// The task IDs of two deliveries: taskA is the one a job is created with,
// taskB a stale task of an earlier job with the same ID.
const (
	taskA = "task-a"
	taskB = "task-b"
)

// waitBound bounds every poll and every wait for a signal in these tests.
const waitBound = 10 * time.Second

// bundle is what one test works with: a private Redis and a Store on it.
type bundle struct {
	redis *testenv.Redis
	rdb   *redis.Client
	store *jobs.Store
}

func setup(t *testing.T, cfg jobs.Config) *bundle {
	t.Helper()
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	return &bundle{redis: r, rdb: rdb, store: jobs.NewStore(rdb, cfg)}
}

// newJobID returns a fresh ID shaped like the api's: "job_" and 32 hex digits.
func newJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return "job_" + hex.EncodeToString(b[:])
}

// jobKey and indexKey name the keys the package stores; they are part of
// the storage contract that other replicas and versions read.
func jobKey(id string) string       { return "reliapi:job:{" + id + "}" }
func indexKey(tenant string) string { return "reliapi:tenant:{" + tenant + "}:jobs" }
func newJob(id, tenant string) jobs.New {
	return jobs.New{
		ID: id, Tenant: tenant, Kind: reliapi.KindHTTP, Target: "payments",
		IdempotencyKey: "key-" + id, RequestHash: "hash-" + id, RequestID: "req-" + id,
		Queue: "default", TaskID: taskA,
	}
}

// create creates a fresh job of tenant and fails the test unless it is new.
func (b *bundle) create(t *testing.T, tenant string) *reliapi.Job {
	t.Helper()
	j, created, err := b.store.Create(t.Context(), newJob(newJobID(), tenant), nil)
	if err != nil || !created {
		t.Fatalf("Create = created %v, %v; want a new job", created, err)
	}
	return j
}

// get reads a job that must exist.
// awaitWatched waits until acme's job id names w's channel as its only
// watcher: w's first read of it has run.
func (b *bundle) awaitWatched(t *testing.T, w *jobs.Waiter, id string) {
	t.Helper()
	waitFor(t, "the waiter to name itself a watcher", func() bool {
		return slices.Equal(b.get(t, "acme", id).Watchers, []string{w.Channel()})
	})
}

func (b *bundle) get(t *testing.T, tenant, id string) *reliapi.Job {
	t.Helper()
	j, err := b.store.Get(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", tenant, id, err)
	}
	return j
}

func (b *bundle) start(t *testing.T, id, taskID string) *reliapi.Job {
	t.Helper()
	j, run, err := b.store.Start(t.Context(), id, jobs.Claim{TaskID: taskID}, nil)
	if err != nil || !run {
		t.Fatalf("Start(%s, %s) = run %v, %v; want run", id, taskID, run, err)
	}
	return j
}

func (b *bundle) finish(t *testing.T, id string, status reliapi.JobStatus, res *reliapi.Result) {
	t.Helper()
	ok, err := b.store.Finish(t.Context(), id, jobs.Claim{TaskID: taskA}, status, res, true, nil)
	if err != nil || !ok {
		t.Fatalf("Finish(%s, %s) = %v, %v; want recorded", id, status, ok, err)
	}
}

// redisNow reads the Redis clock, the one the scripts stamp jobs with.
func (b *bundle) redisNow(t *testing.T) time.Time {
	t.Helper()
	now, err := b.rdb.Time(t.Context()).Result()
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	return now
}

// nextMilli waits until the Redis clock is past the millisecond of after,
// so that a timestamp written from now on differs from one written before.
func (b *bundle) nextMilli(t *testing.T, after time.Time) {
	t.Helper()
	waitFor(t, "the Redis clock to pass "+after.String(), func() bool {
		return b.redisNow(t).UnixMilli() > after.UnixMilli()
	})
}

// waitFor polls cond until it holds, failing the test after waitBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, waitBound, what, cond)
}

// ttl reads the time to live of key.
func (b *bundle) ttl(t *testing.T, key string) time.Duration {
	t.Helper()
	d, err := b.rdb.TTL(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("TTL %s: %v", key, err)
	}
	return d
}

func (b *bundle) exists(t *testing.T, key string) bool {
	t.Helper()
	n, err := b.rdb.Exists(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("EXISTS %s: %v", key, err)
	}
	return n == 1
}

// okResult and failResult are outcomes as a worker records them.
var (
	okResult = &reliapi.Result{
		Data: json.RawMessage(`{"status_code":200,"headers":{"Content-Type":"application/json"},"body":{"ok":true}}`),
		Meta: reliapi.ResultMeta{Retries: 1},
	}
	failResult = &reliapi.Result{
		Error: &reliapi.Error{
			Code: reliapi.CodeServerError, Message: "upstream answered 503", Retryable: true,
			Source: reliapi.SourceUpstream, UpstreamStatus: 503, RetryAfter: 2 * time.Second,
			Details: map[string]any{"attempts": float64(3), "target": "payments"},
		},
		Meta: reliapi.ResultMeta{Retries: 2},
	}
)

func TestCreate(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()

	n := newJob(newJobID(), "acme")
	before := b.redisNow(t)
	j, created, err := b.store.Create(ctx, n, nil)
	after := b.redisNow(t)
	if err != nil || !created {
		t.Fatalf("Create = created %v, %v; want created", created, err)
	}
	if j.CreatedAt.UnixMilli() < before.UnixMilli() || j.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want Redis TIME between %v and %v", j.CreatedAt, before, after)
	}
	if d := time.Since(j.CreatedAt).Abs(); d > time.Minute {
		t.Errorf("CreatedAt = %v, %v away from now", j.CreatedAt, d)
	}
	want := &reliapi.Job{
		ID: n.ID, Tenant: "acme", Kind: reliapi.KindHTTP, Status: reliapi.JobQueued,
		Target: "payments", IdempotencyKey: n.IdempotencyKey, RequestHash: n.RequestHash,
		RequestID: n.RequestID, Queue: "default", TaskID: taskA, CreatedAt: j.CreatedAt,
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("Create returned\n%+v\nwant\n%+v", j, want)
	}
	if got := b.get(t, "acme", n.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("Get after Create =\n%+v\nwant\n%+v", got, want)
	}
	// The index is scored by the creating process's clock (the same
	// machine's here), the record by Redis TIME: they agree closely.
	score, err := b.rdb.ZScore(ctx, indexKey("acme"), n.ID).Result()
	if d := int64(score) - j.CreatedAt.UnixMilli(); err != nil || d < -1000 || d > 1000 {
		t.Errorf("index score = %v, %v; want about created_at %d", score, err, j.CreatedAt.UnixMilli())
	}
}

func TestCreateExistingIsUntouched(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()

	first := newJob(newJobID(), "acme")
	orig, created, err := b.store.Create(ctx, first, nil)
	if err != nil || !created {
		t.Fatalf("first Create = created %v, %v", created, err)
	}
	b.nextMilli(t, orig.CreatedAt)

	second := first
	second.RequestHash, second.TaskID, second.RequestID = "other-hash", taskB, "other-request"
	second.Target, second.Queue = "openai", "critical"
	got, created, err := b.store.Create(ctx, second, nil)
	if err != nil || created {
		t.Fatalf("second Create = created %v, %v; want the existing job", created, err)
	}
	if !reflect.DeepEqual(got, orig) {
		t.Errorf("second Create returned\n%+v\nwant the first record\n%+v", got, orig)
	}
	if stored := b.get(t, "acme", first.ID); !reflect.DeepEqual(stored, orig) {
		t.Errorf("stored job after second Create =\n%+v\nwant\n%+v", stored, orig)
	}

	// The existing record is returned whatever state it is in.
	b.start(t, first.ID, taskA)
	b.finish(t, first.ID, reliapi.JobSucceeded, okResult)
	finished := b.get(t, "acme", first.ID)
	got, created, err = b.store.Create(ctx, second, nil)
	if err != nil || created || !reflect.DeepEqual(got, finished) {
		t.Errorf("Create on a finished job = %+v, created %v, %v; want %+v", got, created, err, finished)
	}
	if n, _ := b.rdb.ZCard(ctx, indexKey("acme")).Result(); n != 1 {
		t.Errorf("index holds %d entries, want 1", n)
	}
}

// TestCreateSentAgainReadsAsCreated runs a create twice, as go-redis
// does when a network error hides the first one's answer: the second
// reads as the creation it repeats, not as an attach; a create of another
// submission (another task ID) still attaches.
func TestCreateSentAgainReadsAsCreated(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	n := newJob(newJobID(), "acme")
	first, created, err := b.store.Create(ctx, n, nil)
	if err != nil || !created {
		t.Fatalf("Create = created %v, %v", created, err)
	}
	b.nextMilli(t, first.CreatedAt)
	again, created, err := b.store.Create(ctx, n, nil)
	if err != nil || !created || !reflect.DeepEqual(again, first) {
		t.Fatalf("the same Create again = %+v, created %v, %v; want the job it created\n%+v", again, created, err, first)
	}
	other := n
	other.TaskID, other.RequestID = taskB, "other-request"
	if _, created, err := b.store.Create(ctx, other, nil); err != nil || created {
		t.Fatalf("another submission's Create: created %v, %v; want an attach", created, err)
	}
}

func TestCreateConcurrentlyCreatesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	id := newJobID()

	const n = 16
	type result struct {
		job     *reliapi.Job
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nj := newJob(id, "acme")
			// Each submission makes its own task ID.
			nj.RequestHash, nj.TaskID = "hash-"+string(rune('a'+i)), "task-"+string(rune('a'+i))
			j, created, err := b.store.Create(t.Context(), nj, nil)
			results[i] = result{j, created, err}
		})
	}
	wg.Wait()

	stored := b.get(t, "acme", id)
	winners := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("Create %d: %v", i, r.err)
		}
		if r.created {
			winners++
		}
		if r.job.RequestHash != stored.RequestHash || !r.job.CreatedAt.Equal(stored.CreatedAt) {
			t.Errorf("Create %d returned hash %q created %v; the stored job has %q %v",
				i, r.job.RequestHash, r.job.CreatedAt, stored.RequestHash, stored.CreatedAt)
		}
	}
	if winners != 1 {
		t.Errorf("%d concurrent Creates reported created, want exactly 1", winners)
	}
}

func TestCreateDistinctIDsAreIndependent(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})

	j1 := b.create(t, "acme")
	j2 := b.create(t, "acme")
	b.start(t, j1.ID, taskA)
	if _, err := b.store.Cancel(t.Context(), "acme", j1.ID); err != nil {
		t.Fatal(err)
	}
	if got := b.get(t, "acme", j1.ID); got.Status != reliapi.JobCanceled {
		t.Errorf("first job status = %s, want canceled", got.Status)
	}
	if got := b.get(t, "acme", j2.ID); !reflect.DeepEqual(got, j2) {
		t.Errorf("second job changed with the first:\n%+v\nwant\n%+v", got, j2)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		retention time.Duration
		want      time.Duration
	}{
		{"default", 0, 24 * time.Hour},
		{"configured", time.Hour, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{Retention: tt.retention})
			ctx := t.Context()
			inRange := func(what string, got, want time.Duration) {
				t.Helper()
				if got <= want-time.Minute || got > want {
					t.Errorf("TTL of %s = %v, want about %v", what, got, want)
				}
			}

			j := b.create(t, "acme")
			inRange("a new job", b.ttl(t, jobKey(j.ID)), tt.want)
			inRange("the index", b.ttl(t, indexKey("acme")), tt.want+time.Hour)

			// Finishing keeps the record for another retention period.
			b.rdb.Expire(ctx, jobKey(j.ID), time.Minute)
			b.start(t, j.ID, taskA)
			if got := b.ttl(t, jobKey(j.ID)); got > time.Minute {
				t.Errorf("TTL after Start = %v, want it unchanged (at most 1m)", got)
			}
			b.finish(t, j.ID, reliapi.JobSucceeded, okResult)
			inRange("a finished job", b.ttl(t, jobKey(j.ID)), tt.want)

			// So does canceling.
			c := b.create(t, "acme")
			b.rdb.Expire(ctx, jobKey(c.ID), time.Minute)
			if _, err := b.store.Cancel(ctx, "acme", c.ID); err != nil {
				t.Fatal(err)
			}
			inRange("a canceled job", b.ttl(t, jobKey(c.ID)), tt.want)
		})
	}
}

func TestCreateTrimsExpiredIndexEntries(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{Retention: time.Hour})
	ctx := t.Context()

	now := b.redisNow(t).UnixMilli()
	stale, fresh := newJobID(), newJobID()
	b.rdb.ZAdd(ctx, indexKey("acme"),
		redis.Z{Score: float64(now - 2*time.Hour.Milliseconds()), Member: stale},
		redis.Z{Score: float64(now - 30*time.Minute.Milliseconds()), Member: fresh})
	j := b.create(t, "acme")

	got, err := b.rdb.ZRange(ctx, indexKey("acme"), 0, -1).Result()
	if want := []string{fresh, j.ID}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("index after Create = %v, %v; want %v (entries past retention trimmed)", got, err, want)
	}
}

// A create trims the index and renews its expiry once a second per
// tenant; the creates in between only add their entries.
func TestIndexUpkeepOncePerSecond(t *testing.T) {
	t.Parallel()
	s := jobs.NewStore(nil, jobs.Config{})
	const t0 = int64(1_800_000_000_000)
	steps := []struct {
		tenant string
		at     int64
		want   bool
	}{
		{"acme", t0, true},
		{"acme", t0 + 1, false},
		{"globex", t0 + 1, true}, // each tenant has its own second
		{"acme", t0 + 999, false},
		{"acme", t0 + 1000, true},
		{"acme", t0 + 1500, false},
		{"globex", t0 + 1000, false},
		{"globex", t0 + 1001, true},
	}
	for _, st := range steps {
		if got := s.IndexUpkeepDue(st.tenant, st.at); got != st.want {
			t.Errorf("upkeep due for %s at t0+%d ms = %v, want %v", st.tenant, st.at-t0, got, st.want)
		}
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	j := b.create(t, "acme")

	tests := []struct {
		name, tenant, id string
		wantErr          error
	}{
		{"own job", "acme", j.ID, nil},
		{"another tenant's job", "globex", j.ID, reliapi.ErrNotFound},
		{"missing job", "acme", newJobID(), reliapi.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.store.Get(t.Context(), tt.tenant, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && got != nil {
				t.Errorf("Get returned %+v with the error, want nil", got)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(got, j) {
				t.Errorf("Get = %+v, want %+v", got, j)
			}
		})
	}
}

// TestConcurrentReads: reads made at once, which share round trips with
// each other and with creates, each get their own job, or ErrNotFound for
// another tenant's.
func TestConcurrentReads(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	var ids []string
	for range 8 {
		ids = append(ids, b.create(t, "acme").ID)
	}
	const readers = 64
	errs := make(chan error, readers)
	for i := range readers {
		go func() {
			id, tenant := ids[i%len(ids)], []string{"acme", "globex"}[i/len(ids)%2]
			var (
				j   *reliapi.Job
				err error
			)
			if i%3 == 0 {
				j, err = b.store.GetWatched(t.Context(), tenant, id, "done:replica")
			} else {
				j, err = b.store.Get(t.Context(), tenant, id)
			}
			switch {
			case tenant == "globex" && !errors.Is(err, reliapi.ErrNotFound):
				err = fmt.Errorf("another tenant read %s: %v, %v", id, j, err)
			case tenant == "acme" && (err != nil || j.ID != id):
				err = fmt.Errorf("read of %s = %v, %v", id, j, err)
			default:
				err = nil
			}
			errs <- err
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	gone, kept := b.create(t, "acme"), b.create(t, "acme")

	if err := b.store.Delete(ctx, "acme", gone.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.store.Get(ctx, "acme", gone.ID); !errors.Is(err, reliapi.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if b.exists(t, jobKey(gone.ID)) {
		t.Error("the job's hash survived Delete")
	}
	members, _ := b.rdb.ZRange(ctx, indexKey("acme"), 0, -1).Result()
	if want := []string{kept.ID}; !reflect.DeepEqual(members, want) {
		t.Errorf("index after Delete = %v, want %v", members, want)
	}
	if err := b.store.Delete(ctx, "acme", gone.ID); err != nil {
		t.Errorf("deleting a missing job = %v, want nil", err)
	}

	// A retry of the same request starts afresh.
	j, created, err := b.store.Create(ctx, newJob(gone.ID, "acme"), nil)
	if err != nil || !created || j.Status != reliapi.JobQueued {
		t.Errorf("Create after Delete = %+v, created %v, %v; want a new queued job", j, created, err)
	}
}

// outcome is what one call of a transition returned.
type outcome struct {
	job *reliapi.Job // Start's job, Cancel's job
	ok  bool         // Start's run, Finish's recorded
	was reliapi.JobStatus
	err error
}

type action struct {
	name       string
	returnsJob bool // the call returns the job when it exists
	do         func(ctx context.Context, s *jobs.Store, id string) outcome
}

func start(taskID string) action {
	return action{"Start(" + taskID + ")", true, func(ctx context.Context, s *jobs.Store, id string) outcome {
		j, run, err := s.Start(ctx, id, jobs.Claim{TaskID: taskID}, nil)
		return outcome{job: j, ok: run, err: err}
	}}
}

func finish(taskID string, status reliapi.JobStatus, res *reliapi.Result) action {
	return action{"Finish(" + taskID + "," + string(status) + ")", false, func(ctx context.Context, s *jobs.Store, id string) outcome {
		ok, err := s.Finish(ctx, id, jobs.Claim{TaskID: taskID}, status, res, true, nil)
		return outcome{ok: ok, err: err}
	}}
}

func cancel(tenant string) action {
	return action{"Cancel(" + tenant + ")", true, func(ctx context.Context, s *jobs.Store, id string) outcome {
		c, err := s.Cancel(ctx, tenant, id)
		return outcome{job: c.Job, ok: err == nil, was: c.Was, err: err}
	}}
}

// reach creates a job of tenant "acme" carried by taskA and drives it to
// state; "missing" names a job that was never created.
func (b *bundle) reach(t *testing.T, state string) (id string) {
	t.Helper()
	if state == "missing" {
		return newJobID()
	}
	id = b.create(t, "acme").ID
	ctx := t.Context()
	switch state {
	case "queued":
	case "running":
		b.start(t, id, taskA)
	case "redelivered":
		b.start(t, id, taskA)
		b.start(t, id, taskA)
	case "succeeded":
		b.start(t, id, taskA)
		b.finish(t, id, reliapi.JobSucceeded, okResult)
	case "failed":
		b.start(t, id, taskA)
		b.finish(t, id, reliapi.JobFailed, failResult)
	case "canceled":
		if _, err := b.store.Cancel(ctx, "acme", id); err != nil {
			t.Fatal(err)
		}
	case "canceled-running":
		b.start(t, id, taskA)
		if _, err := b.store.Cancel(ctx, "acme", id); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown state %q", state)
	}
	return id
}

// TestTransitions drives the job state machine through every transition
// from every state that matters.
func TestTransitions(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		from string
		act  action

		wantErr    error // errors.Is; errAny for any error
		wantOK     bool
		wantWas    reliapi.JobStatus // Cancel only
		unchanged  bool              // the record must be exactly as before
		wantStatus reliapi.JobStatus
		wantTries  int
		// wantStarted: "kept" (as before), "new" (stamped by this call) or
		// "zero".
		wantStarted   string
		wantCompleted bool // stamped by this call
		wantResult    *reliapi.Result
	}{
		// Start.
		{name: "start queued", from: "queued", act: start(taskA),
			wantOK: true, wantStatus: reliapi.JobRunning, wantTries: 1, wantStarted: "new"},
		{name: "redelivery restarts running job", from: "running", act: start(taskA),
			wantOK: true, wantStatus: reliapi.JobRunning, wantTries: 2, wantStarted: "kept"},
		{name: "third delivery", from: "redelivered", act: start(taskA),
			wantOK: true, wantStatus: reliapi.JobRunning, wantTries: 3, wantStarted: "kept"},
		{name: "stale task on queued job", from: "queued", act: start(taskB), unchanged: true},
		{name: "stale task on running job", from: "running", act: start(taskB), unchanged: true},
		{name: "start succeeded", from: "succeeded", act: start(taskA), unchanged: true},
		{name: "start failed", from: "failed", act: start(taskA), unchanged: true},
		{name: "start canceled", from: "canceled", act: start(taskA), unchanged: true},
		{name: "start canceled while running", from: "canceled-running", act: start(taskA), unchanged: true},
		{name: "start missing", from: "missing", act: start(taskA)},

		// Finish.
		{name: "finish succeeded", from: "running", act: finish(taskA, reliapi.JobSucceeded, okResult),
			wantOK: true, wantStatus: reliapi.JobSucceeded, wantTries: 1, wantStarted: "kept",
			wantCompleted: true, wantResult: okResult},
		{name: "finish failed", from: "running", act: finish(taskA, reliapi.JobFailed, failResult),
			wantOK: true, wantStatus: reliapi.JobFailed, wantTries: 1, wantStarted: "kept",
			wantCompleted: true, wantResult: failResult},
		{name: "finish after redelivery", from: "redelivered", act: finish(taskA, reliapi.JobSucceeded, okResult),
			wantOK: true, wantStatus: reliapi.JobSucceeded, wantTries: 2, wantStarted: "kept",
			wantCompleted: true, wantResult: okResult},
		// Redis acknowledged the Start, then lost it in a restart (append-only
		// file replay) while the task survived and ran: the outcome counts.
		{name: "finish queued whose start was lost", from: "queued", act: finish(taskA, reliapi.JobSucceeded, okResult),
			wantOK: true, wantStatus: reliapi.JobSucceeded, wantTries: 1, wantStarted: "new",
			wantCompleted: true, wantResult: okResult},
		{name: "finish queued by stale task", from: "queued", act: finish(taskB, reliapi.JobSucceeded, okResult), unchanged: true},
		{name: "finish canceled", from: "canceled", act: finish(taskA, reliapi.JobSucceeded, okResult), unchanged: true},
		{name: "finish by stale task", from: "running", act: finish(taskB, reliapi.JobSucceeded, okResult), unchanged: true},
		{name: "finish twice", from: "succeeded", act: finish(taskA, reliapi.JobFailed, failResult), unchanged: true},
		{name: "finish after cancel", from: "canceled-running", act: finish(taskA, reliapi.JobSucceeded, okResult), unchanged: true},
		{name: "finish missing", from: "missing", act: finish(taskA, reliapi.JobSucceeded, okResult)},
		{name: "finish as running", from: "running", act: finish(taskA, reliapi.JobRunning, okResult),
			wantErr: errAny, unchanged: true},
		{name: "finish as canceled", from: "running", act: finish(taskA, reliapi.JobCanceled, okResult),
			wantErr: errAny, unchanged: true},
		{name: "finish as unknown", from: "running", act: finish(taskA, "done", okResult),
			wantErr: errAny, unchanged: true},

		// Cancel.
		{name: "cancel queued", from: "queued", act: cancel("acme"),
			wantOK: true, wantWas: reliapi.JobQueued, wantStatus: reliapi.JobCanceled, wantStarted: "zero",
			wantCompleted: true},
		{name: "cancel running", from: "running", act: cancel("acme"),
			wantOK: true, wantWas: reliapi.JobRunning, wantStatus: reliapi.JobCanceled, wantTries: 1,
			wantStarted: "kept", wantCompleted: true},
		{name: "cancel succeeded", from: "succeeded", act: cancel("acme"),
			wantOK: true, wantWas: reliapi.JobSucceeded, unchanged: true},
		{name: "cancel failed", from: "failed", act: cancel("acme"),
			wantOK: true, wantWas: reliapi.JobFailed, unchanged: true},
		{name: "cancel canceled", from: "canceled", act: cancel("acme"),
			wantOK: true, wantWas: reliapi.JobCanceled, unchanged: true},
		{name: "cancel by another tenant", from: "queued", act: cancel("globex"),
			wantErr: reliapi.ErrNotFound, unchanged: true},
		{name: "cancel running by another tenant", from: "running", act: cancel("globex"),
			wantErr: reliapi.ErrNotFound, unchanged: true},
		{name: "cancel missing", from: "missing", act: cancel("acme"), wantErr: reliapi.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			ctx := t.Context()
			id := b.reach(t, tt.from)

			var before *reliapi.Job
			if tt.from != "missing" {
				before = b.get(t, "acme", id)
				// Let the clock move on, so a timestamp this call writes
				// differs from any written before.
				b.nextMilli(t, b.redisNow(t))
			}
			got := tt.act.do(ctx, b.store, id)

			switch {
			case tt.wantErr == errAny:
				if got.err == nil {
					t.Fatalf("%s: no error, want one", tt.act.name)
				}
			case !errors.Is(got.err, tt.wantErr):
				t.Fatalf("%s: error %v, want %v", tt.act.name, got.err, tt.wantErr)
			}
			if got.ok != tt.wantOK {
				t.Errorf("%s: ok = %v, want %v", tt.act.name, got.ok, tt.wantOK)
			}
			if got.was != tt.wantWas {
				t.Errorf("%s: Was = %q, want %q", tt.act.name, got.was, tt.wantWas)
			}

			if tt.from == "missing" {
				if got.job != nil {
					t.Errorf("%s on a missing job returned %+v, want nil", tt.act.name, got.job)
				}
				if b.exists(t, jobKey(id)) {
					t.Errorf("%s on a missing job created a record", tt.act.name)
				}
				return
			}
			after := b.get(t, "acme", id)
			if got.job != nil && !reflect.DeepEqual(got.job, after) {
				t.Errorf("%s returned\n%+v\nbut the stored job is\n%+v", tt.act.name, got.job, after)
			}
			if got.err == nil && tt.act.returnsJob && got.job == nil {
				t.Errorf("%s returned no job for an existing one", tt.act.name)
			}
			if tt.unchanged {
				if !reflect.DeepEqual(after, before) {
					t.Errorf("%s changed the job:\n%+v\nwant it untouched\n%+v", tt.act.name, after, before)
				}
				return
			}

			if after.Status != tt.wantStatus || after.Attempts != tt.wantTries {
				t.Errorf("after %s: status %s, attempts %d; want %s, %d",
					tt.act.name, after.Status, after.Attempts, tt.wantStatus, tt.wantTries)
			}
			switch tt.wantStarted {
			case "kept":
				if before.StartedAt.IsZero() || !after.StartedAt.Equal(before.StartedAt) {
					t.Errorf("StartedAt = %v, want it kept at %v", after.StartedAt, before.StartedAt)
				}
			case "new":
				if !after.StartedAt.After(before.CreatedAt) {
					t.Errorf("StartedAt = %v, want it stamped after CreatedAt %v", after.StartedAt, before.CreatedAt)
				}
			case "zero":
				if !after.StartedAt.IsZero() {
					t.Errorf("StartedAt = %v, want zero", after.StartedAt)
				}
			}
			if tt.wantCompleted {
				if !after.CompletedAt.After(before.CreatedAt) || !after.CompletedAt.After(before.StartedAt) {
					t.Errorf("CompletedAt = %v, want it stamped now (created %v, started %v)",
						after.CompletedAt, before.CreatedAt, before.StartedAt)
				}
			} else if !after.CompletedAt.IsZero() {
				t.Errorf("CompletedAt = %v, want zero", after.CompletedAt)
			}
			if !reflect.DeepEqual(after.Result, tt.wantResult) {
				t.Errorf("Result = %s, want %s", jsonOf(after.Result), jsonOf(tt.wantResult))
			}
			// Nothing else moves (a claim's lease: see TestClaims).
			after.Status, after.Attempts, after.StartedAt, after.CompletedAt, after.Result, after.ClaimUntil =
				before.Status, before.Attempts, before.StartedAt, before.CompletedAt, before.Result, before.ClaimUntil
			if !reflect.DeepEqual(after, before) {
				t.Errorf("%s changed more than its fields:\n%+v\nwas\n%+v", tt.act.name, after, before)
			}
		})
	}
}

// errAny in a table means "some error".
var errAny = errors.New("any error")

func jsonOf(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// TestResultRoundTrip checks that a result reads back exactly as written,
// including the error's fields, which the api renders verbatim.
func TestResultRoundTrip(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		status reliapi.JobStatus
		res    *reliapi.Result
	}{
		{"data", reliapi.JobSucceeded, okResult},
		{"upstream error", reliapi.JobFailed, failResult},
		{"own error", reliapi.JobFailed, &reliapi.Result{
			Error: reliapi.Errorf(reliapi.CodeTimeout, "job deadline of %s passed", "30s"),
		}},
		{"4xx is data", reliapi.JobSucceeded, &reliapi.Result{
			Data: json.RawMessage(`{"status_code":404,"headers":{},"body":"not here"}`),
			Meta: reliapi.ResultMeta{Retries: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			j := b.create(t, "acme")
			b.start(t, j.ID, taskA)
			b.finish(t, j.ID, tt.status, tt.res)

			got := b.get(t, "acme", j.ID)
			if got.Status != tt.status || !reflect.DeepEqual(got.Result, tt.res) {
				t.Errorf("stored %s %s, want %s %s", got.Status, jsonOf(got.Result), tt.status, jsonOf(tt.res))
			}
		})
	}
}

// TestFinishRead checks that a finish asked for the ended record returns
// it as stored, that what it carries along runs before and after the
// finish script as asked, and that a resend of the same finish, and a
// finish not the claim's, return none.
func TestFinishRead(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	j := b.create(t, "acme")
	claim := jobs.Claim{TaskID: taskA, Token: "token-a", Lease: time.Minute}
	if _, run, err := b.store.Start(ctx, j.ID, claim, nil); err != nil || !run {
		t.Fatalf("Start = %v, %v; want run", run, err)
	}

	// As a process does at start: a script Redis lacks would run again
	// by body behind the whole pipeline (luascript.Load).
	if err := luascript.Load(ctx, b.rdb); err != nil {
		t.Fatal(err)
	}
	var before, after *redis.StringCmd
	status := func(p redis.Pipeliner) *redis.StringCmd { return p.HGet(ctx, jobKey(j.ID), "status") }
	along := jobs.Along{
		Before: func(p redis.Pipeliner) { before = status(p) },
		After:  func(p redis.Pipeliner) { after = status(p) },
	}
	recorded, ended, err := b.store.FinishRead(ctx, j.ID, claim, reliapi.JobSucceeded, okResult, true, true, along)
	if err != nil || !recorded || ended == nil {
		t.Fatalf("FinishRead = %v, %v, %v; want recorded with the ended record", recorded, ended, err)
	}
	if before.Val() != string(reliapi.JobRunning) || after.Val() != string(reliapi.JobSucceeded) {
		t.Errorf("Along's commands read the job %q before and %q after; want running, then succeeded", before.Val(), after.Val())
	}
	if stored := b.get(t, "acme", j.ID); !reflect.DeepEqual(ended, stored) {
		t.Errorf("ended record %+v, stored %+v", ended, stored)
	}
	if recorded, ended, err := b.store.FinishRead(ctx, j.ID, claim, reliapi.JobSucceeded, okResult, true, true, jobs.Along{}); err != nil || !recorded || ended != nil {
		t.Errorf("the same finish sent again = %v, %v, %v; want recorded, no record", recorded, ended, err)
	}
	other := b.create(t, "acme")
	stale := jobs.Claim{TaskID: taskB, Token: "token-b", Lease: time.Minute}
	if recorded, ended, err := b.store.FinishRead(ctx, other.ID, stale, reliapi.JobSucceeded, okResult, true, true, jobs.Along{}); err != nil || recorded || ended != nil {
		t.Errorf("a finish of another task's job = %v, %v, %v; want not recorded", recorded, ended, err)
	}
}

// TestDoneChannel checks that exactly the transitions to a terminal status
// are announced, each with the job's ID, in order.
func TestDoneChannel(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()

	sub := b.rdb.Subscribe(ctx, "reliapi:jobs:done")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatalf("subscribing: %v", err)
	}
	msgs := sub.Channel()

	succeeded, failed := b.create(t, "acme"), b.create(t, "acme")
	canceledQueued, canceledRunning := b.create(t, "acme"), b.create(t, "acme")
	for _, j := range []*reliapi.Job{succeeded, failed, canceledRunning} {
		b.start(t, j.ID, taskA)
	}

	var want []string
	b.finish(t, succeeded.ID, reliapi.JobSucceeded, okResult)
	want = append(want, succeeded.ID)
	b.finish(t, failed.ID, reliapi.JobFailed, failResult)
	want = append(want, failed.ID)
	// Refused and no-op transitions announce nothing.
	if ok, _ := b.store.Finish(ctx, succeeded.ID, jobs.Claim{TaskID: taskA}, reliapi.JobFailed, failResult, true, nil); ok {
		t.Fatal("second Finish recorded")
	}
	if _, err := b.store.Cancel(ctx, "acme", succeeded.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Cancel(ctx, "globex", canceledQueued.ID); !errors.Is(err, reliapi.ErrNotFound) {
		t.Fatalf("Cancel by another tenant = %v", err)
	}
	for _, j := range []*reliapi.Job{canceledQueued, canceledRunning} {
		if _, err := b.store.Cancel(ctx, "acme", j.ID); err != nil {
			t.Fatal(err)
		}
		want = append(want, j.ID)
	}

	timeout := time.NewTimer(waitBound)
	defer timeout.Stop()
	for i, id := range want {
		select {
		case msg := <-msgs:
			// The job ID, then the finished record: field, value, … packed.
			gotID, record, _ := strings.Cut(msg.Payload, "\n")
			pairs, err := jobs.UnpackStrings([]byte(record))
			if msg.Channel != "reliapi:jobs:done" || gotID != id || err != nil {
				t.Fatalf("announcement %d = %s on %s, want %s and its record", i, msg.Payload, msg.Channel, id)
			}
			fields := map[string]string{}
			for k := 0; k+1 < len(pairs); k += 2 {
				fields[pairs[k]] = pairs[k+1]
			}
			if fields["id"] != id || !reliapi.JobStatus(fields["status"]).Terminal() || fields["completed_at"] == "" {
				t.Fatalf("announcement %d carries %v", i, fields)
			}
		case <-timeout.C:
			t.Fatalf("announcement %d (%s) not received within %v", i, id, waitBound)
		}
	}
}

// TestRequeue hands a running job to a later task: queued again, carried by
// the new task, which may start it; the old task no longer may.
func TestRequeue(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	j := b.create(t, "acme")
	b.start(t, j.ID, taskA)
	if ok, err := b.store.Requeue(ctx, j.ID, jobs.Claim{TaskID: "task-other"}, "task-later"); ok || err != nil {
		t.Fatalf("Requeue by another task = %v, %v; want refused", ok, err)
	}
	if ok, err := b.store.Requeue(ctx, j.ID, jobs.Claim{TaskID: taskA}, "task-later"); !ok || err != nil {
		t.Fatalf("Requeue = %v, %v", ok, err)
	}
	// Sent again (its answer lost): still handed over, not refused.
	if ok, err := b.store.Requeue(ctx, j.ID, jobs.Claim{TaskID: taskA}, "task-later"); !ok || err != nil {
		t.Fatalf("the same Requeue again = %v, %v; want handed over", ok, err)
	}
	got := b.get(t, "acme", j.ID)
	if got.Status != reliapi.JobQueued || got.TaskID != "task-later" {
		t.Fatalf("after Requeue: %+v", got)
	}
	if _, run, _ := b.store.Start(ctx, j.ID, jobs.Claim{TaskID: taskA}, nil); run {
		t.Fatal("the old task may still run the job")
	}
	if _, run, _ := b.store.Start(ctx, j.ID, jobs.Claim{TaskID: "task-later"}, nil); !run {
		t.Fatal("the new task may not run the job")
	}
	if _, err := b.store.Cancel(ctx, "acme", j.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.store.Requeue(ctx, j.ID, jobs.Claim{TaskID: "task-later"}, "task-3"); ok {
		t.Fatal("a canceled job was requeued")
	}
}

// TestRequeueAfterLostStart: a delivery whose Start Redis lost (restarted
// from an append-only file without it) finds its job still queued under
// its task; it may hand the job over all the same, redoing the start, and
// a stale task still may not.
func TestRequeueAfterLostStart(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	j := b.create(t, "acme")
	if ok, err := b.store.Requeue(ctx, j.ID, jobs.Claim{TaskID: taskB}, "task-later"); ok || err != nil {
		t.Fatalf("Requeue by a stale task = %v, %v; want refused", ok, err)
	}
	if ok, err := b.store.Requeue(ctx, j.ID, jobs.Claim{TaskID: taskA}, "task-later"); !ok || err != nil {
		t.Fatalf("Requeue of a queued job under its task = %v, %v; want handed over", ok, err)
	}
	got := b.get(t, "acme", j.ID)
	if got.Status != reliapi.JobQueued || got.TaskID != "task-later" || got.Attempts != 1 || got.StartedAt.Before(j.CreatedAt) {
		t.Fatalf("after Requeue: status %s, task %s, attempts %d, started %v; want queued, task-later, 1, stamped",
			got.Status, got.TaskID, got.Attempts, got.StartedAt)
	}
}

// TestWebhookRecord: a job's subscription is stored with it, and its
// delivery attempts are added to its record with the webhook's status.
func TestWebhookRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	n := newJob(newJobID(), "t1")
	n.Webhook = &reliapi.Subscription{URL: "https://hooks.example.com/x", Events: []string{reliapi.EventJobFailed}}
	if _, _, err := b.store.Create(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	j, err := b.store.Get(ctx, "t1", n.ID)
	if err != nil || j.Webhook == nil || j.Webhook.URL != n.Webhook.URL || j.WebhookStatus != reliapi.WebhookPending || len(j.Deliveries) != 0 {
		t.Fatalf("created: %+v %v", j, err)
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	attempts := []reliapi.Delivery{
		{Attempt: 1, At: at, Error: "connection refused", DurationMS: 3},
		{Attempt: 2, At: at.Add(5 * time.Second), StatusCode: 204, DurationMS: 41},
	}
	for i, d := range attempts {
		status := reliapi.WebhookPending
		if i == 1 {
			status = reliapi.WebhookDelivered
		}
		if ok, err := b.store.RecordDelivery(ctx, n.ID, d, status, nil); !ok || err != nil {
			t.Fatalf("RecordDelivery: %v %v", ok, err)
		}
	}
	j, _ = b.store.Get(ctx, "t1", n.ID)
	if j.WebhookStatus != reliapi.WebhookDelivered || !reflect.DeepEqual(j.Deliveries, attempts) {
		t.Fatalf("after two attempts: %s %+v", j.WebhookStatus, j.Deliveries)
	}
	if ok, err := b.store.RecordDelivery(ctx, newJobID(), attempts[0], reliapi.WebhookPending, nil); ok || err != nil {
		t.Fatalf("a gone job: %v %v", ok, err)
	}
	plain, _, _ := b.store.Create(ctx, newJob(newJobID(), "t1"), nil)
	if plain.Webhook != nil || plain.WebhookStatus != "" {
		t.Fatalf("a job without a webhook: %+v", plain)
	}
}

// TestGetForDelivery: a delivery reads its job and whether its URL (named
// by digest) answered 410 Gone in one call, which agrees with Gone.
func TestGetForDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{Retention: time.Hour})
	ctx := t.Context()
	n := newJob(newJobID(), "t1")
	n.Webhook = &reliapi.Subscription{URL: "https://hooks.example.com/x?token=s3cret"}
	if _, _, err := b.store.Create(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	digest := reliapi.WebhookURLDigest(n.Webhook.URL)
	if strings.Contains(digest, "s3cret") {
		t.Fatal("the digest shows the URL")
	}
	j, gone, err := b.store.GetForDelivery(ctx, "t1", n.ID, digest)
	if err != nil || gone || j.ID != n.ID || j.Webhook.URL != n.Webhook.URL {
		t.Fatalf("before the URL went: %+v %v %v", j, gone, err)
	}
	if err := b.store.MarkGone(ctx, "t1", n.Webhook.URL); err != nil {
		t.Fatal(err)
	}
	if _, gone, err := b.store.GetForDelivery(ctx, "t1", n.ID, digest); !gone || err != nil {
		t.Fatalf("after a 410: gone %v, %v", gone, err)
	}
	if g, _ := b.store.Gone(ctx, "t1", n.Webhook.URL); !g {
		t.Fatal("Gone disagrees")
	}
	if _, gone, err := b.store.GetForDelivery(ctx, "t1", n.ID, ""); gone || err != nil {
		t.Fatalf("without a digest: gone %v, %v; want not asked", gone, err)
	}
	if _, _, err := b.store.GetForDelivery(ctx, "t2", n.ID, digest); !errors.Is(err, reliapi.ErrNotFound) {
		t.Fatalf("another tenant's job: %v, want not found", err)
	}
}

// TestClaims: two deliveries of one task (the wake-up lane's and asynq's)
// run the job under one claim at a time: a live claim keeps the other out
// and only its holder ends the job; a lapsed claim is taken over, and then
// its old holder can neither renew nor end the job.
func TestClaims(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	j := b.create(t, "acme")
	lane := jobs.Claim{TaskID: taskA, Token: "lane", Lease: time.Minute}
	fallback := jobs.Claim{TaskID: taskA, Token: "fallback", Lease: time.Minute}

	if _, run, err := b.store.Start(ctx, j.ID, lane, nil); !run || err != nil {
		t.Fatalf("lane start: %v %v", run, err)
	}
	held, run, err := b.store.Start(ctx, j.ID, fallback, nil)
	if run || err != nil || held.Status != reliapi.JobRunning || time.Until(held.ClaimUntil) < 50*time.Second {
		t.Fatalf("fallback start during a live claim: run %v, %v, %+v", run, err, held)
	}
	if ok, _ := b.store.Finish(ctx, j.ID, fallback, reliapi.JobSucceeded, okResult, true, nil); ok {
		t.Fatal("a delivery that does not hold the claim ended the job")
	}
	if gone, err := b.store.Renew(ctx, map[string]jobs.Claim{j.ID: lane}); len(gone) != 0 || err != nil {
		t.Fatalf("renewing the live claim: gone %v, %v", gone, err)
	}

	// The lane's worker stops renewing: its claim lapses (here at once).
	b.rdb.HSet(ctx, jobKey(j.ID), "claim_until", 0)
	took, run, err := b.store.Start(ctx, j.ID, fallback, nil)
	if !run || err != nil || took.Attempts != 2 {
		t.Fatalf("taking over a lapsed claim: run %v, %v, attempts %d", run, err, took.Attempts)
	}
	if gone, _ := b.store.Renew(ctx, map[string]jobs.Claim{j.ID: lane}); len(gone) != 1 {
		t.Fatalf("the old claim renewed after a takeover: gone %v", gone)
	}
	if ok, _ := b.store.Finish(ctx, j.ID, lane, reliapi.JobFailed, failResult, true, nil); ok {
		t.Fatal("the old claim ended the job after a takeover")
	}
	if ok, err := b.store.Finish(ctx, j.ID, fallback, reliapi.JobSucceeded, okResult, true, nil); !ok || err != nil {
		t.Fatalf("the claim's holder could not end the job: %v %v", ok, err)
	}
	// The same finish sent again (its answer lost) reads as recorded; the
	// old claim's, or another outcome, still does not.
	if ok, err := b.store.Finish(ctx, j.ID, fallback, reliapi.JobSucceeded, okResult, true, nil); !ok || err != nil {
		t.Fatalf("the holder's finish sent again: %v %v, want recorded", ok, err)
	}
	if ok, _ := b.store.Finish(ctx, j.ID, lane, reliapi.JobSucceeded, okResult, true, nil); ok {
		t.Fatal("the old claim's finish read as recorded after the holder's")
	}
	if ok, _ := b.store.Finish(ctx, j.ID, fallback, reliapi.JobFailed, failResult, true, nil); ok {
		t.Fatal("another outcome of the holder read as recorded")
	}
	if got := b.get(t, "acme", j.ID); got.Status != reliapi.JobSucceeded || got.Attempts != 2 {
		t.Fatalf("after the finishes sent again: %s, attempts %d; want succeeded once", got.Status, got.Attempts)
	}
	if gone, _ := b.store.Renew(ctx, map[string]jobs.Claim{j.ID: fallback}); len(gone) != 1 {
		t.Fatalf("a claim on an ended job renewed: gone %v", gone)
	}
}

// TestStartAll: one round trip starts several jobs, each answered as its
// own Start would be: a queued job claimed, one held by a live claim not,
// a gone one with no job; the commands each adds travel with them.
func TestStartAll(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	queued, held := b.create(t, "acme"), b.create(t, "acme")
	if _, run, err := b.store.Start(ctx, held.ID, jobs.Claim{TaskID: taskA, Token: "other", Lease: time.Minute}, nil); !run || err != nil {
		t.Fatalf("start: %v %v", run, err)
	}
	claim := jobs.Claim{TaskID: taskA, Token: "mine", Lease: time.Minute}
	var added int
	more := func(p redis.Pipeliner) { added++; p.Ping(ctx) }
	got := b.store.StartAll(ctx, []jobs.Starting{
		{ID: queued.ID, Claim: claim, More: more},
		{ID: held.ID, Claim: claim, More: more},
		{ID: newJobID(), Claim: claim},
	})
	if len(got) != 3 || added != 2 {
		t.Fatalf("%d answers, %d commands added; want 3 and 2", len(got), added)
	}
	if g := got[0]; !g.Claimed || g.Err != nil || g.Job.Status != reliapi.JobRunning || g.Job.Attempts != 1 {
		t.Fatalf("queued job: %+v", g)
	}
	if g := got[1]; g.Claimed || g.Err != nil || g.Job == nil || g.Job.Status != reliapi.JobRunning {
		t.Fatalf("job held by a live claim: %+v", g)
	}
	if g := got[2]; g.Claimed || g.Err != nil || g.Job != nil {
		t.Fatalf("gone job: %+v", g)
	}
	// The same start sent again (its answer was lost on the way back, or a
	// lane entry's claim confirmed after a while) is the claim's own:
	// claimed, not counted as another attempt, its lease renewed — even
	// one that lapsed while nobody took the job over.
	b.rdb.HSet(ctx, jobKey(queued.ID), "claim_until", 1)
	again, run, err := b.store.Start(ctx, queued.ID, claim, nil)
	if !run || err != nil || again.Attempts != 1 {
		t.Fatalf("the same start again: run %v, %v, attempts %d; want claimed, 1 attempt", run, err, again.Attempts)
	}
	if until := time.Until(again.ClaimUntil); until < 50*time.Second {
		t.Fatalf("the same start again left the claim %v from lapsing, want its lease of a minute renewed", until)
	}
	if ok, err := b.store.Finish(ctx, queued.ID, claim, reliapi.JobSucceeded, okResult, false, nil); !ok || err != nil {
		t.Fatalf("the claim StartAll took does not end its job: %v %v", ok, err)
	}
}

// TestStartAfterTheScriptWasLost: a start reads its record with a plain
// HGETALL behind its script; when Redis has lost the script, the script
// runs again by its body behind the whole pipeline, after that read. The
// answer is still the record as the start left it.
func TestStartAfterTheScriptWasLost(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	first, second := b.create(t, "acme"), b.create(t, "acme")
	if err := b.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	claim := jobs.Claim{TaskID: taskA, Token: "mine", Lease: time.Minute}
	got := b.store.StartAll(ctx, []jobs.Starting{{ID: first.ID, Claim: claim}, {ID: second.ID, Claim: claim}})
	for i, g := range got {
		if !g.Claimed || g.Err != nil || g.Job == nil || g.Job.Status != reliapi.JobRunning || g.Job.Attempts != 1 || g.Job.StartedAt.IsZero() {
			t.Errorf("start %d after a SCRIPT FLUSH: %+v; want claimed, running, its first attempt", i, g)
		}
	}
}

// TestWatchCanceled: canceling a running job tells the workers watching
// (its own stops the run at once); canceling a queued one does not (no
// worker runs it).
func TestWatchCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	got := make(chan string, 4)
	b.store.WatchCanceled(t.Context(), func(id string) { got <- id })
	queued, running := b.create(t, "acme"), b.create(t, "acme")
	b.start(t, running.ID, taskA)
	// The subscription is asynchronous: cancel the running job until its
	// watcher hears of one (a second cancel of it publishes nothing).
	testenv.Eventually(t, 5*time.Second, "the subscription to be ready", func() bool {
		b.rdb.Publish(t.Context(), "reliapi:jobs:canceled", "probe")
		select {
		case id := <-got:
			return id == "probe"
		default:
			return false
		}
	})
	for _, id := range []string{queued.ID, running.ID} {
		if _, err := b.store.Cancel(t.Context(), "acme", id); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case id := <-got:
			if id == "probe" {
				continue // a late answer to the readiness probes
			}
			if id != running.ID {
				t.Fatalf("watchers heard of %s, want only the running job %s", id, running.ID)
			}
			return
		case <-timeout:
			t.Fatal("the running job's cancel was not published")
		}
	}
}
