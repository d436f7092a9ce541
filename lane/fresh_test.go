package lane_test

import (
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
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
	rdb := testenv.StartRedis(t).Client(t)
	p := lane.NewPopper(rdb, time.Second, "async-0")
	emptyWait(t, p)
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
