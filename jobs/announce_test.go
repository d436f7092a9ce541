package jobs_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
)

// The shared done channel, and two api replicas' own.
const (
	sharedChannel = "reliapi:jobs:done"
	replicaA      = "reliapi:jobs:done:replica-a"
	replicaB      = "reliapi:jobs:done:replica-b"
)

// TestEndsAnnouncedToTheirWatchers ends jobs watched in every way and not
// at all, and reads what each channel received: a job's end goes to the
// replicas that watch it and nowhere else; an async job nobody waits on
// is not announced; a sync job whose record names no watcher (created by
// an earlier api) and a cancel of an unwatched job go to the shared
// channel, as before.
func TestEndsAnnouncedToTheirWatchers(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	sub := b.rdb.Subscribe(ctx, sharedChannel, replicaA, replicaB)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the first subscription's confirmation
		t.Fatal(err)
	}
	waitFor(t, "the subscriptions", func() bool {
		n, err := b.rdb.PubSubNumSub(ctx, sharedChannel, replicaA, replicaB).Result()
		return err == nil && n[sharedChannel] == 1 && n[replicaA] == 1 && n[replicaB] == 1
	})

	created := func(watcher string) string {
		n := newJob(newJobID(), "acme")
		n.Watcher = watcher
		j, ok, err := b.store.Create(ctx, n, nil)
		if err != nil || !ok {
			t.Fatalf("Create = %v, %v", ok, err)
		}
		b.start(t, j.ID, taskA)
		return j.ID
	}
	finish := func(id string, waited bool) {
		if ok, err := b.store.Finish(ctx, id, jobs.Claim{TaskID: taskA}, reliapi.JobSucceeded, okResult, waited, nil); err != nil || !ok {
			t.Fatalf("Finish(%s) = %v, %v", id, ok, err)
		}
	}
	watch := func(id, channel string) {
		if _, err := b.store.GetWatched(ctx, "acme", id, channel); err != nil {
			t.Fatalf("GetWatched(%s, %s): %v", id, channel, err)
		}
	}

	syncA := created(replicaA) // a sync call's job, created watched by A
	finish(syncA, true)
	async := created("") // an async job nobody waits on
	finish(async, false)
	older := created("") // a sync job of an earlier api
	finish(older, true)
	polled := created("") // an async job long-polled on A and B (twice on A)
	watch(polled, replicaA)
	watch(polled, replicaB)
	watch(polled, replicaA)
	finish(polled, false)
	canceled := created("")
	if _, err := b.store.Cancel(ctx, "acme", canceled); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{sharedChannel, replicaA, replicaB} {
		if err := b.rdb.Publish(ctx, ch, "end").Err(); err != nil {
			t.Fatal(err)
		}
	}

	// Redis delivers a client's messages in the order it published them:
	// once every channel's "end" arrived, nothing else will.
	got := map[string][]string{}
	for ended := 0; ended < 3; {
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Payload == "end" {
			ended++
			continue
		}
		id, record, _ := strings.Cut(msg.Payload, "\n")
		if record == "" {
			t.Errorf("%s: the announcement of %s carries no record", msg.Channel, id)
		}
		got[msg.Channel] = append(got[msg.Channel], id)
	}
	want := map[string][]string{
		replicaA:      {syncA, polled},
		replicaB:      {polled},
		sharedChannel: {older, canceled},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("announcements by channel = %v, want %v (the unwatched async job %s on none)", got, want, async)
	}
}

// TestGetWatched names the reader's channel among a job's watchers once,
// and only while the job has not ended; another tenant's read finds
// nothing and names nothing.
func TestGetWatched(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()

	id := b.reach(t, "running")
	for _, ch := range []string{replicaA, replicaA, replicaB} {
		j, err := b.store.GetWatched(ctx, "acme", id, ch)
		if err != nil || j.ID != id || j.Status != reliapi.JobRunning {
			t.Fatalf("GetWatched(%s) = %+v, %v", ch, j, err)
		}
	}
	if got := b.get(t, "acme", id).Watchers; !reflect.DeepEqual(got, []string{replicaA, replicaB}) {
		t.Errorf("watchers = %q, want A and B once each", got)
	}

	if _, err := b.store.GetWatched(ctx, "other", id, "reliapi:jobs:done:other"); !errors.Is(err, reliapi.ErrNotFound) {
		t.Errorf("another tenant's GetWatched: %v, want ErrNotFound", err)
	}
	if got := b.get(t, "acme", id).Watchers; len(got) != 2 {
		t.Errorf("watchers after another tenant's read = %q", got)
	}

	done := b.reach(t, "succeeded")
	j, err := b.store.GetWatched(ctx, "acme", done, replicaA)
	if err != nil || j.Status != reliapi.JobSucceeded || j.Watchers != nil {
		t.Errorf("GetWatched of an ended job = %+v, %v; want it as it was, unwatched", j, err)
	}
	if _, err := b.store.GetWatched(ctx, "acme", newJobID(), replicaA); !errors.Is(err, reliapi.ErrNotFound) {
		t.Errorf("GetWatched of a missing job: %v, want ErrNotFound", err)
	}
}

// TestLongPollOfAnAsyncJobWakesOnItsEnd waits on an async job (created
// with no watcher) and ends it, then deletes its record: the waiter can
// only return the finished job if the end was announced to it, for a read
// by its fallback poll would find nothing.
func TestLongPollOfAnAsyncJobWakesOnItsEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	w := b.newWaiter(t)
	b.startWaiter(t, w)
	id := b.reach(t, "running")
	ch := wait(t.Context(), w, "acme", id)
	b.awaitWatched(t, w, id)
	ended := time.Now()
	if ok, err := b.store.Finish(t.Context(), id, jobs.Claim{TaskID: taskA}, reliapi.JobSucceeded, okResult, false, nil); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if err := b.rdb.Del(t.Context(), jobs.RecordKey(id)).Err(); err != nil {
		t.Fatal(err)
	}
	r := receive(t, ch)
	if r.err != nil || r.job.Status != reliapi.JobSucceeded {
		t.Fatalf("Wait = %+v, %v; want the announced end", r.job, r.err)
	}
	wantAnnounced(t, r, ended)
}
