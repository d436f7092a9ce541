package chaos_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// TestAPIKilled: the api is SIGKILLed while clients wait on sync calls it
// runs itself (server.run_sync_calls). Its callers lose their connections;
// their jobs were recorded running under the api's claims, so a worker
// takes each over once its claim lapses (within claimLease, 5 s) and its
// asynq task finds it: every job ends, none lost, within killRecovery in
// `make chaos`. A call the dead api had made but not recorded is made
// again (X-Call tells the upstream; the table counts those).
func TestAPIKilled(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 1, testenv.Section{"cache": "{enabled: false}"}, "")
	f.up.SetDelay(100 * time.Millisecond) // calls are in flight when the api dies
	client := f.client(30 * time.Second)
	var n atomic.Int64
	stop := clients(8, func() {
		i := n.Add(1)
		send(client, map[string]any{"target": "up", "method": "GET", "path": "/work", "headers": map[string]any{"X-Call": fmt.Sprintf("api-kill-%d", i)}})
	})
	testenv.Eventually(t, time.Minute, "sync calls to reach the upstream", func() bool {
		return f.up.Total() >= sized(40, 200)
	})
	killed := time.Now()
	f.api.Kill()
	stop()

	rdb := f.redis.Client(t)
	ids, err := rdb.ZRange(context.Background(), "reliapi:tenant:{default}:jobs", 0, -1).Result()
	if err != nil || len(ids) == 0 {
		t.Fatalf("the jobs the api created: %v %v", ids, err)
	}
	store := jobs.NewStore(rdb, jobs.Config{})
	status := func(id string) string {
		j, err := store.Lookup(context.Background(), id)
		if err != nil {
			return "unreadable"
		}
		return string(j.Status)
	}
	ended := func(id string) bool {
		return slices.Contains([]string{"succeeded", "failed", "canceled", "expired"}, status(id))
	}
	testenv.Eventually(t, 4*time.Minute, "every job the dead api created to end", func() bool {
		return !slices.ContainsFunc(ids, func(id string) bool { return !ended(id) })
	})
	recovery := time.Since(killed)

	r := row{scenario: "the api SIGKILLed mid sync calls (it runs them itself)", accepted: len(ids)}
	for _, id := range ids {
		if r.tally(status(id)) {
			t.Logf("job %s: %s", id, f.whereIs(id))
		}
	}
	r.dups = f.up.Duplicates()
	r.notes = fmt.Sprintf("all its jobs ended %v after the kill (its claims lapse, the jobs' asynq tasks run them on the worker); "+
		"their callers lost their connections; a duplicate is a call the dead api had made but not recorded, made again (at least once)", recovery.Round(100*time.Millisecond))
	record(r)
	if r.lost > 0 || r.completed != len(ids) {
		t.Errorf("%+v", r)
	}
	if *full && recovery > killRecovery {
		t.Errorf("the jobs ended %v after the kill, want at most %v", recovery, killRecovery)
	}
}
