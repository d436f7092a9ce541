package lane_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
)

// emptyWait pops an empty lane: p registers as waiting, and its wait ends
// with nothing.
func emptyWait(t *testing.T, p *lane.Popper) {
	t.Helper()
	if got, err := p.Pop(t.Context(), 8); len(got) != 0 || err != nil {
		t.Fatalf("pop of an empty lane: %v %v", got, err)
	}
}

// registeredPopper starts a private Redis and a popper of shard 0 on it
// that is registered as waiting, its first (empty) wait over.
func registeredPopper(t *testing.T) (redis.UniversalClient, *lane.Popper) {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	p := lane.NewPopper(rdb, time.Second, "async-0")
	emptyWait(t, p)
	return rdb, p
}

// TestOnlyFreshHandOffsComeStarted: an entry a push started for a popper
// that was registered but not waiting — its worker waited for a slot after
// its last empty wait — comes from the pop script without the start's
// answer (its claim may have lapsed meanwhile, the job been canceled or
// taken over), for the delivery to confirm; one handed while the popper
// waits again at once after an empty wait comes with it.
func TestOnlyFreshHandOffsComeStarted(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	p := lane.NewPopper(rdb, time.Second, "async-0")

	emptyWait(t, p) // registered, its wait over
	queuedRecord(t, rdb, "late")
	pushStarting(t, rdb, "late")
	lane.SetWaited(p, time.Now().Add(-time.Second)) // its worker waited for a slot
	got, err := p.Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "late" || got[0].Claim != "tok-late" || got[0].Started != nil {
		t.Fatalf("popped %+v %v; want the late entry under its claim, without the start's answer", got, err)
	}

	emptyWait(t, p) // the script found nothing: registered again, its wait over
	queuedRecord(t, rdb, "fresh")
	pushStarting(t, rdb, "fresh")
	lane.SetWaited(p, time.Now()) // and it waits again at once
	got, err = p.Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "fresh" || got[0].Started == nil {
		t.Fatalf("popped %+v %v; want the fresh entry with the start's answer", got, err)
	}
}

// TestEntryKeptWhenThePopScriptFails: Redis lost its scripts (a restart)
// while an entry was handed to the popper; the pop script fails, and the
// BLPOP that runs beside it takes the entry, which the pop returns — not
// as fresh, since nothing looked at the hand-off lists first — instead of
// leaving the job to its fallback.
func TestEntryKeptWhenThePopScriptFails(t *testing.T) {
	t.Parallel()
	rdb, p := registeredPopper(t)
	queuedRecord(t, rdb, "kept")
	pushStarting(t, rdb, "kept")
	if err := rdb.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	lane.SetWaited(p, time.Time{}) // a pop that runs the script
	got, err := p.Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "kept" || got[0].Claim != "tok-kept" || got[0].Started != nil {
		t.Fatalf("popped %+v %v; want the handed entry under its claim, without the start's answer", got, err)
	}
	emptyWait(t, p) // the next pop loads the script again
}

// TestHandedPopperWaitsAgainWithoutScript: a popper that was handed an
// entry waits again at once without the pop script (a quiet lane costs
// Redis one BLPOP per job, not a script and a BLPOP), and what that wait
// returns came straight from its push, with the start's answer.
func TestHandedPopperWaitsAgainWithoutScript(t *testing.T) {
	t.Parallel()
	rdb, p := registeredPopper(t)
	for _, id := range []string{"j1", "j2"} {
		queuedRecord(t, rdb, id)
		pushStarting(t, rdb, id)
		lane.SetWaited(p, time.Now()) // the popper comes back at once
		before := scriptCalls(t, rdb)
		got, err := p.Pop(t.Context(), 8)
		if len(got) != 1 || err != nil || got[0].TaskID != id || got[0].Started == nil {
			t.Fatalf("popped %+v %v; want %s with the start's answer", got, err, id)
		}
		if n := scriptCalls(t, rdb) - before; n != 0 {
			t.Fatalf("the pop of %s ran %d scripts, want none", id, n)
		}
	}
}

// TestRecheckTokenWakesAHandedPopper: two pushes come while the only
// waiting popper is away: the first is handed to it, the second finds it
// handed one already and queues fairly, leaving one token on the shard's
// recheck list (a third leaves no second). The popper takes the first,
// then, waiting again without the script, the token, and its next pop
// runs the script and takes the queued entries — not after its
// registration nears its end.
func TestRecheckTokenWakesAHandedPopper(t *testing.T) {
	t.Parallel()
	rdb, p := registeredPopper(t)
	queuedRecord(t, rdb, "handed")
	pushStarting(t, rdb, "handed")
	push(t, rdb, "async-0", "queued-1", lane.Flow{Tenant: "a", Weight: 1})
	push(t, rdb, "async-0", "queued-2", lane.Flow{Tenant: "a", Weight: 1})
	const tokens = "reliapi:lane:{lane-0}:recheck"
	if n := rdb.LLen(t.Context(), tokens).Val(); n != 1 {
		t.Fatalf("%d recheck tokens, want 1", n)
	}
	if ttl := rdb.PTTL(t.Context(), tokens).Val(); ttl <= 0 {
		t.Fatalf("the recheck list lasts %v, want a lapse", ttl)
	}
	lane.SetWaited(p, time.Now())
	if got, err := p.Pop(t.Context(), 8); len(got) != 1 || err != nil || got[0].TaskID != "handed" {
		t.Fatalf("popped %+v %v; want the handed entry", got, err)
	}
	if got, err := p.Pop(t.Context(), 8); len(got) != 0 || err != nil {
		t.Fatalf("popped %+v %v; want the token's wake-up, nothing", got, err)
	}
	got, err := p.Pop(t.Context(), 8)
	if len(got) != 2 || err != nil || got[0].TaskID != "queued-1" || got[1].TaskID != "queued-2" {
		t.Fatalf("popped %+v %v; want both queued entries", got, err)
	}
}

// TestNoRecheckTokenWithoutWaiters: a push that queues while no worker
// waits leaves no token; the next pop, which runs the script, takes it.
func TestNoRecheckTokenWithoutWaiters(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	push(t, rdb, "async-0", "queued", lane.Flow{Tenant: "a", Weight: 1})
	if n := rdb.Exists(t.Context(), "reliapi:lane:{lane-0}:recheck").Val(); n != 0 {
		t.Fatal("a push with nobody waiting left a recheck token")
	}
}

// TestStartedEntryOfAnEarlierPushReads: an entry an earlier build's push
// started, its record encoded as JSON on a line of its own, still comes
// with the start's answer, which reads as the started job.
func TestStartedEntryOfAnEarlierPushReads(t *testing.T) {
	t.Parallel()
	rdb, p := registeredPopper(t)
	old := "+tok-old\n" + `["id","old","status","running","task_id","old","attempts","1"]` + "\n" + `["closed"]` + "\nasync-0\nold\n{}"
	if err := rdb.RPush(t.Context(), "reliapi:lane:{lane-0}:async:handoff", old).Err(); err != nil {
		t.Fatal(err)
	}
	lane.SetWaited(p, time.Now())
	got, err := p.Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "old" || got[0].Claim != "tok-old" || got[0].Started == nil {
		t.Fatalf("popped %+v %v; want the old entry with the start's answer", got, err)
	}
	if st := jobs.StartedBy(got[0].Started.Record); st.Err != nil || st.Job.ID != "old" || st.Job.Attempts != 1 || string(got[0].Started.Read) != `["closed"]` {
		t.Fatalf("the old start's answer reads as %+v, read %s", st, got[0].Started.Read)
	}
}

// lateReplies holds every BLPOP's answer back for a while after Redis gave
// it, as a partition that leaves the connection open does.
type lateReplies struct{ by time.Duration }

func (lateReplies) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h lateReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "blpop" {
			<-time.After(h.by)
		}
		return err
	}
}

func (lateReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestLateHandOffComesUnstarted: an entry a push started for a waiting
// popper, whose answer reaches the popper after its wait was over (held in
// transit), comes under its claim without the start's answer: the claim
// may have lapsed and the job run elsewhere meanwhile, so its delivery
// confirms it first.
func TestLateHandOffComesUnstarted(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	p := lane.NewPopper(rdb, 100*time.Millisecond, "async-0")
	emptyWait(t, p)
	queuedRecord(t, rdb, "late")
	pushStarting(t, rdb, "late")
	rdb.AddHook(lateReplies{by: 200 * time.Millisecond})
	lane.SetWaited(p, time.Now())
	got, err := p.Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "late" || got[0].Claim != "tok-late" || got[0].Started != nil {
		t.Fatalf("popped %+v %v; want the entry under its claim, without the start's answer", got, err)
	}
}

// TestRecheckTokensPerWaitingPopper: while two poppers wait, each handed
// an entry already, every entry queued fairly leaves a token until there
// are two — one for each popper to run the script — and a popper woken by
// a token that stops before its script ran puts the token back.
func TestRecheckTokensPerWaitingPopper(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	p1 := lane.NewPopper(rdb, time.Second, "async-0")
	p2 := lane.NewPopper(rdb, time.Second, "async-0")
	emptyWait(t, p1)
	emptyWait(t, p2)
	for _, id := range []string{"h1", "h2", "q1", "q2", "q3"} {
		push(t, rdb, "async-0", id, lane.Flow{Tenant: "a", Weight: 1})
	}
	const tokens = "reliapi:lane:{lane-0}:recheck"
	if n := rdb.LLen(t.Context(), tokens).Val(); n != 2 {
		t.Fatalf("%d recheck tokens, want 2 (one per waiting popper)", n)
	}
	lane.SetWaited(p1, time.Now())
	lane.SetEmptied(p1, time.Now())
	if got, err := p1.Pop(t.Context(), 1); len(got) != 1 || err != nil || got[0].TaskID != "h1" {
		t.Fatalf("popped %+v %v; want h1", got, err)
	}
	rdb.Del(t.Context(), "reliapi:lane:{lane-0}:async:handoff") // h2: p2's, not this test's
	if got, err := p1.Pop(t.Context(), 1); len(got) != 0 || err != nil {
		t.Fatalf("popped %+v %v; want a token's wake-up", got, err)
	}
	if err := p1.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := rdb.LLen(t.Context(), tokens).Val(); n != 2 {
		t.Fatalf("%d recheck tokens after the woken popper stopped, want its token back (2)", n)
	}
}

// TestHandOffRunEnds: a popper that has taken entries handed to it for
// longer than handOffRun since it last saw the hand-off lists empty runs
// the script again, which takes what is left as not fresh: a backlog of
// entries handed to poppers that do not take them cannot feed it old
// entries as fresh.
func TestHandOffRunEnds(t *testing.T) {
	t.Parallel()
	rdb, p := registeredPopper(t)
	queuedRecord(t, rdb, "old")
	pushStarting(t, rdb, "old")
	lane.SetWaited(p, time.Now())
	lane.SetEmptied(p, time.Now().Add(-2*time.Second))
	got, err := p.Pop(t.Context(), 8)
	if len(got) != 1 || err != nil || got[0].TaskID != "old" || got[0].Claim != "tok-old" || got[0].Started != nil {
		t.Fatalf("popped %+v %v; want the entry under its claim, without the start's answer", got, err)
	}
}
