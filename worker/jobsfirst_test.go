package worker

import (
	"context"
	"testing"
	"time"
)

// waitReturns runs j.wait with an hour's patience and returns what it
// reports, failing the test unless it returns within bound.
func waitReturns(t *testing.T, j *jobsFirst, bound time.Duration) bool {
	t.Helper()
	got := make(chan bool, 1)
	go func() { got <- j.wait(t.Context(), time.Hour) }()
	select {
	case ok := <-got:
		return ok
	case <-time.After(bound):
		t.Fatalf("wait did not return within %v", bound)
		return false
	}
}

// TestJobsFirst: the webhook lane waits while any job popper's last pop
// was full, and goes on once none is.
func TestJobsFirst(t *testing.T) {
	j := newJobsFirst()
	if !waitReturns(t, j, time.Second) {
		t.Fatal("held back with no job popper full")
	}
	a, b := j.popper(), j.popper()
	a.popping()(true)
	b.popping()(true)
	if j.wait(t.Context(), time.Millisecond) {
		t.Fatal("not held back while job poppers are full")
	}
	released := make(chan bool, 1)
	go func() { released <- j.wait(t.Context(), time.Hour) }()
	a.popping()(false) // a's lane ran short; b's is still full
	if j.clear() {
		t.Fatal("clear while a job popper is full")
	}
	select {
	case <-released:
		t.Fatal("released while a job popper is full")
	default:
	}
	b.done()
	if !j.clear() {
		t.Fatal("not clear once no job popper is full")
	}
	select {
	case ok := <-released:
		if !ok {
			t.Fatal("wait reported a full job popper after the last one cleared")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not released once no job popper was full")
	}
}

// TestJobsFirstQuietPop: a pop that follows a full one and waits on an
// empty lane clears its popper before it returns; its timer does nothing
// once the pop has ended.
func TestJobsFirstQuietPop(t *testing.T) {
	j := newJobsFirst()
	p := j.popper()
	p.popping()(true)
	popped := p.popping() // waits on an empty lane for longer than quietPop
	if !waitReturns(t, j, 5*time.Second) {
		t.Fatal("wait reported a full job popper")
	}
	popped(true) // the wait ended with an entry for every slot

	p.j.mu.Lock()
	ended := p.pops - 1 // the number of the pop that just ended
	p.j.mu.Unlock()
	p.clearIf(ended)
	if j.wait(t.Context(), time.Millisecond) {
		t.Fatal("a pop's quiet timer cleared the popper after the pop ended")
	}
}

// TestJobsFirstStops: a stopping webhook popper is not held back.
func TestJobsFirstStops(t *testing.T) {
	j := newJobsFirst()
	j.popper().popping()(true)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if j.wait(ctx, time.Hour) {
		t.Fatal("wait reported no job popper full")
	}
}
