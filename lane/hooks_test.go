package lane_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/lane"
)

// TestHookPopper: deliveries come out of the webhook lane first in, first
// out, whole, as many as asked at once; an entry that does not decode is
// dropped and reported; an empty lane makes the next pop wait, and an
// entry pushed meanwhile wakes it.
func TestHookPopper(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	key := lane.HookKey("webhooks-2")
	at := time.UnixMilli(time.Now().UnixMilli())
	for i, p := range []string{`{"job_id":"a"}`, "not an entry", `{"job_id":"b"}`, `{"job_id":"c"}`} {
		entry := lane.Hook{Payload: []byte(p), At: at.Add(time.Duration(i) * time.Millisecond)}.Encode()
		if p == "not an entry" {
			entry = p
		}
		if err := rdb.RPush(t.Context(), key, entry).Err(); err != nil {
			t.Fatal(err)
		}
	}
	p := lane.NewHookPopper(rdb, "webhooks-2", 2*time.Second)
	got, err := p.Pop(t.Context(), 3)
	if err == nil || len(got) != 2 || string(got[0].Payload) != `{"job_id":"a"}` || !got[0].At.Equal(at) ||
		string(got[1].Payload) != `{"job_id":"b"}` || !got[1].At.Equal(at.Add(2*time.Millisecond)) {
		t.Fatalf("first pop: %+v %v, want a and b, and the bad entry reported", got, err)
	}
	if got, err := p.Pop(t.Context(), 3); len(got) != 1 || !bytes.Equal(got[0].Payload, []byte(`{"job_id":"c"}`)) || err != nil || p.Idle() {
		t.Fatalf("second pop: %+v %v", got, err)
	}
	if got, err := p.Pop(t.Context(), 3); len(got) != 0 || err != nil || !p.Idle() {
		t.Fatalf("pop of an empty lane: %+v %v, want none, and the popper idle", got, err)
	}
	woken := make(chan []lane.Hook, 1)
	go func() {
		got, _ := p.Pop(t.Context(), 3)
		woken <- got
	}()
	// The push comes while the pop blocks, or before it: either way it is
	// the pop's.
	if err := rdb.RPush(t.Context(), key, lane.Hook{Payload: []byte(`{"job_id":"d"}`), At: at}.Encode()).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-woken:
		if len(got) != 1 || string(got[0].Payload) != `{"job_id":"d"}` {
			t.Fatalf("woken pop: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting pop did not take the entry pushed")
	}

	// A stopping worker wakes its popper's blocking pop, which returns
	// nothing at once rather than after its wait.
	idle := lane.NewHookPopper(rdb, "webhooks-2", time.Minute)
	if got, err := idle.Pop(t.Context(), 1); len(got) != 0 || err != nil || !idle.Idle() {
		t.Fatalf("pop of an empty lane: %+v %v", got, err)
	}
	woken = make(chan []lane.Hook, 1)
	go func() {
		got, _ := idle.Pop(t.Context(), 1)
		woken <- got
	}()
	testenv.Eventually(t, 5*time.Second, "the pop to block", func() bool {
		n, err := rdb.ClientList(t.Context()).Result()
		return err == nil && strings.Contains(n, "cmd=blpop")
	})
	if err := idle.Wake(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-woken:
		if len(got) != 0 {
			t.Fatalf("woken pop: %+v, want nothing", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the woken pop did not return")
	}
}
