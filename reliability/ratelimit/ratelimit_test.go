package ratelimit_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/ratelimit"
)

// near reports whether d is within tol of want.
func near(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

// tol absorbs the time between Redis computing a wait and the test reading
// it, which grows on a loaded machine.
const tol = 40 * time.Millisecond

func TestReserveSpacesCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		bucket ratelimit.Bucket
		want   []time.Duration // waits of consecutive reservations made at once
	}{
		{"10/s, no burst", ratelimit.Bucket{Name: "a", Rate: 10}, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}},
		{"10/s, burst 3", ratelimit.Bucket{Name: "b", Rate: 10, Burst: 3}, []time.Duration{0, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond}},
		{"0.5/s", ratelimit.Bucket{Name: "c", Rate: 0.5}, []time.Duration{0, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb := testenv.StartRedis(t).Client(t)
			// Dial before the clock starts: the first reservation's slot is
			// taken at its Redis time, and a cold connection (tens of ms on
			// a loaded machine) would shift every slot measured from start.
			if err := rdb.Ping(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			l := ratelimit.New(rdb)
			start := time.Now()
			for i, want := range tt.want {
				r, err := l.Reserve(t.Context(), tt.bucket)
				if err != nil {
					t.Fatal(err)
				}
				// Time passes between reservations; the slots do not move.
				if slot := time.Since(start) + r.Wait; !near(slot, want, tol) {
					t.Fatalf("reservation %d's slot is %v after the first, want %v", i, slot, want)
				}
				if (r.Wait > 0) != (r.Limiting == tt.bucket.Name) {
					t.Fatalf("reservation %d: Limiting = %q with wait %v", i, r.Limiting, r.Wait)
				}
			}
		})
	}
}

func TestCancelGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(testenv.StartRedis(t).Client(t))
	b := ratelimit.Bucket{Name: "k", Rate: 10}
	ctx := t.Context()
	l.Reserve(ctx, b)
	second, _ := l.Reserve(ctx, b)
	if err := l.Cancel(ctx, second); err != nil {
		t.Fatal(err)
	}
	third, _ := l.Reserve(ctx, b)
	if !near(third.Wait, second.Wait, tol) {
		t.Fatalf("after a cancel the next call waits %v, want the given-back slot (%v)", third.Wait, second.Wait)
	}
}

// TestNoLeakWhenAnotherBucketIsFull: a call that waits because of its
// second bucket and cancels does not use up the first.
func TestNoLeakWhenAnotherBucketIsFull(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(testenv.StartRedis(t).Client(t))
	ctx := t.Context()
	free := ratelimit.Bucket{Name: "key", Rate: 1}
	full := ratelimit.Bucket{Name: "tenant", Rate: 0.1}
	l.Reserve(ctx, full) // the tenant's only slot for 10 s
	r, err := l.Reserve(ctx, free, full, ratelimit.Bucket{Name: "unlimited"})
	if err != nil || r.Limiting != "tenant" || !near(r.Wait, 10*time.Second, tol) {
		t.Fatalf("Reserve = %+v, %v; want a 10 s wait imposed by the tenant", r, err)
	}
	l.Cancel(ctx, r)
	if again, _ := l.Reserve(ctx, free); again.Wait != 0 {
		t.Fatalf("the key bucket kept the canceled slot: wait %v", again.Wait)
	}
}

// TestSharedAcrossClients: 3 clients (as 3 workers) reserving 60 slots of
// a 20/s bucket at once get 60 distinct slots 50 ms apart.
func TestSharedAcrossClients(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	b := ratelimit.Bucket{Name: "shared", Rate: 20}
	var mu sync.Mutex
	var slots []time.Time
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			c := redis.NewClient(&redis.Options{Addr: r.Addr})
			defer c.Close()
			l := ratelimit.New(c)
			for range 20 {
				res, err := l.Reserve(context.Background(), b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				slots = append(slots, time.Now().Add(res.Wait))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	// 20 per second: no second holds more than 20 slots (plus one at its
	// edge), and the 60 slots span 59 intervals.
	for i := range slots {
		j := i
		for j < len(slots) && slots[j].Sub(slots[i]) < time.Second-tol {
			j++
		}
		if j-i > 21 {
			t.Fatalf("%d slots within one second from slot %d", j-i, i)
		}
	}
	if span := slots[len(slots)-1].Sub(slots[0]); !near(span, 59*50*time.Millisecond, 150*time.Millisecond) {
		t.Fatalf("60 slots span %v, want 2.95 s", span)
	}
}

func ExampleLimiter() {
	rdb, stop, err := testenv.ExampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	l := ratelimit.New(rdb)
	key := ratelimit.Bucket{Name: "key:openai:k1", Rate: 2} // 2 calls per second
	ctx := context.Background()
	for range 3 {
		res, _ := l.Reserve(ctx, key)
		fmt.Println(res.Wait.Round(100 * time.Millisecond))
	}
	// Output:
	// 0s
	// 500ms
	// 1s
}
