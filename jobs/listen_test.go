package jobs_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
)

// TestWaiterReplacesASilentSubscription cuts the waiter's subscription
// the way a network partition does — its connection stays open but
// nothing goes through either way — and checks that the waiter pings it,
// gives up on it, subscribes on a new connection and is woken through
// that one.
func TestWaiterReplacesASilentSubscription(t *testing.T) {
	t.Cleanup(jobs.SetListenCheck(50 * time.Millisecond)) // first in, last out: after the waiter stops
	b := setup(t, jobs.Config{})
	var (
		mu    sync.Mutex
		conns []*silenceable
		dials atomic.Int32
	)
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr, Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dials.Add(1)
		s := &silenceable{Conn: c}
		mu.Lock()
		conns = append(conns, s)
		mu.Unlock()
		return s, nil
	}})
	t.Cleanup(func() { _ = rdb.Close() })
	w := jobs.NewWaiter(jobs.NewStore(rdb, jobs.Config{}), slog.New(slog.DiscardHandler))
	t.Cleanup(w.Stop)
	b.startWaiter(t, w)

	mu.Lock()
	for _, c := range conns {
		c.silent.Store(true)
	}
	mu.Unlock()
	before := dials.Load()
	waitFor(t, "the waiter to subscribe on a new connection", func() bool {
		return dials.Load() > before && b.subscribers(t) == 1
	})

	id := b.reach(t, "running")
	result := wait(t.Context(), w, "acme", id)
	b.awaitWatched(t, w, id)
	endAt := time.Now()
	b.finish(t, id, reliapi.JobSucceeded, okResult)
	r := receive(t, result)
	if r.err != nil || r.job.Status != reliapi.JobSucceeded {
		t.Fatalf("Wait = %+v, %v; want succeeded", r.job, r.err)
	}
	wantAnnounced(t, r, endAt)
}

// silenceable is a connection that, once silent, neither sends nor
// delivers anything: writes vanish and reads find nothing until their
// deadline, as on a partitioned link.
type silenceable struct {
	net.Conn
	silent atomic.Bool
}

func (c *silenceable) Write(p []byte) (int, error) {
	if c.silent.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *silenceable) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if !c.silent.Load() || err != nil {
			return n, err
		}
	}
}
