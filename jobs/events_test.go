package jobs_test

import (
	"testing"
	"time"

	"github.com/reliapi/reliapi/jobs"
)

// TestEvents: events come back in order with their entry IDs, a reader
// goes on after any of them, a blocked read wakes on the next append, and
// the stream expires with the job records.
func TestEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{Retention: time.Hour})
	ctx := t.Context()
	id := newJobID()

	if evs, err := b.store.Events(ctx, id, "0", 0); err != nil || len(evs) != 0 {
		t.Fatalf("no stream yet: %v %v", evs, err)
	}
	err := b.store.AppendEvents(ctx, id,
		jobs.NewEvent("", jobs.EventMeta, jobs.StreamMeta{JobID: id}),
		jobs.NewEvent("", jobs.EventChunk, jobs.StreamChunk{Delta: "Hel"}))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := b.store.Events(ctx, id, "0", 0)
	if err != nil || len(evs) != 2 || evs[0].Type != jobs.EventMeta || evs[1].Type != jobs.EventChunk || string(evs[1].Data) != `{"delta":"Hel","finish_reason":null}` {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	if evs[0].Terminal() || evs[0].ID >= evs[1].ID {
		t.Fatalf("ids %s, %s", evs[0].ID, evs[1].ID)
	}

	woke := make(chan []jobs.Event, 1)
	go func() {
		more, err := b.store.Events(ctx, id, evs[1].ID, waitBound)
		if err != nil {
			t.Error(err)
		}
		woke <- more
	}()
	if err := b.store.AppendEvent(ctx, id, jobs.EventDone, jobs.StreamDone{FinishReason: "stop"}); err != nil {
		t.Fatal(err)
	}
	more := <-woke
	if len(more) != 1 || !more[0].Terminal() {
		t.Fatalf("after %s: %+v", evs[1].ID, more)
	}
	if ttl := b.rdb.TTL(ctx, "reliapi:job:{"+id+"}:events").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("events TTL = %v", ttl)
	}
}
