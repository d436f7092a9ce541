package redisbatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
)

// gate counts the client's pipelines and holds the first hold of them back
// until released, so that a test can line callers up behind them.
type gate struct {
	hold      int32 // pipelines held back
	pipelines atomic.Int32
	sizes     chan int
	release   chan struct{}
}

// gateOn adds to rdb a gate that holds the first hold of its pipelines back.
func gateOn(rdb *redis.Client, hold int32) *gate {
	g := &gate{hold: hold, sizes: make(chan int, 100), release: make(chan struct{})}
	rdb.AddHook(g)
	return g
}

// gated is a Batcher of limit round trips on a fresh Redis, and the gate
// its client's pipelines pass, which holds the first hold of them back.
func gated(t *testing.T, limit int, hold int32) (*Batcher, *gate, *redis.Client) {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	return New(rdb, limit), gateOn(rdb, hold), rdb
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if setsUpConnection(cmds) {
			return next(ctx, cmds)
		}
		if g.pipelines.Add(1) <= g.hold {
			<-g.release
		}
		g.sizes <- len(cmds)
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*gate)(nil)

// setsUpConnection reports whether cmds are go-redis's own set-up of a new
// connection (CLIENT SETINFO…), which passes through pipeline hooks too.
func setsUpConnection(cmds []redis.Cmder) bool {
	switch cmds[0].Name() {
	case "client", "hello", "auth", "select":
		return true
	}
	return false
}

// queued is how many pipelines wait for the next batch.
func (b *Batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting)
}

// TestCallersShareRoundTrips: pipelines that arrive while a batch is on the
// wire go together in the next one, each caller gets its own replies in
// its own order, and a lone caller's pipeline goes at once.
func TestCallersShareRoundTrips(t *testing.T) {
	t.Parallel()
	b, g, _ := gated(t, 1, 1)
	ctx := t.Context()

	first := make(chan error, 1)
	go func() {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "first", "1", 0)
			return nil
		})
		first <- err
	}()
	testenv.Eventually(t, 5*time.Second, "the first pipeline reached the client", func() bool { return g.pipelines.Load() == 1 })

	const callers = 50
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			key := fmt.Sprintf("k%d", i)
			var set *redis.StatusCmd
			var incr *redis.IntCmd
			var get *redis.StringCmd
			_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error {
				set = p.Set(ctx, key, i, 0)
				incr = p.Incr(ctx, key)
				get = p.Get(ctx, key)
				return nil
			})
			switch {
			case err != nil:
				errs[i] = err
			case set.Err() != nil || incr.Val() != int64(i+1) || get.Val() != fmt.Sprint(i+1):
				errs[i] = fmt.Errorf("caller %d read SET %v, INCR %d, GET %q", i, set.Err(), incr.Val(), get.Val())
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, "every caller waits for the next batch", func() bool { return b.queued() == callers })
	close(g.release)
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	recv(t, waited)
	if err := recv(t, first); err != nil {
		t.Fatalf("first pipeline: %v", err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := g.pipelines.Load(); got != 2 {
		t.Errorf("%d callers made %d round trips, want 2 (the first, then all the others together)", callers+1, got)
	}
	if first, next := recv(t, g.sizes), recv(t, g.sizes); first != 1 || next != 3*callers {
		t.Errorf("batches of %d and %d commands, want 1 and %d", first, next, 3*callers)
	}
	if b.queued() != 0 || b.inFlight != 0 {
		t.Errorf("after the last batch: %d waiting, %d on the wire; want none", b.queued(), b.inFlight)
	}
}

// TestLimitRoundTripsOnTheWire: with a limit of two, a second pipeline goes
// at once beside the first; a third waits for one of them to return.
func TestLimitRoundTripsOnTheWire(t *testing.T) {
	t.Parallel()
	b, g, _ := gated(t, 2, 2)
	ctx := t.Context()
	done := make(chan error, 3)
	send := func(key string) {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, key); return nil })
		done <- err
	}
	go send("a")
	go send("b")
	testenv.Eventually(t, 5*time.Second, "two pipelines on the wire at once", func() bool { return g.pipelines.Load() == 2 })
	go send("c")
	testenv.Eventually(t, 5*time.Second, "the third waits", func() bool { return b.queued() == 1 })
	if n := g.pipelines.Load(); n != 2 {
		t.Errorf("%d round trips before the first returned, want 2", n)
	}
	close(g.release)
	for range 3 {
		if err := recv(t, done); err != nil {
			t.Error(err)
		}
	}
	if n := g.pipelines.Load(); n != 3 {
		t.Errorf("%d round trips in all, want 3", n)
	}
	if b.inFlight != 0 {
		t.Errorf("%d round trips on the wire after the last returned, want 0", b.inFlight)
	}
}

// TestWaiterLeavesWhenItsContextEnds: a caller whose context ends while it
// waits for the wire returns at once with its context's error, and its
// commands are never sent; the others in the queue go as before.
func TestWaiterLeavesWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	b, g, rdb := gated(t, 1, 1)
	ctx := t.Context()
	set := func(ctx context.Context, key string) error {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, key, "1", 0); return nil })
		return err
	}
	first := make(chan error, 1)
	go func() { first <- set(ctx, "first") }()
	testenv.Eventually(t, 5*time.Second, "the first pipeline reached the client", func() bool { return g.pipelines.Load() == 1 })
	leaving, cancel := context.WithCancel(ctx)
	left, stayed := make(chan error, 1), make(chan error, 1)
	go func() { left <- set(leaving, "left") }()
	go func() { stayed <- set(ctx, "stayed") }()
	testenv.Eventually(t, 5*time.Second, "both wait for the next batch", func() bool { return b.queued() == 2 })
	cancel()
	if err := recv(t, left); !errors.Is(err, context.Canceled) {
		t.Errorf("a waiter whose context ended: %v, want %v", err, context.Canceled)
	}
	if n := b.queued(); n != 1 {
		t.Errorf("%d waiting after one left, want 1", n)
	}
	close(g.release)
	if err := errors.Join(recv(t, first), recv(t, stayed)); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, "left").Result(); n != 0 {
		t.Error("the command of the caller that left was sent")
	}
	if n, _ := rdb.Exists(ctx, "first", "stayed").Result(); n != 2 {
		t.Errorf("%d of the other two keys written, want 2", n)
	}
}

// TestErrorsStayWithTheirCaller: a command that fails fails its own
// caller's pipeline only, even in a batch shared with others.
func TestErrorsStayWithTheirCaller(t *testing.T) {
	t.Parallel()
	b, g, rdb := gated(t, 1, 1)
	ctx := t.Context()
	if err := rdb.HSet(ctx, "hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }) }()
	testenv.Eventually(t, 5*time.Second, "the first pipeline reached the client", func() bool { return g.pipelines.Load() == 1 })

	bad, good := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, "hash"); return nil })
		bad <- err
	}()
	go func() {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, "counter"); return nil })
		good <- err
	}()
	testenv.Eventually(t, 5*time.Second, "both wait for the next batch", func() bool { return b.queued() == 2 })
	close(g.release)
	if err := recv(t, bad); err == nil {
		t.Error("INCR of a hash: no error")
	}
	if err := recv(t, good); err != nil {
		t.Errorf("INCR of a counter in the same batch: %v", err)
	}
}

// TestNothingToSend: a fill that fails or adds nothing sends nothing.
func TestNothingToSend(t *testing.T) {
	t.Parallel()
	b, g, rdb := gated(t, 1, 0)
	ctx := t.Context()
	boom := errors.New("boom")
	if _, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, "k", "v", 0); return boom }); !errors.Is(err, boom) {
		t.Errorf("failing fill: %v, want %v", err, boom)
	}
	if cmds, err := b.Pipelined(ctx, func(redis.Pipeliner) error { return nil }); cmds != nil || err != nil {
		t.Errorf("empty fill: %v, %v", cmds, err)
	}
	if n := g.pipelines.Load(); n != 0 {
		t.Errorf("%d round trips, want none", n)
	}
	if n, _ := rdb.Exists(ctx, "k").Result(); n != 0 {
		t.Error("the failing fill's SET ran")
	}
}

// TestCanceledCallerDoesNotCutTheBatch: the caller whose context ends while
// its batch is on the wire does not fail the other callers' commands.
func TestCanceledCallerDoesNotCutTheBatch(t *testing.T) {
	t.Parallel()
	b, g, rdb := gated(t, 1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, "k", "v", 0); return nil })
		done <- err
	}()
	testenv.Eventually(t, 5*time.Second, "the pipeline reached the client", func() bool { return g.pipelines.Load() == 1 })
	cancel()
	close(g.release)
	if err := recv(t, done); err != nil {
		t.Errorf("a pipeline whose caller's context ended on the wire: %v", err)
	}
	if v, _ := rdb.Get(t.Context(), "k").Result(); v != "v" {
		t.Errorf("k = %q, want v", v)
	}
}

// TestConnectionErrorReachesEveryCaller: when a shared round trip fails,
// every caller in the batch gets the error, and the wire is freed.
func TestConnectionErrorReachesEveryCaller(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	g := gateOn(rdb, 1)
	b := New(rdb, 1)
	ctx := t.Context()
	errs := make(chan error, 3)
	ping := func() {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil })
		errs <- err
	}
	go ping()
	testenv.Eventually(t, 5*time.Second, "the first pipeline reached the client", func() bool { return g.pipelines.Load() == 1 })
	go ping()
	go ping()
	testenv.Eventually(t, 5*time.Second, "two wait for the next batch", func() bool { return b.queued() == 2 })
	close(g.release)
	for range 3 {
		if err := recv(t, errs); err == nil {
			t.Error("a pipeline to a closed port: no error")
		}
	}
	if n := g.pipelines.Load(); n != 2 {
		t.Errorf("%d round trips, want 2 (the first, then the other two together)", n)
	}
	if b.inFlight != 0 {
		t.Error("the wire stays taken after a failed round trip")
	}
}

// panicky panics in the second pipeline it sees.
type panicky struct{ seen atomic.Int32 }

func (h *panicky) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *panicky) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *panicky) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !setsUpConnection(cmds) && h.seen.Add(1) == 2 {
			panic("boom")
		}
		return next(ctx, cmds)
	}
}

// TestPanicFreesTheWire: a panic while a batch is on the wire reaches its
// sender, fails the commands that rode along with it, and the next
// pipeline goes.
func TestPanicFreesTheWire(t *testing.T) {
	t.Parallel()
	b, g, rdb := gated(t, 1, 1)
	rdb.AddHook(&panicky{})
	ctx := t.Context()
	ping := func(ctx context.Context) error {
		_, err := b.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil })
		return err
	}
	first := make(chan error, 1)
	go func() { first <- ping(ctx) }()
	testenv.Eventually(t, 5*time.Second, "the first pipeline reached the client", func() bool { return g.pipelines.Load() == 1 })
	// The next two go as one batch, which panics in its sender.
	panics, errs := make(chan any, 2), make(chan error, 2)
	for range 2 {
		go func() {
			defer func() { panics <- recover() }()
			errs <- ping(ctx)
		}()
	}
	testenv.Eventually(t, 5*time.Second, "two wait for the next batch", func() bool { return b.queued() == 2 })
	close(g.release)
	if err := recv(t, first); err != nil {
		t.Fatalf("first pipeline: %v", err)
	}
	if r1, r2 := recv(t, panics), recv(t, panics); (r1 == nil) == (r2 == nil) {
		t.Errorf("recovered %v and %v, want one panic: the batch's sender", r1, r2)
	}
	if err := recv(t, errs); err == nil {
		t.Error("the command that rode along in the panicked batch: no error")
	}
	if err := ping(ctx); err != nil {
		t.Errorf("the next pipeline: %v", err)
	}
}

// recv is the next value on ch, or a failed test after five seconds: a
// caller left waiting must fail the test, not hang it.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived within 5s")
		panic("unreachable")
	}
}
