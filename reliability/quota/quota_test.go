package quota_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/quota"
)

func TestWindowAdmitsUpToItsLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := quota.New(testenv.StartRedis(t).Client(t))
	w := quota.Window{Name: "tenant:a:rpm", Limit: 5, Period: time.Minute}
	for i := range 5 {
		d, err := q.Admit(ctx, nil, w)
		if err != nil || !d.Allowed || d.Remaining != 4-i || d.Window != w {
			t.Fatalf("call %d: %+v, %v", i+1, d, err)
		}
		if d.Reset <= 59*time.Second || d.Reset > time.Minute {
			t.Errorf("call %d: reset %v: want the oldest call's time left, about 1m", i+1, d.Reset)
		}
	}
	d, err := q.Admit(ctx, nil, w)
	if err != nil || d.Allowed || d.Remaining != 0 || d.Window != w || d.Reset <= 59*time.Second {
		t.Fatalf("6th call: %+v, %v: want refused for about a minute", d, err)
	}
}

func TestWindowRollsOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := quota.New(testenv.StartRedis(t).Client(t))
	w := quota.Window{Name: "short", Limit: 2, Period: 300 * time.Millisecond}
	for range 2 {
		if d, _ := q.Admit(ctx, nil, w); !d.Allowed {
			t.Fatal("refused within the limit")
		}
	}
	d, _ := q.Admit(ctx, nil, w)
	if d.Allowed || d.Reset > 300*time.Millisecond {
		t.Fatalf("3rd call: %+v", d)
	}
	// The window has room again once its oldest call is older than Period.
	testenv.Eventually(t, 5*time.Second, "the window rolls over", func() bool {
		d, err := q.Admit(ctx, nil, w)
		return err == nil && d.Allowed
	})
}

// TestRefusedCallCountsNowhere: a call refused by one window is not
// counted in the others, so it does not use up their capacity.
func TestRefusedCallCountsNowhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	q := quota.New(rdb)
	small := quota.Window{Name: "small", Limit: 2, Period: time.Minute}
	big := quota.Window{Name: "big", Limit: 100, Period: time.Minute}
	for i := range 10 {
		d, err := q.Admit(ctx, nil, big, small)
		if err != nil || d.Allowed != (i < 2) {
			t.Fatalf("call %d: %+v %v", i+1, d, err)
		}
		if !d.Allowed && d.Window != small {
			t.Fatalf("refused by %+v, want the small window", d.Window)
		}
	}
	if n := rdb.ZCard(ctx, "reliapi:quota:{big}").Val(); n != 2 {
		t.Errorf("the big window counts %d calls, want the 2 admitted", n)
	}
}

// TestWindowHoldsAcrossClients: many callers on two connections pools,
// as two api replicas would be, get exactly the limit between them.
func TestWindowHoldsAcrossClients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testenv.StartRedis(t)
	qs := []*quota.Quota{quota.New(r.Client(t)), quota.New(r.Client(t))}
	w := quota.Window{Name: "shared", Limit: 60, Period: time.Minute}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			d, err := qs[i%2].Admit(ctx, nil, w)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 60 {
		t.Fatalf("admitted %d of 200, want exactly 60", n)
	}
}

func TestBanAfterViolations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := quota.New(testenv.StartRedis(t).Client(t))
	w := quota.Window{Name: "w", Limit: 100, Period: time.Minute}
	for i := range 3 {
		banned, err := q.Violation(ctx, "key:abc", 3, time.Minute, 500*time.Millisecond)
		if err != nil || banned != (i == 2) {
			t.Fatalf("violation %d: banned %v, %v", i+1, banned, err)
		}
	}
	d, err := q.Admit(ctx, []string{"ip:192.0.2.1", "key:abc"}, w)
	if err != nil || d.Allowed || d.Banned != "key:abc" || d.BanLeft <= 0 || d.BanLeft > 500*time.Millisecond {
		t.Fatalf("banned call: %+v, %v", d, err)
	}
	if d, _ := q.Admit(ctx, []string{"key:other"}, w); !d.Allowed {
		t.Fatal("another key is banned too")
	}
	// The ban expires by itself, and the banned call was not counted.
	testenv.Eventually(t, 5*time.Second, "the ban expires", func() bool {
		d, err := q.Admit(ctx, []string{"key:abc"}, w)
		return err == nil && d.Allowed
	})
}

func TestNothingToCheck(t *testing.T) {
	t.Parallel()
	// No Redis at all: nothing to check must not need one.
	q := quota.New(nil)
	if d, err := q.Admit(context.Background(), nil, quota.Window{Name: "off", Limit: 0, Period: time.Minute}); err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := quota.New(testenv.StartRedis(t).Client(t))
	hold := func(member string, d time.Duration) bool {
		t.Helper()
		ok, err := q.Hold(ctx, "tenant:a:jobs", member, 2, d)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !hold("j1", time.Minute) || !hold("j2", time.Minute) {
		t.Fatal("refused within the limit")
	}
	if !hold("j1", time.Minute) {
		t.Fatal("a holder holding again was refused")
	}
	if hold("j3", time.Minute) {
		t.Fatal("a third holder got a slot of two")
	}
	if err := q.Release(ctx, "tenant:a:jobs", "j1"); err != nil {
		t.Fatal(err)
	}
	if !hold("j3", 200*time.Millisecond) {
		t.Fatal("no slot after a release")
	}
	// A holder that never releases (its process died) loses the slot when
	// its hold expires.
	testenv.Eventually(t, 5*time.Second, "an expired hold frees its slot", func() bool { return hold("j4", time.Minute) })
}

// TestSlotsOutliveTheLongestHold: a short hold taken after a long one does
// not shorten the set's life to its own, which would free the long
// holder's slot with it.
func TestSlotsOutliveTheLongestHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client(t)
	q := quota.New(rdb)
	for _, h := range []struct {
		member string
		hold   time.Duration
	}{{"long", time.Hour}, {"short", time.Second}} {
		if ok, err := q.Hold(ctx, "tenant:a:jobs", h.member, 2, h.hold); err != nil || !ok {
			t.Fatalf("hold %s: %v %v", h.member, ok, err)
		}
	}
	if ttl := rdb.PTTL(ctx, "reliapi:slots:{tenant:a:jobs}").Val(); ttl < 59*time.Minute {
		t.Fatalf("the slots expire in %v, before the hour-long hold ends", ttl)
	}
}

// BenchmarkAdmit is one call's admission through the four windows a free
// tenant has (rpm, per second, IP, client) and two ban checks: one round
// trip.
func BenchmarkAdmit(b *testing.B) {
	ctx := context.Background()
	q := quota.New(testenv.StartRedis(b).Client(b))
	ws := []quota.Window{
		{Name: "t:rpm", Limit: 1 << 30, Period: time.Minute},
		{Name: "t:rps", Limit: 1 << 30, Period: time.Second},
		{Name: "ip", Limit: 1 << 30, Period: time.Minute},
		{Name: "client", Limit: 1 << 30, Period: time.Minute},
	}
	bans := []string{"key:k", "ip:i"}
	for b.Loop() {
		if d, err := q.Admit(ctx, bans, ws...); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
	}
}
