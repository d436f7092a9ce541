package lane_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
)

// push pushes one entry of queue for tenant, weight w, priority p; its
// task ID says which ("a-3").
func push(t *testing.T, rdb redis.UniversalClient, queue, id string, f lane.Flow) {
	t.Helper()
	_, err := luascript.Pipelined(t.Context(), rdb, func(p redis.Pipeliner) error {
		lane.Push(t.Context(), p, lane.Entry{Queue: queue, TaskID: id, Payload: []byte(`{}`)}, f, nil)
		return nil
	})
	if err != nil {
		t.Fatalf("pushing %s: %v", id, err)
	}
}

// popN pops n entries (each must come at once) and returns their task IDs.
func popN(t *testing.T, p *lane.Popper, n int) []string {
	t.Helper()
	var out []string
	for range n {
		got, err := p.Pop(t.Context(), 1)
		if len(got) != 1 || err != nil {
			t.Fatalf("pop %d of %d: %v %v", len(out)+1, n, got, err)
		}
		out = append(out, got[0].TaskID)
	}
	return out
}

// tenantsOf counts popped IDs by their tenant prefix ("a-3" → "a").
func tenantsOf(ids []string) map[string]int {
	n := map[string]int{}
	for _, id := range ids {
		n[id[:1]]++
	}
	return n
}

// TestSharesFollowWeights: three tenants with work queued are served in
// proportion to their weights, however much each queued.
func TestSharesFollowWeights(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	for i := range 400 {
		push(t, rdb, "async", fmt.Sprintf("a-%d", i), lane.Flow{Tenant: "a", Weight: 1})
	}
	for i := range 100 {
		push(t, rdb, "async", fmt.Sprintf("b-%d", i), lane.Flow{Tenant: "b", Weight: 2})
		push(t, rdb, "async", fmt.Sprintf("c-%d", i), lane.Flow{Tenant: "c", Weight: 4})
	}
	p := lane.NewPopper(rdb, time.Millisecond, "async")
	for round := range 5 {
		// One pop of 35 takes them in the same order as 35 pops of one.
		batch, err := p.Pop(t.Context(), 35)
		if len(batch) != 35 || err != nil {
			t.Fatalf("round %d: popped %d, %v", round, len(batch), err)
		}
		var ids []string
		for _, e := range batch {
			ids = append(ids, e.TaskID)
		}
		got := tenantsOf(ids)
		if got["a"] != 5 || got["b"] != 10 || got["c"] != 20 {
			t.Fatalf("round %d: pops per tenant %v, want a 5, b 10, c 20", round, got)
		}
	}
}

// TestLateTenantNotBehindFlood: a tenant that comes after another queued
// a flood is served at once, alternating with it, and the flooder gains
// nothing from having run alone.
func TestLateTenantNotBehindFlood(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	for i := range 1000 {
		push(t, rdb, "async", fmt.Sprintf("a-%d", i), lane.Flow{Tenant: "a", Weight: 1})
	}
	p := lane.NewPopper(rdb, time.Millisecond, "async")
	popN(t, p, 500)
	for i := range 10 {
		push(t, rdb, "async", fmt.Sprintf("b-%d", i), lane.Flow{Tenant: "b", Weight: 1})
	}
	if got := tenantsOf(popN(t, p, 20)); got["b"] != 10 {
		t.Fatalf("the 20 pops after b came: %v, want b's 10 among them", got)
	}
}

// TestOrderInsideATenant: a tenant's jobs come high before normal before
// low, first in first out within each.
func TestOrderInsideATenant(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	for i, prio := range []reliapi.Priority{"low", "", "high", "low", "normal", "high"} {
		push(t, rdb, "sync", fmt.Sprintf("%s-%d", prio, i), lane.Flow{Tenant: "a", Weight: 1, Priority: prio})
	}
	p := lane.NewPopper(rdb, time.Millisecond, "sync")
	got := popN(t, p, 6)
	want := []string{"high-2", "high-5", "-1", "normal-4", "low-0", "low-3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}

	// A tenant alone takes a pop's whole batch, in the same order.
	for i, prio := range []reliapi.Priority{"low", "", "high", "low", "normal", "high"} {
		push(t, rdb, "sync", fmt.Sprintf("%s-%d", prio, i), lane.Flow{Tenant: "a", Weight: 1, Priority: prio})
	}
	batch, err := p.Pop(t.Context(), 10)
	got = nil
	for _, e := range batch {
		got = append(got, e.TaskID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || err != nil {
		t.Fatalf("one pop of 10 took %v (%v), want %v", got, err, want)
	}
}

// TestSyncBeforeAsync: a shard's sync work is taken before its async work,
// whoever queued it.
func TestSyncBeforeAsync(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	push(t, rdb, "async-2", "a-async", lane.Flow{Tenant: "a", Weight: 8})
	push(t, rdb, "sync-2", "b-sync", lane.Flow{Tenant: "b", Weight: 1})
	push(t, rdb, "sync", "c-other-shard", lane.Flow{Tenant: "c", Weight: 1})
	if got := popN(t, lane.NewPopper(rdb, time.Millisecond, "async-2"), 2); fmt.Sprint(got) != "[b-sync a-async]" {
		t.Fatalf("shard 2 popped %v, want its sync job first", got)
	}
}

// waitingPop starts a pop of shard 0 that waits for one entry, once it
// waits (registered); the func returns the entry (bounded).
func waitingPop(t *testing.T, rdb redis.UniversalClient) func() lane.Entry {
	t.Helper()
	p := lane.NewPopper(rdb, 10*time.Second, "async")
	popped := make(chan lane.Entry, 1)
	go func() {
		got, err := p.Pop(context.WithoutCancel(t.Context()), 8)
		if len(got) != 1 || err != nil {
			t.Errorf("waiting pop: %v %v", got, err)
			got = append(got, lane.Entry{})
		}
		popped <- got[0]
	}()
	testenv.Eventually(t, 5*time.Second, "the popper to wait", func() bool {
		return rdb.ZCard(t.Context(), "reliapi:lane:{lane-0}:waiters").Val() == 1
	})
	return func() lane.Entry {
		t.Helper()
		select {
		case e := <-popped:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting popper got nothing")
			return lane.Entry{}
		}
	}
}

// TestHandOffToWaitingWorker: a worker blocked on an empty lane is handed
// the next job in the round trip it waits in; a job pushed while nobody
// waits goes to the fair queue.
func TestHandOffToWaitingWorker(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	popped := waitingPop(t, rdb)
	push(t, rdb, "async", "a-1", lane.Flow{Tenant: "a", Weight: 1})
	if e := popped(); e.TaskID != "a-1" {
		t.Fatalf("the waiting popper got %+v", e)
	}
	if n := rdb.Exists(t.Context(), "reliapi:lane:{lane-0}:async:ready").Val(); n != 0 {
		t.Fatal("a job handed to a waiting worker was also queued")
	}
	// The popper's registration lasts until its next pop or its wait
	// lapses; with it gone (as when the worker is busy), a push is queued
	// fairly.
	if err := rdb.Del(t.Context(), "reliapi:lane:{lane-0}:waiters").Err(); err != nil {
		t.Fatal(err)
	}
	push(t, rdb, "async", "a-2", lane.Flow{Tenant: "a", Weight: 1})
	if n := rdb.ZCard(t.Context(), "reliapi:lane:{lane-0}:async:ready").Val(); n != 1 {
		t.Fatalf("with nobody waiting, %d tenants ready, want 1", n)
	}
}

// TestReturnedEntryComesFirst: an entry a stopping worker hands back is
// the next one popped, before fairly queued work.
func TestReturnedEntryComesFirst(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	push(t, rdb, "async", "a-1", lane.Flow{Tenant: "a", Weight: 1})
	push(t, rdb, "async", "a-2", lane.Flow{Tenant: "a", Weight: 1})
	push(t, rdb, "async", "a-3", lane.Flow{Tenant: "a", Weight: 1})
	p := lane.NewPopper(rdb, time.Millisecond, "async")
	got, err := p.Pop(t.Context(), 2)
	if len(got) != 2 || err != nil {
		t.Fatal(got, err)
	}
	if err := lane.Return(t.Context(), rdb, got...); err != nil {
		t.Fatal(err)
	}
	if got := popN(t, p, 3); fmt.Sprint(got) != "[a-1 a-2 a-3]" {
		t.Fatalf("popped %v after the hand-back, want a-1 and a-2 first, in their order", got)
	}
	if got, err := p.Pop(t.Context(), 1); len(got) != 0 || err != nil {
		t.Fatalf("an empty lane popped: %v %v", got, err)
	}
}

// TestLostListsSkipped: a ready tenant whose lists were lost (a failover)
// is dropped, and the pop serves the next one.
func TestLostListsSkipped(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	push(t, rdb, "async", "a-1", lane.Flow{Tenant: "a", Weight: 8})
	push(t, rdb, "async", "b-1", lane.Flow{Tenant: "b", Weight: 1})
	if err := rdb.Del(t.Context(), "reliapi:lane:{lane-0}:async:t:a:1").Err(); err != nil {
		t.Fatal(err)
	}
	if got := popN(t, lane.NewPopper(rdb, time.Millisecond, "async"), 1); got[0] != "b-1" {
		t.Fatalf("popped %v, want b-1", got)
	}
	if n := rdb.ZCard(t.Context(), "reliapi:lane:{lane-0}:async:ready").Val(); n != 0 {
		t.Fatalf("%d tenants still ready, want none", n)
	}
}

// TestEntriesComeBackWhole: a popped entry is the pushed one, whatever its
// payload holds (spaces, which the tenant lists use to prefix the weight;
// line breaks, which separate the entry's fields); one that does not
// decode is reported and the others still come.
func TestEntriesComeBackWhole(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	payload := []byte("{\"body\": \"two\nlines and spaces\"}")
	_, err := luascript.Pipelined(t.Context(), rdb, func(p redis.Pipeliner) error {
		lane.Push(t.Context(), p, lane.Entry{Queue: "async-1", TaskID: "t-1", Payload: payload}, lane.Flow{Tenant: "a", Weight: 1}, nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb.RPush(t.Context(), "reliapi:lane:{lane-1}:async:handoff", `{"q":"async-1"}`)
	got, err := lane.NewPopper(rdb, time.Millisecond, "async-1").Pop(t.Context(), 8)
	if err == nil || len(got) != 1 {
		t.Fatalf("popped %+v, %v; want the pushed entry and an error for the other", got, err)
	}
	if e := got[0]; e.Queue != "async-1" || e.TaskID != "t-1" || !bytes.Equal(e.Payload, payload) {
		t.Fatalf("popped %+v (payload %q)", e, e.Payload)
	}
}

// TestStats: what waits is counted per tenant, with its tier, in the
// order it will be served.
func TestStats(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	for i := range 3 {
		push(t, rdb, "async-1", fmt.Sprintf("a-%d", i), lane.Flow{Tenant: "a", Tier: "free", Weight: 1, Priority: reliapi.Priorities[i]})
	}
	push(t, rdb, "async-1", "b-0", lane.Flow{Tenant: "b", Tier: "pro", Weight: 4})
	if err := lane.Return(t.Context(), rdb, lane.Entry{Queue: "async-1", TaskID: "x"}); err != nil {
		t.Fatal(err)
	}
	got, err := lane.Stats(t.Context(), rdb, "sync-1", "async-1")
	if err != nil {
		t.Fatal(err)
	}
	want := "[{sync-1 [] 0} {async-1 [{a free 3} {b pro 1}] 1}]"
	if fmt.Sprint(got) != want {
		t.Fatalf("stats %v, want %s", got, want)
	}
}

// scriptCalls is how many scripts Redis has run (EVAL and EVALSHA).
func scriptCalls(t *testing.T, rdb redis.UniversalClient) int {
	t.Helper()
	n := 0
	for line := range strings.Lines(rdb.Info(t.Context(), "commandstats").Val()) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			n += atoi(t, rest[:strings.Index(rest, ",")])
		} else if rest, ok := strings.CutPrefix(line, "cmdstat_eval:calls="); ok {
			n += atoi(t, rest[:strings.Index(rest, ",")])
		}
	}
	return n
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIdlePopperOnlyWaits: a popper registered as waiting does not run the
// pop script again on every wait (an idle fleet costs Redis one BLPOP per
// popper per wait), and Close ends its registration.
func TestIdlePopperOnlyWaits(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	p := lane.NewPopper(rdb, 10*time.Millisecond, "async")
	for range 3 {
		if got, err := p.Pop(t.Context(), 1); len(got) != 0 || err != nil {
			t.Fatalf("an empty lane popped: %v %v", got, err)
		}
	}
	if n := scriptCalls(t, rdb); n != 1 {
		t.Fatalf("three idle pops ran %d scripts, want 1", n)
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(t.Context(), "reliapi:lane:{lane-0}:waiters").Val(); n != 0 {
		t.Fatalf("%d waiters after Close, want none", n)
	}
}

// BenchmarkPopBatch is a worker's pop of 16 entries, all of one tenant
// (the usual batch under a flood): one round trip and one script.
func BenchmarkPopBatch(b *testing.B) {
	ctx := context.Background()
	rdb := testenv.StartRedis(b).Client(b)
	p := lane.NewPopper(rdb, time.Millisecond, "async")
	for b.Loop() {
		b.StopTimer()
		_, err := luascript.Pipelined(ctx, rdb, func(pipe redis.Pipeliner) error {
			for i := range 16 {
				lane.Push(ctx, pipe, lane.Entry{Queue: "async", TaskID: fmt.Sprint(i), Payload: []byte(`{}`)}, lane.Flow{Tenant: "a", Weight: 1}, nil)
			}
			return nil
		})
		b.StartTimer()
		if got, perr := p.Pop(ctx, 16); len(got) != 16 || err != nil || perr != nil {
			b.Fatal(len(got), err, perr)
		}
	}
}

// pushStarting pushes entry id of async-0 for tenant a with a Start on the
// job record of the same ID, reading hash br with it.
func pushStarting(t *testing.T, rdb redis.UniversalClient, id string) {
	t.Helper()
	start := &lane.Start{Record: jobs.RecordKey(id), Token: "tok-" + id, Lease: 5 * time.Second, Read: "br", Fields: []string{"state", "gen", "nope"}}
	_, err := luascript.Pipelined(t.Context(), rdb, func(p redis.Pipeliner) error {
		lane.Push(t.Context(), p, lane.Entry{Queue: "async-0", TaskID: id, Payload: []byte(`{}`)}, lane.Flow{Tenant: "a", Weight: 1}, start)
		return nil
	})
	if err != nil {
		t.Fatalf("pushing %s: %v", id, err)
	}
}

// TestPushSentAgainHandsNothing runs a starting push twice, as go-redis
// does when a network error hides the first one's answer: the first
// starts its job and hands it to the waiting popper; the second finds its
// own claim on the job and hands nothing to the next popper, who gets the
// next job instead.
func TestPushSentAgainHandsNothing(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	queuedRecord(t, rdb, "j1")
	queuedRecord(t, rdb, "j2")
	popped := waitingPop(t, rdb)
	pushStarting(t, rdb, "j1")
	if e := popped(); e.TaskID != "j1" || e.Started == nil {
		t.Fatalf("popped %+v, want j1 started", e)
	}
	// The first popper's registration lasts after its pop: gone, so that
	// the next waits for the second popper's own.
	rdb.Del(t.Context(), "reliapi:lane:{lane-0}:waiters")
	popped = waitingPop(t, rdb)
	pushStarting(t, rdb, "j1") // the same push again
	pushStarting(t, rdb, "j2")
	if e := popped(); e.TaskID != "j2" || e.Started == nil {
		t.Fatalf("popped %+v after j1's push was sent again, want j2 started", e)
	}
	if got, err := lane.NewPopper(rdb, time.Millisecond, "async-0").Pop(t.Context(), 8); len(got) != 0 || err != nil {
		t.Fatalf("the lane still holds %+v (%v), want nothing: j1 handed once", got, err)
	}
	if a := rdb.HGet(t.Context(), jobs.RecordKey("j1"), "attempts").Val(); a != "1" {
		t.Fatalf("j1 attempts %s, want 1", a)
	}
}

// queuedRecord writes a queued job record of id, its task id too.
func queuedRecord(t *testing.T, rdb redis.UniversalClient, id string) {
	t.Helper()
	if err := rdb.HSet(t.Context(), jobs.RecordKey(id), "id", id, "status", "queued", "task_id", id, "attempts", 0, "created_at", 1).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestHandOffStartsTheJob: a push with a Start that hands its entry to a
// waiting popper starts the job under the Start's claim, and the popper
// gets the claim, the record and the read with the entry; an entry under a
// claim that did not come straight from its push (handed back, or handed
// to a popper that died waiting) keeps the claim without the answer, for
// its delivery to confirm; a push that queues, or finds the job not
// queued, starts nothing.
func TestHandOffStartsTheJob(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	rdb.HSet(t.Context(), "br", "state", "closed", "gen", 3)
	waitFor := func(id string) lane.Entry {
		popped := waitingPop(t, rdb)
		pushStarting(t, rdb, id)
		return popped()
	}

	queuedRecord(t, rdb, "j1")
	e := waitFor("j1")
	rec := rdb.HGetAll(t.Context(), jobs.RecordKey("j1")).Val()
	if rec["status"] != "running" || rec["claim"] != "tok-j1" || rec["attempts"] != "1" || rec["claim_until"] == "" {
		t.Fatalf("record after a starting hand-off: %v", rec)
	}
	if e.TaskID != "j1" || e.Claim != "tok-j1" || e.Started == nil {
		t.Fatalf("popped %+v, want j1 under claim tok-j1 with the start's answer", e)
	}
	if st := jobs.StartedBy(e.Started.Record); st.Err != nil || st.Job.ID != "j1" || st.Job.Status != reliapi.JobRunning || st.Job.Attempts != 1 {
		t.Fatalf("the start's record %q reads as %+v", e.Started.Record, st)
	}
	if s := string(e.Started.Read); s != `["closed","3",false]` {
		t.Fatalf("the start's read %s", s)
	}

	// Handed back: the claim stays, the answer does not.
	if err := lane.Return(t.Context(), rdb, e); err != nil {
		t.Fatal(err)
	}
	got, err := lane.NewPopper(rdb, time.Millisecond, "async-0").Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "j1" || got[0].Claim != "tok-j1" || got[0].Started != nil || string(got[0].Payload) != `{}` {
		t.Fatalf("popped %+v %v after the hand-back, want j1 under its claim, no answer", got, err)
	}

	// Handed to a popper that died waiting: the next pop gets it late.
	queuedRecord(t, rdb, "j2")
	rdb.ZAdd(t.Context(), "reliapi:lane:{lane-0}:waiters", redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: "dead"})
	pushStarting(t, rdb, "j2")
	rdb.Del(t.Context(), "reliapi:lane:{lane-0}:waiters")
	got, err = lane.NewPopper(rdb, time.Millisecond, "async-0").Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].Claim != "tok-j2" || got[0].Started != nil {
		t.Fatalf("popped %+v %v, want j2 under its claim, no answer", got, err)
	}

	// Nobody waits: queued, not started.
	queuedRecord(t, rdb, "j3")
	pushStarting(t, rdb, "j3")
	if s := rdb.HGet(t.Context(), jobs.RecordKey("j3"), "status").Val(); s != "queued" {
		t.Fatalf("a queued push left its job %s", s)
	}
	got, err = lane.NewPopper(rdb, time.Millisecond, "async-0").Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].Claim != "" || got[0].Started != nil {
		t.Fatalf("popped %+v %v, want j3 without a claim", got, err)
	}

	// The job is no longer queued (canceled): handed off without a claim.
	rdb.HSet(t.Context(), jobs.RecordKey("j4"), "id", "j4", "status", "canceled", "task_id", "j4")
	if e := waitFor("j4"); e.TaskID != "j4" || e.Claim != "" || e.Started != nil {
		t.Fatalf("popped %+v, want j4 without a claim", e)
	}
	if s := rdb.HGet(t.Context(), jobs.RecordKey("j4"), "status").Val(); s != "canceled" {
		t.Fatalf("a canceled job handed off is %s", s)
	}
}
