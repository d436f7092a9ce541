package keypool_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/keypool"
)

func newPool(t *testing.T, s keypool.Settings, keys ...keypool.Key) (*keypool.Pool, *redis.Client) {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	return keypool.New(rdb, "openai", keys, s), rdb
}

// travel moves a key's rest forward by d (what d passing looks like to the
// scripts, which compare Redis TIME with the stored end).
func travel(t *testing.T, rdb *redis.Client, id string, d time.Duration) {
	t.Helper()
	v, err := rdb.HGet(t.Context(), "reliapi:keypool:{openai}", id+":until").Int64()
	if err != nil {
		t.Fatal(err)
	}
	rdb.HSet(t.Context(), "reliapi:keypool:{openai}", id+":until", strconv.FormatInt(v-d.Milliseconds(), 10))
}

func pick(t *testing.T, p *keypool.Pool, exclude ...string) keypool.Lease {
	t.Helper()
	l, err := p.Pick(t.Context(), exclude...)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return l
}

func noKey(t *testing.T, p *keypool.Pool) *keypool.NoKeyError {
	t.Helper()
	_, err := p.Pick(t.Context())
	var nk *keypool.NoKeyError
	if !errors.As(err, &nk) || !errors.Is(err, keypool.ErrNoKey) {
		t.Fatalf("Pick = %v, want ErrNoKey", err)
	}
	return nk
}

func TestLeastLoadedFirst(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{}, keypool.Key{ID: "k1"}, keypool.Key{ID: "k2"})
	a := pick(t, p)
	b := pick(t, p)
	c := pick(t, p)
	if a.KeyID != "k1" || b.KeyID != "k2" || c.KeyID != "k1" {
		t.Fatalf("picks = %s %s %s, want k1 k2 k1", a.KeyID, b.KeyID, c.KeyID)
	}
	p.Release(t.Context(), a, keypool.OK, 0)
	p.Release(t.Context(), c, keypool.OK, 0)
	if d := pick(t, p); d.KeyID != "k1" {
		t.Fatalf("after k1 freed up: %s", d.KeyID)
	}
	if e := pick(t, p, "k1"); e.KeyID != "k2" {
		t.Fatalf("with k1 excluded: %s", e.KeyID)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{}, keypool.Key{ID: "k1", MaxConcurrent: 1}, keypool.Key{ID: "k2", MaxConcurrent: 1})
	a, b := pick(t, p), pick(t, p)
	if nk := noKey(t, p); nk.Wait != 0 || nk.Quarantined {
		t.Fatalf("both keys busy: %+v", nk)
	}
	p.Release(t.Context(), b, keypool.OK, 0)
	if c := pick(t, p); c.KeyID != b.KeyID {
		t.Fatalf("after %s freed: %s", b.KeyID, c.KeyID)
	}
	_ = a
}

func TestRateLimitedKeyRests(t *testing.T) {
	t.Parallel()
	p, rdb := newPool(t, keypool.Settings{Cooldown: 5 * time.Second}, keypool.Key{ID: "k1"}, keypool.Key{ID: "k2"})
	ctx := t.Context()
	l := pick(t, p)
	if st, err := p.Release(ctx, l, keypool.RateLimited, 2*time.Second); st != keypool.Cooling || err != nil {
		t.Fatalf("Release = %s, %v", st, err)
	}
	for range 3 {
		if got := pick(t, p); got.KeyID != "k2" {
			t.Fatalf("a resting key was picked: %s", got.KeyID)
		}
	}
	st, _ := p.Statuses(ctx)
	if st[0].Status != keypool.Cooling || st[0].RestsFor <= time.Second || st[0].RestsFor > 2*time.Second || st[0].ErrorRate <= 0 {
		t.Fatalf("status of k1: %+v", st[0])
	}
	if st[1].Status != keypool.Active || st[1].InFlight != 3 {
		t.Fatalf("status of k2: %+v", st[1])
	}
	// When the rest is over the key is picked again (it has no load).
	travel(t, rdb, "k1", 2*time.Second)
	if got := pick(t, p); got.KeyID != "k1" {
		t.Fatalf("after the rest: %s", got.KeyID)
	}
	// Without Retry-After the pool's cooldown applies.
	l2 := pick(t, p, "k1")
	p.Release(ctx, l2, keypool.RateLimited, 0)
	if st, _ := p.Statuses(ctx); st[1].RestsFor <= 4*time.Second {
		t.Fatalf("cooldown of k2: %+v", st[1])
	}
}

// TestExhaustedKeyRests: a good answer whose window is used up rests the
// key until the window resets, without counting as an error.
func TestExhaustedKeyRests(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{}, keypool.Key{ID: "k1"}, keypool.Key{ID: "k2"})
	ctx := t.Context()
	if st, err := p.Release(ctx, pick(t, p), keypool.Exhausted, 20*time.Second); st != keypool.Cooling || err != nil {
		t.Fatalf("Release = %s, %v", st, err)
	}
	if got := pick(t, p); got.KeyID != "k2" {
		t.Fatalf("an exhausted key was picked: %s", got.KeyID)
	}
	st, _ := p.Statuses(ctx)
	if st[0].Status != keypool.Cooling || st[0].RestsFor <= 19*time.Second || st[0].ErrorRate != 0 {
		t.Fatalf("status of k1: %+v", st[0])
	}
}

func TestOnlyRestingKeysLeft(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{}, keypool.Key{ID: "k1"})
	p.Release(t.Context(), pick(t, p), keypool.RateLimited, 3*time.Second)
	if nk := noKey(t, p); nk.Quarantined || nk.Wait < 2*time.Second || nk.Wait > 3*time.Second {
		t.Fatalf("NoKeyError = %+v, want a wait of about 3 s", nk)
	}
}

func TestQuarantineUntilEnabled(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{}, keypool.Key{ID: "k1"}, keypool.Key{ID: "k2"})
	ctx := t.Context()
	for _, id := range []string{"k1", "k2"} {
		l := pick(t, p, map[string]string{"k1": "k2", "k2": "k1"}[id])
		if st, _ := p.Release(ctx, l, keypool.Unauthorized, 0); st != keypool.Quarantined {
			t.Fatalf("%s after 401: %s", id, st)
		}
	}
	if nk := noKey(t, p); !nk.Quarantined {
		t.Fatalf("all keys quarantined: %+v", nk)
	}
	if err := p.Enable(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if got := pick(t, p); got.KeyID != "k2" || got.Probe {
		t.Fatalf("after enabling k2: %+v", got)
	}
	if err := p.Enable(ctx, "nope"); err == nil {
		t.Fatal("enabling an unknown key succeeded")
	}
}

// TestQuarantineOutlivesEarlierLeases: a lease taken before its key was
// quarantined and given back unused (its call never went out) leaves the
// quarantine as it is; only an unused probe lease lets the next caller
// probe.
func TestQuarantineOutlivesEarlierLeases(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{}, keypool.Key{ID: "k1"}, keypool.Key{ID: "k2"})
	ctx := t.Context()
	early, refused := pick(t, p), pick(t, p, "k2")
	if early.KeyID != "k1" || refused.KeyID != "k1" {
		t.Fatalf("picks %s %s", early.KeyID, refused.KeyID)
	}
	p.Release(ctx, refused, keypool.Unauthorized, 0)
	p.Release(ctx, early, keypool.Unused, 0)
	for range 3 {
		if got := pick(t, p); got.KeyID != "k2" {
			t.Fatalf("a quarantined key was picked after an earlier lease came back unused")
		}
	}
}

func TestQuarantineProbe(t *testing.T) {
	t.Parallel()
	p, rdb := newPool(t, keypool.Settings{QuarantineProbe: time.Minute}, keypool.Key{ID: "k1"})
	ctx := t.Context()
	p.Release(ctx, pick(t, p), keypool.Unauthorized, 0)
	if nk := noKey(t, p); nk.Quarantined || nk.Wait < 59*time.Second {
		t.Fatalf("before the probe: %+v", nk)
	}
	travel(t, rdb, "k1", time.Minute)
	probe := pick(t, p)
	if !probe.Probe {
		t.Fatalf("first pick after the probe interval: %+v, want a probe", probe)
	}
	noKey(t, p) // one probe at a time
	if st, _ := p.Release(ctx, probe, keypool.OK, 0); st != keypool.Active {
		t.Fatalf("after a good probe: %s", st)
	}
	if got := pick(t, p); got.Probe {
		t.Fatal("an active key is still probed")
	}
}

func TestLeasesLapse(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, keypool.Settings{Lease: 50 * time.Millisecond}, keypool.Key{ID: "k1", MaxConcurrent: 1})
	pick(t, p) // never released: its worker died
	testenv.Eventually(t, 5*time.Second, "the lease to lapse", func() bool {
		_, err := p.Pick(t.Context())
		return err == nil
	})
}

// TestLeasesOutliveTheLongest: a shorter lease taken after a longer one
// (targets with other timeouts share the pool) does not shorten the
// leases' life to its own, which would drop the longer one's count.
func TestLeasesOutliveTheLongest(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	keys := []keypool.Key{{ID: "k1"}}
	long := keypool.New(rdb, "openai", keys, keypool.Settings{Lease: time.Hour})
	short := keypool.New(rdb, "openai", keys, keypool.Settings{Lease: time.Second})
	pick(t, long)
	pick(t, short)
	if ttl := rdb.PTTL(t.Context(), "reliapi:keypool:{openai}:leases:k1").Val(); ttl < 59*time.Minute {
		t.Fatalf("the leases expire in %v, before the hour-long one ends", ttl)
	}
}

func ExamplePool() {
	rdb, stop, err := testenv.ExampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	pool := keypool.New(rdb, "openai", []keypool.Key{{ID: "primary"}, {ID: "backup"}}, keypool.Settings{})
	ctx := context.Background()
	lease, _ := pool.Pick(ctx)
	// The upstream answered 429 with Retry-After: 30.
	pool.Release(ctx, lease, keypool.RateLimited, 30*time.Second)
	next, _ := pool.Pick(ctx)
	fmt.Println(lease.KeyID, "->", next.KeyID)
	// Output: primary -> backup
}
