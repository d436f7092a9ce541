package jobs_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// TestRunning: what workers publish is summed per tenant; a worker that
// publishes nothing running, or whose record expires (it died), no longer
// counts, and the index forgets it.
func TestRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()
	publish := func(worker string, ttl time.Duration, running ...jobs.TenantRunning) {
		t.Helper()
		if err := b.store.PublishRunning(ctx, worker, running, ttl); err != nil {
			t.Fatal(err)
		}
	}
	running := func() []jobs.TenantRunning {
		t.Helper()
		got, err := b.store.Running(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := running(); len(got) != 0 {
		t.Fatalf("nothing published: %v", got)
	}
	publish("w1", time.Minute, jobs.TenantRunning{Tenant: "acme", Tier: "pro", Jobs: 2}, jobs.TenantRunning{Tenant: "zed", Tier: "free", Jobs: 1})
	publish("w2", time.Minute, jobs.TenantRunning{Tenant: "acme", Tier: "pro", Jobs: 3})
	want := []jobs.TenantRunning{{Tenant: "acme", Tier: "pro", Jobs: 5}, {Tenant: "zed", Tier: "free", Jobs: 1}}
	if got := running(); !reflect.DeepEqual(got, want) {
		t.Errorf("two workers: %v, want %v", got, want)
	}
	// w1 now runs only zed's job: acme's are gone from its record.
	publish("w1", time.Minute, jobs.TenantRunning{Tenant: "zed", Tier: "free", Jobs: 1})
	want = []jobs.TenantRunning{{Tenant: "acme", Tier: "pro", Jobs: 3}, {Tenant: "zed", Tier: "free", Jobs: 1}}
	if got := running(); !reflect.DeepEqual(got, want) {
		t.Errorf("w1 changed: %v, want %v", got, want)
	}
	// w1 runs nothing; w2 dies (its record expires).
	publish("w1", time.Minute)
	publish("w2", 20*time.Millisecond, jobs.TenantRunning{Tenant: "acme", Tier: "pro", Jobs: 3})
	testenv.Eventually(t, waitBound, "w2's record to expire", func() bool { return len(running()) == 0 })
	if n := b.rdb.SCard(ctx, "reliapi:workers:{running}").Val(); n != 0 {
		t.Errorf("the index keeps %d workers that run nothing", n)
	}
}
