package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/tasks"
)

// bundle is a Manager on a private Redis, with what a test reads its
// effects through.
type bundle struct {
	rdb    *redis.Client
	m      *lifecycle.Manager
	ledger *budget.Ledger
	cache  *cache.Cache
	ins    *asynq.Inspector
}

func setup(t *testing.T) *bundle {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	m, err := lifecycle.New(lifecycle.Config{Redis: rdb, Timeout: time.Minute, QueueShards: 4})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{rdb: rdb, m: m, ledger: budget.NewLedger(rdb), cache: cache.New(rdb), ins: asynq.NewInspectorFromRedisClient(rdb)}
}

// submission is call n of tenant t, as job id, with everything a submit
// can take: a budget hold, a cache claim (made here, as the api does before
// submitting) and a concurrent-job slot (limit 1).
func (b *bundle) submission(t *testing.T, n int, id, hash string) lifecycle.Submission {
	t.Helper()
	claim := fmt.Sprintf("claim-%d", n)
	if lk, err := b.cache.Lookup(t.Context(), claim, id, time.Minute); err != nil || !lk.Leader {
		t.Fatalf("claiming the cache entry: %+v %v", lk, err)
	}
	return lifecycle.Submission{
		ID: id, Tenant: "t", RequestHash: hash, Queue: tasks.QueueAsync,
		Cache: &tasks.CacheFill{Hash: claim, TTL: time.Minute}, MaxConcurrentJobs: 1,
		Payload: tasks.Payload{
			Tenant: "t", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: "/"},
			Cost: &tasks.CostPlan{Priced: true, EstimateUSD: 0.5, Policy: "none"}, Caps: &tasks.Caps{},
		},
	}
}

// held is the tenant's budget held by calls in flight today.
func (b *bundle) held(t *testing.T) float64 {
	t.Helper()
	u, err := b.ledger.Usage(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	return u.DayHeld
}

// claimed reports whether an identical call would follow the submission's
// job instead of leading its own.
func (b *bundle) claimed(t *testing.T, s lifecycle.Submission) bool {
	t.Helper()
	lk, err := b.cache.Lookup(t.Context(), s.Cache.Hash, "job_other", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if lk.Leader {
		b.cache.Abandon(t.Context(), s.Cache.Hash, "job_other")
	}
	return !lk.Leader
}

// TestSubmitKeepsOrGivesBack: a submit that queues its job keeps the hold,
// the claim and the slot for it; one that fails or attaches gives back
// what it took, and leaves no record behind.
func TestSubmitKeepsOrGivesBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.submission(t, 1, jobID(1), "h1")
	sub, err := b.m.Submit(t.Context(), first)
	if err != nil || sub.Attached || sub.Job.Status != reliapi.JobQueued {
		t.Fatalf("first submit: %+v %v", sub, err)
	}
	if _, served := tasks.JobQueues(4)[sub.Job.Queue]; !served || sub.Job.Queue != tasks.Shard(tasks.QueueAsync, first.ID, 4) {
		t.Fatalf("first job's queue %q is not its shard of async", sub.Job.Queue)
	}
	// Ready on the wake-up lane at once; held by asynq, due after the grace.
	if info, err := b.ins.GetTaskInfo(sub.Job.Queue, sub.Job.TaskID); err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("first job's task: %+v %v", info, err)
	}
	if e, err := lane.NewPopper(b.rdb, time.Millisecond, sub.Job.Queue).Pop(t.Context(), 1); len(e) != 1 || err != nil || e[0].TaskID != sub.Job.TaskID || e[0].Queue != sub.Job.Queue {
		t.Fatalf("first job's lane entry: %+v %v", e, err)
	}
	if h := b.held(t); h != 0.5 || !b.claimed(t, first) {
		t.Fatalf("after the first submit: held %v, claimed %v; want 0.5, true", h, b.claimed(t, first))
	}

	for _, tt := range []struct {
		name string
		sub  lifecycle.Submission
		code reliapi.Code
	}{
		{"slots full", b.submission(t, 2, jobID(2), "h2"), reliapi.CodeTooManyJobs},
		{"same key, another request", b.submission(t, 3, first.ID, "other"), reliapi.CodeIdempotencyConflict},
		{"same key, same request", b.submission(t, 4, first.ID, "h1"), ""},
	} {
		got, err := b.m.Submit(t.Context(), tt.sub)
		var e *reliapi.Error
		switch {
		case tt.code == "" && (err != nil || !got.Attached || got.Job.ID != first.ID):
			t.Errorf("%s: %+v %v, want attached to %s", tt.name, got, err, first.ID)
		case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code):
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
		if h := b.held(t); h != 0.5 {
			t.Errorf("%s: held %v, want only the first job's 0.5", tt.name, h)
		}
		if b.claimed(t, tt.sub) {
			t.Errorf("%s: its cache claim was not released", tt.name)
		}
	}
	if _, err := b.m.Store().Get(t.Context(), "t", jobID(2)); !errors.Is(err, reliapi.ErrNotFound) {
		t.Errorf("a job refused its slot left a record: %v", err)
	}
}

// queued submits call 1, which must be queued.
func (b *bundle) queued(t *testing.T) (lifecycle.Submission, lifecycle.Submitted) {
	t.Helper()
	s := b.submission(t, 1, jobID(1), "h")
	sub, err := b.m.Submit(t.Context(), s)
	if err != nil || sub.Job.Status != reliapi.JobQueued {
		t.Fatalf("submit: %+v %v", sub, err)
	}
	return s, sub
}

// jobID is the ID of call n.
func jobID(n int) string { return fmt.Sprintf("job_%032x", n) }

// TestCancelQueued: canceling a queued job removes its task and gives back
// its slot, budget hold and cache claim; a second cancel changes nothing.
func TestCancelQueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, sub := b.queued(t)
	job, err := b.m.Cancel(t.Context(), "t", s.ID)
	if err != nil || job.Status != reliapi.JobCanceled {
		t.Fatalf("cancel: %+v %v", job, err)
	}
	if _, err := b.ins.GetTaskInfo(sub.Job.Queue, sub.Job.TaskID); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("the canceled job's task: %v, want it removed", err)
	}
	if h := b.held(t); h != 0 {
		t.Errorf("held %v after the cancel, want 0", h)
	}
	if b.claimed(t, s) {
		t.Error("the canceled job's cache claim was not released")
	}
	if _, err := b.m.Submit(t.Context(), b.submission(t, 2, jobID(2), "h2")); err != nil {
		t.Errorf("the canceled job's slot was not given back: %v", err)
	}
	again, err := b.m.Cancel(t.Context(), "t", s.ID)
	if err != nil || again.Status != reliapi.JobCanceled || !again.CompletedAt.Equal(job.CompletedAt) {
		t.Errorf("second cancel: %+v %v", again, err)
	}
	if _, err := b.m.Cancel(t.Context(), "another tenant", s.ID); !errors.Is(err, reliapi.ErrNotFound) {
		t.Errorf("cancel by another tenant: %v, want not found", err)
	}
}

// TestDeliveryEnds: Begin runs a queued job once; Finish records its
// outcome and gives back its slot; a delivery after the end has nothing to
// run.
func TestDeliveryEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, sub := b.queued(t)
	d := lifecycle.Delivery{Payload: s.Payload, Claim: lifecycle.NewClaim(sub.Job.TaskID, time.Minute)}
	d.Payload.JobID, d.Payload.Caps = s.ID, &tasks.Caps{Slot: true}
	job, wait, err := b.m.Begin(t.Context(), d)
	if err != nil || wait != 0 || job == nil || job.Status != reliapi.JobRunning {
		t.Fatalf("begin: %+v %v", job, err)
	}
	cost := 0.25
	res := &reliapi.Result{Data: []byte(`{"status_code":200}`), Meta: reliapi.ResultMeta{CostUSD: &cost}}
	if err := b.m.Finish(t.Context(), d, job, res); err != nil {
		t.Fatal(err)
	}
	done, err := b.m.Store().Get(t.Context(), "t", s.ID)
	if err != nil || done.Status != reliapi.JobSucceeded {
		t.Fatalf("after finish: %+v %v", done, err)
	}
	if u, err := b.ledger.Usage(t.Context(), "t"); err != nil || u.DayHeld != 0 || u.DaySpent != 0.25 {
		t.Errorf("budget after finish: %+v %v, want 0.25 spent and nothing held", u, err)
	}
	if again, _, err := b.m.Begin(t.Context(), d); err != nil || again != nil {
		t.Errorf("a delivery after the end: %+v %v, want nothing to run", again, err)
	}
	if _, err := b.m.Submit(t.Context(), b.submission(t, 2, jobID(2), "h2")); err != nil {
		t.Errorf("the finished job's slot was not given back: %v", err)
	}
}

// TestUnwantedEventSkippedAtTheEnd: the end of a job whose webhook does not
// want its event marks the webhook skipped in the finish's round trip, with
// no delivery task; a finish whose outcome a cancel beat leaves the webhook
// to the cancel's delivery.
func TestUnwantedEventSkippedAtTheEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i, tc := range []struct {
		events   []string
		cancel   bool
		want     string
		withTask bool
	}{
		{events: []string{"job.failed"}, want: reliapi.WebhookSkipped},
		{events: []string{"job.canceled"}, cancel: true, want: reliapi.WebhookPending, withTask: true},
	} {
		s := b.submission(t, i+1, jobID(i+1), fmt.Sprintf("h%d", i+1))
		s.Webhook = &reliapi.Subscription{URL: "https://example.com/hook", Events: tc.events}
		sub, err := b.m.Submit(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		d := lifecycle.Delivery{Payload: s.Payload, Claim: lifecycle.NewClaim(sub.Job.TaskID, time.Minute)}
		d.Payload.JobID = s.ID
		job, _, err := b.m.Begin(t.Context(), d)
		if err != nil || job == nil {
			t.Fatalf("begin: %+v %v", job, err)
		}
		if tc.cancel {
			if _, err := b.m.Cancel(t.Context(), "t", s.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.m.Finish(t.Context(), d, job, &reliapi.Result{Data: []byte(`{"status_code":200}`)}); err != nil {
			t.Fatal(err)
		}
		ended, err := b.m.Store().Get(t.Context(), "t", s.ID)
		if err != nil || ended.WebhookStatus != tc.want {
			t.Errorf("events %v: webhook %q (%v) at the end, want %q", tc.events, ended.WebhookStatus, err, tc.want)
		}
		wp := tasks.FirstWebhook(ended)
		_, err = b.ins.GetTaskInfo(wp.Queue(4), tasks.WebhookTaskID(wp))
		if gotTask := err == nil; gotTask != tc.withTask {
			t.Errorf("events %v: a delivery task is queued: %v (%v), want %v", tc.events, gotTask, err, tc.withTask)
		}
	}
}

// TestBeginStartedSendsAFailedStartAgain: a start StartAll could not
// send (Redis away for that round trip) is sent again by BeginStarted,
// which then claims the job as Begin would.
func TestBeginStartedSendsAFailedStartAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, sub := b.queued(t)
	d := lifecycle.Delivery{Payload: s.Payload, Claim: lifecycle.NewClaim(sub.Job.TaskID, time.Minute)}
	d.Payload.JobID = s.ID
	failed := jobs.Started{Err: errors.New("starting job: connection reset")}
	job, wait, err := b.m.BeginStarted(t.Context(), d, failed)
	if err != nil || wait != 0 || job == nil || job.Status != reliapi.JobRunning || job.Attempts != 1 {
		t.Fatalf("begin after a failed start: %+v %v %v", job, wait, err)
	}
}

// TestLaneEntryAheadOfItsRecord: a lane delivery whose start found no
// record (on a Redis Cluster the entry and the record go to different
// nodes in one pipeline, and the entry can arrive first) starts the job
// once the record is there, instead of leaving it to its task a grace
// period later.
func TestLaneEntryAheadOfItsRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := jobID(1)
	d := lifecycle.Delivery{
		Payload: tasks.Payload{JobID: id, Tenant: "t", Target: "up"},
		Claim:   lifecycle.NewClaim("task-1", time.Minute), Hint: true,
	}
	// The record written after the delivery's start looked for it: that
	// start's answer, no job, is handed to BeginStarted.
	if _, _, err := b.m.Store().Create(t.Context(), jobs.New{ID: id, Tenant: "t", Kind: reliapi.KindHTTP, Queue: tasks.QueueSync, TaskID: "task-1"}, nil); err != nil {
		t.Fatal(err)
	}
	job, wait, err := b.m.BeginStarted(t.Context(), d, jobs.Started{})
	if err != nil || wait != 0 || job == nil || job.Status != reliapi.JobRunning {
		t.Fatalf("begin: %+v %v %v; want the job started", job, wait, err)
	}
	// A record that never comes leaves nothing to run, and no error.
	d.Payload.JobID = jobID(2)
	if job, wait, err := b.m.BeginStarted(t.Context(), d, jobs.Started{}); job != nil || wait != 0 || err != nil {
		t.Fatalf("no record: %+v %v %v; want nothing to run", job, wait, err)
	}
}

// TestFallbackWaitsItsTurn: a job's fallback task, delivered while the job
// waits its turn in the lane behind its tenant's other jobs, defers to the
// lane; once nothing of the tenant is ready there, or the job is no longer
// queued, it delivers.
func TestFallbackWaitsItsTurn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var subs []lifecycle.Submission
	shards := map[string]bool{}
	for n := 10; len(subs) < 2; n++ {
		// Two jobs in two of the four shards.
		if q := tasks.Shard(tasks.QueueAsync, jobID(n), 4); shards[q] {
			continue
		} else {
			shards[q] = true
		}
		s := b.submission(t, n, jobID(n), fmt.Sprintf("h%d", n))
		s.MaxConcurrentJobs, s.Payload.Cost = 0, nil
		if _, err := b.m.Submit(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	// The payloads of their tasks, as asynq would deliver them.
	payloads := make([]tasks.Payload, len(subs))
	queues := make([]string, len(subs))
	for i, s := range subs {
		job, err := b.m.Store().Get(t.Context(), "t", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		info, err := b.ins.GetTaskInfo(job.Queue, job.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if payloads[i], err = tasks.Decode(info.Payload); err != nil || !payloads[i].Laned {
			t.Fatalf("the job's task: %+v %v; want it marked as pushed to the lane", payloads[i], err)
		}
		queues[i] = job.Queue
	}
	turn := func(i int) time.Duration {
		t.Helper()
		wait, err := b.m.TurnInLane(t.Context(), payloads[i], queues[i])
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	for i := range subs {
		if w := turn(i); w != 3*time.Second {
			t.Fatalf("job %d, queued in its lane: wait %v, want the grace, 3s", i, w)
		}
	}
	// Popping one job's shard leaves the tenant nothing ready there,
	// whatever waits in the other.
	if e, err := lane.NewPopper(b.rdb, time.Millisecond, queues[0]).Pop(t.Context(), 1); len(e) != 1 || err != nil {
		t.Fatal(e, err)
	}
	if w := turn(0); w != 0 {
		t.Fatalf("a job whose entry was taken (the tenant has nothing ready in its lane): wait %v, want 0", w)
	}
	if _, err := b.m.Cancel(t.Context(), "t", subs[1].ID); err != nil {
		t.Fatal(err)
	}
	if w := turn(1); w != 0 {
		t.Fatalf("a canceled job: wait %v, want 0", w)
	}
}

// TestPricedCachedCallRoundTrips: a priced call that fills the response
// cache, its tenant without spend caps, is submitted in one round trip and
// finished in one: its budget hold is made in the pipeline that queues the
// job, and settled, with the cache filled, in the one that records its end.
func TestPricedCachedCallRoundTrips(t *testing.T) {
	t.Parallel()
	b := setup(t)
	trips := &roundTrips{}
	b.rdb.AddHook(trips)
	// call n: the round trips of its submit and of its finish.
	call := func(n int) (submit, finish int64) {
		s := b.submission(t, n, jobID(n), "h")
		s.MaxConcurrentJobs, s.Payload.Caps = 0, nil // a slot is a round trip of its own
		trips.take()
		sub, err := b.m.Submit(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		submit = trips.take()
		if h := b.held(t); h != 0.5 {
			t.Fatalf("call %d: held %v after the submit, want 0.5", n, h)
		}
		d := lifecycle.Delivery{Payload: s.Payload, Claim: lifecycle.NewClaim(sub.Job.TaskID, time.Minute)}
		d.Payload.JobID, d.Payload.Cache = s.ID, s.Cache // as Submit queued them
		job, _, err := b.m.Begin(t.Context(), d)
		if err != nil || job == nil {
			t.Fatalf("call %d: begin: %+v %v", n, job, err)
		}
		cost := 0.25
		res := &reliapi.Result{Data: []byte(`{"status_code":200}`), Meta: reliapi.ResultMeta{CostUSD: &cost}}
		trips.take()
		if err := b.m.Finish(t.Context(), d, job, res); err != nil {
			t.Fatal(err)
		}
		finish = trips.take()
		if u, err := b.ledger.Usage(t.Context(), "t"); err != nil || u.DayHeld != 0 || u.DaySpent != 0.25*float64(n) {
			t.Errorf("call %d: budget after finish: %+v %v, want %v spent and nothing held", n, u, err, 0.25*float64(n))
		}
		if lk, err := b.cache.Lookup(t.Context(), s.Cache.Hash, "job_other", time.Minute); err != nil || lk.Hit == nil {
			t.Errorf("call %d: after finish the cache has %+v %v, want the answer", n, lk, err)
		}
		return submit, finish
	}
	call(1) // Redis learns the scripts: one it lacks costs a round trip more.
	if submit, finish := call(2); submit != 1 || finish != 1 {
		t.Errorf("submit and finish took %d and %d round trips, want 1 and 1", submit, finish)
	}
}

// roundTrips counts a client's round trips: its commands and pipelines.
type roundTrips struct{ n atomic.Int64 }

// take returns the round trips since the last take.
func (r *roundTrips) take() int64 { return r.n.Swap(0) }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestSubmitForARunHere: a submission its caller runs is handed its Run
// before the round trip that creates the job goes out, and that one round
// trip creates the job running under the Run's claim, with its asynq task
// standing by and no lane entry, and reads the target's breaker; the
// Run's end is told to Ended. A call with an idempotency key, or with a
// deadline, is queued as usual.
func TestSubmitForARunHere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	trips := &roundTrips{}
	b.rdb.AddHook(trips)
	b.submitToRun(t, trips, 1, "", time.Time{}) // Redis learns the scripts
	trips.take()
	run, sub := b.submitToRun(t, trips, 2, "", time.Time{})
	if run == nil {
		t.Fatal("no Run handed over")
	}
	if n := trips.take(); n != 1 {
		t.Errorf("the submit took %d round trips, want 1", n)
	}
	select {
	case <-run.Landed():
	default:
		t.Fatal("Submit returned before its Run landed")
	}
	s := run.Started
	if s.Err != nil || !s.Claimed || s.Job == nil || s.Job.Status != reliapi.JobRunning || s.Job.Attempts != 1 || s.Job.TaskID != run.Delivery.Claim.TaskID {
		t.Fatalf("the Run's start: %+v", s)
	}
	if _, ok := run.Admission(); !ok {
		t.Error("the breaker read does not admit through a closed breaker")
	}
	if info, err := b.ins.GetTaskInfo(sub.Job.Queue, sub.Job.TaskID); err != nil || info.State != asynq.TaskStateScheduled {
		t.Errorf("the job's asynq task: %+v %v; want it scheduled as the fallback", info, err)
	}
	if e, err := lane.NewPopper(b.rdb, time.Millisecond, sub.Job.Queue).Pop(t.Context(), 1); len(e) != 0 || err != nil {
		t.Errorf("the lane holds %+v %v; want nothing for a job run by its caller", e, err)
	}
	var ended *reliapi.Job
	run.Delivery.Ended = func(j *reliapi.Job) { ended = j }
	if err := b.m.Finish(t.Context(), run.Delivery, s.Job, &reliapi.Result{Data: []byte(`{"status_code":200}`)}); err != nil {
		t.Fatal(err)
	}
	if ended == nil || ended.ID != jobID(2) || ended.Status != reliapi.JobSucceeded {
		t.Errorf("Ended was told %+v, want the job succeeded", ended)
	}

	for _, tt := range []struct {
		name     string
		key      string
		deadline time.Time
	}{{"idempotency key", "k", time.Time{}}, {"deadline", "", time.Now().Add(time.Minute)}} {
		if run, sub := b.submitToRun(t, trips, 3+len(tt.name), tt.key, tt.deadline); run != nil || sub.Job.Status != reliapi.JobQueued {
			t.Errorf("%s: handed a Run %v, job %s; want none, queued", tt.name, run != nil, sub.Job.Status)
		}
	}
}

// submitToRun submits sync call n (with idempotency key key and deadline,
// when set) for its caller to run, and returns the Run it was handed (nil
// when none), checking that it was handed over before the round trip that
// creates the job.
func (b *bundle) submitToRun(t *testing.T, trips *roundTrips, n int, key string, deadline time.Time) (*lifecycle.Run, lifecycle.Submitted) {
	t.Helper()
	var run *lifecycle.Run
	s := lifecycle.Submission{
		ID: jobID(n), Tenant: "t", RequestHash: "h", Queue: tasks.QueueSync, Deadline: deadline,
		Payload: tasks.Payload{Tenant: "t", Target: "up", IdempotencyKey: key, HTTP: &tasks.HTTPRequest{Method: "GET", Path: "/"}},
		Run: func(r *lifecycle.Run) {
			run = r
			if trips.take() != 0 {
				t.Errorf("call %d: a round trip before its Run was handed over", n)
			}
			if _, err := b.m.Store().Get(t.Context(), "t", jobID(n)); !errors.Is(err, reliapi.ErrNotFound) {
				t.Errorf("call %d: its record exists before its Run was handed over: %v", n, err)
			}
			trips.take()
			select {
			case <-r.Landed():
				t.Errorf("call %d: landed before its round trip", n)
			default:
			}
		},
	}
	sub, err := b.m.Submit(t.Context(), s)
	if err != nil {
		t.Fatalf("call %d: %v", n, err)
	}
	return run, sub
}
