package budget_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/budget"
)

func TestInputTokens(t *testing.T) {
	t.Parallel()
	msgs := []reliapi.Message{{Role: "user", Content: "hello world"}}
	tests := []struct {
		model string
		want  int
		exact bool
	}{
		// 3 to prime the reply + (3 per message + 1 for the role + 2 for "hello", " world").
		{"gpt-4o-mini", 9, true},
		{"gpt-4", 9, true},
		{"o3-mini", 9, true},
		// 11 characters at 3.5 per token: 4, plus the same overhead.
		{"claude-3-5-haiku-20241022", 11, false},
		{"mistral-large-latest", 11, false},
	}
	for _, tt := range tests {
		if n, exact := budget.InputTokens(tt.model, msgs); n != tt.want || exact != tt.exact {
			t.Errorf("InputTokens(%s) = %d, %v; want %d, %v", tt.model, n, exact, tt.want, tt.exact)
		}
	}
	long := []reliapi.Message{{Role: "user", Content: "The quick brown fox jumps over the lazy dog. " + "Ünïcödé text, too."}}
	if n, _ := budget.InputTokens("gpt-4o", long); n < 15 || n > 30 {
		t.Errorf("a sentence counts %d tokens", n)
	}
}

func TestPrice(t *testing.T) {
	t.Parallel()
	p := budget.Price{InputPer1M: 0.15, OutputPer1M: 0.60}
	if got := p.Cost(1000, 500); math.Abs(got-0.00045) > 1e-12 {
		t.Errorf("Cost = %v", got)
	}
	// A price float64 holds inexactly still costs what it says.
	if got := (budget.Price{InputPer1M: 0.15, OutputPer1M: 0.60}).Cost(1, 2); strconv.FormatFloat(got, 'f', -1, 64) != "0.00000135" {
		t.Errorf("Cost(1, 2) = %v, want 0.00000135", got)
	}
	// $0.0003 leaves room for 1000 input tokens ($0.00015) and 250 output.
	if got := p.MaxOutput(1000, 0.0003); got != 250 {
		t.Errorf("MaxOutput = %d, want 250", got)
	}
	if got := p.MaxOutput(10_000, 0.001); got != 0 {
		t.Errorf("MaxOutput over the cap = %d, want 0", got)
	}
}

func TestLedger(t *testing.T) {
	t.Parallel()
	l := budget.NewLedger(testenv.StartRedis(t).Client(t))
	ctx := t.Context()
	caps := budget.Caps{Daily: 0.10, Monthly: 1}

	h, err := l.Reserve(ctx, "acme", 0.06, caps)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if h.Day != now.Unix()/86400 || h.Month != int64(now.Year()*12+int(now.Month())-1) {
		t.Errorf("hold windows day %d month %d, want %d %d", h.Day, h.Month, now.Unix()/86400, now.Year()*12+int(now.Month())-1)
	}
	// The hold counts against the cap: 0.06 held + 0.05 > 0.10.
	_, err = l.Reserve(ctx, "acme", 0.05, caps)
	var e *reliapi.Error
	if !errors.As(err, &e) || e.Code != reliapi.CodeBudgetExceeded || e.Details["window"] != "day" || e.Details["held_usd"] != 0.06 {
		t.Fatalf("over the daily cap: %v %+v", err, e)
	}
	// Settling to the actual cost frees the rest of the hold.
	if err := l.Settle(ctx, h, 0.02); err != nil {
		t.Fatal(err)
	}
	u, _ := l.Usage(ctx, "acme")
	if u.DaySpent != 0.02 || u.DayHeld != 0 || u.MonthSpent != 0.02 {
		t.Fatalf("usage after settling = %+v", u)
	}
	h2, err := l.Reserve(ctx, "acme", 0.05, caps)
	if err != nil {
		t.Fatalf("within the cap after settling: %v", err)
	}
	l.Settle(ctx, h2, 0) // released: no call was made
	if u, _ := l.Usage(ctx, "acme"); u.DaySpent != 0.02 || u.DayHeld != 0 {
		t.Fatalf("usage after a release = %+v", u)
	}
	// Settling again (a redelivered task) changes nothing.
	l.Settle(ctx, h, 0.02)
	l.Settle(ctx, h2, 0)
	if u, _ := l.Usage(ctx, "acme"); u.DaySpent != 0.02 || u.DayHeld != 0 {
		t.Fatalf("usage after settling twice = %+v", u)
	}
	// Other tenants have their own windows; no caps means no limit.
	if _, err := l.Reserve(ctx, "globex", 100, budget.Caps{}); err != nil {
		t.Fatal(err)
	}
}

// TestHoldInAPipeline: a hold made in a pipeline counts as held in Redis's
// windows, whatever the windows of the clock that made it, and settles
// there; one an earlier build made (its field the amount alone) settles in
// the windows its job carries; settling a hold never made changes nothing.
func TestHoldInAPipeline(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	l, ctx := budget.NewLedger(rdb), t.Context()

	// A clock a day behind Redis's: the hold still lands in today's
	// windows. Sent twice (go-redis sends a pipeline again after a network
	// error), it holds once.
	h := budget.NewHold("acme", 0.5, time.Now().Add(-24*time.Hour))
	holdIn := func(h *budget.Hold) {
		t.Helper()
		if _, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
			budget.HoldIn(ctx, p, h)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	holdIn(h)
	holdIn(h)
	if u, _ := l.Usage(ctx, "acme"); u.DayHeld != 0.5 || u.MonthHeld != 0.5 {
		t.Fatalf("usage with a pipelined hold sent twice = %+v", u)
	}
	never, free := budget.NewHold("acme", 0.25, time.Now()), budget.NewHold("acme", 0, time.Now())
	holdIn(free)
	if _, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
		budget.SettleIn(ctx, p, h, 0.125)
		budget.SettleIn(ctx, p, never, 0.25)
		budget.SettleIn(ctx, p, free, 0)
		return nil
	}); err != nil {
		t.Fatalf("settling a hold, one never made and one of nothing: %v", err)
	}
	if u, _ := l.Usage(ctx, "acme"); u.DayHeld != 0 || u.DaySpent != 0.125 || u.MonthSpent != 0.125 {
		t.Fatalf("usage after settling the pipelined hold and one never made = %+v", u)
	}
	// A reservation sent again after its hold was settled, or arriving
	// after (a Cluster's nodes), holds nothing.
	holdIn(h)
	holdIn(never)
	if u, _ := l.Usage(ctx, "acme"); u.DayHeld != 0 || u.DaySpent != 0.125 {
		t.Fatalf("usage after late reservations of settled holds = %+v", u)
	}

	// An earlier build's hold: its field holds the amount alone.
	now := time.Now().UTC()
	old := budget.NewHold("acme", 0.5, now)
	d, m := fmt.Sprintf("d:%d:held", old.Day), fmt.Sprintf("m:%d:held", old.Month)
	rdb.HIncrBy(ctx, "reliapi:budget:{acme}", d, old.Nanos)
	rdb.HIncrBy(ctx, "reliapi:budget:{acme}", m, old.Nanos)
	rdb.HSet(ctx, "reliapi:budget:{acme}", "h:"+old.ID, old.Nanos)
	if err := l.Settle(ctx, old, 0.5); err != nil {
		t.Fatal(err)
	}
	if u, _ := l.Usage(ctx, "acme"); u.DayHeld != 0 || u.DaySpent != 0.625 {
		t.Fatalf("usage after settling an earlier build's hold = %+v", u)
	}
}

// TestWindowsThatAreOverAreForgotten: the first reservation of a day
// removes the windows that are over and the holds whose windows all are (a
// lost job's), and leaves the current ones; later reservations that day
// read nothing more.
func TestWindowsThatAreOverAreForgotten(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	l, ctx := budget.NewLedger(rdb), t.Context()
	h := budget.NewHold("acme", 0, time.Now())
	key := "reliapi:budget:{acme}"
	old := []string{fmt.Sprintf("d:%d:spent", h.Day-1), fmt.Sprintf("m:%d:spent", h.Month-1), "h:LOST"}
	rdb.HSet(ctx, key, old[0], 7, old[1], 7, old[2], fmt.Sprintf("5 %d %d", h.Day-40, h.Month-1),
		"h:RUNNING", fmt.Sprintf("5 %d %d", h.Day-1, h.Month), fmt.Sprintf("m:%d:spent", h.Month), 9)
	reserve := func() {
		t.Helper()
		if _, err := l.Reserve(ctx, "acme", 0.5, budget.Caps{}); err != nil {
			t.Fatal(err)
		}
	}
	kept := func(field string) bool { return rdb.HExists(ctx, key, field).Val() }
	reserve()
	if kept(old[0]) || kept(old[1]) || kept(old[2]) || !kept("h:RUNNING") {
		t.Errorf("after the day's first reservation: %v", rdb.HGetAll(ctx, key).Val())
	}
	if u, _ := l.Usage(ctx, "acme"); u.MonthSpent != 9e-9 || u.DayHeld != 0.5 {
		t.Errorf("current windows after the sweep: %+v", u)
	}
	rdb.HSet(ctx, key, old[0], 7)
	reserve()
	if !kept(old[0]) {
		t.Error("the day's second reservation swept again")
	}
	rdb.HSet(ctx, key, "swept", h.Day-1)
	reserve()
	if kept(old[0]) {
		t.Error("a reservation the day after did not sweep")
	}
}

// TestConcurrentReservationsNeverOverrun: 100 calls race for a budget of
// ten; exactly ten get a hold.
func TestConcurrentReservationsNeverOverrun(t *testing.T) {
	t.Parallel()
	l := budget.NewLedger(testenv.StartRedis(t).Client(t))
	var mu sync.Mutex
	held := 0
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if _, err := l.Reserve(context.Background(), "acme", 0.01, budget.Caps{Daily: 0.10}); err == nil {
				mu.Lock()
				held++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if held != 10 {
		t.Fatalf("%d holds within a budget of 10 calls", held)
	}
}

func ExampleLedger() {
	rdb, stop, err := testenv.ExampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ledger := budget.NewLedger(rdb)
	ctx := context.Background()
	price := budget.Price{InputPer1M: 0.15, OutputPer1M: 0.60}
	estimate := price.Cost(1000, 1000) // worst case: max_tokens of output
	hold, _ := ledger.Reserve(ctx, "acme", estimate, budget.Caps{Daily: 5})
	ledger.Settle(ctx, hold, price.Cost(1000, 120)) // what the provider reported
	u, _ := ledger.Usage(ctx, "acme")
	fmt.Printf("estimated $%.6f, spent $%.6f\n", estimate, u.DaySpent)
	// Output: estimated $0.000750, spent $0.000222
}
