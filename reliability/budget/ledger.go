package budget

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// Caps are a tenant's spend limits in USD; 0 means none.
type Caps struct{ Daily, Monthly float64 }

// Ledger keeps tenants' spend in Redis.
type Ledger struct{ rdb redis.UniversalClient }

// NewLedger returns a Ledger on rdb.
func NewLedger(rdb redis.UniversalClient) *Ledger { return &Ledger{rdb: rdb} }

// Hold is an amount reserved for one call, in the windows it was reserved
// in (a call that crosses midnight settles where it started).
type Hold struct {
	// ID makes settling idempotent.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Day    int64  `json:"day"`
	Month  int64  `json:"month"`
	Nanos  int64  `json:"nanos"`
}

// Reserve holds usd for a call if the tenant's windows stay within caps;
// otherwise it returns a BUDGET_EXCEEDED error naming the window.
func (l *Ledger) Reserve(ctx context.Context, tenant string, usd float64, caps Caps) (*Hold, error) {
	h := NewHold(tenant, usd, time.Now())
	res, err := reserveScript.Run(ctx, l.rdb, holdKeys(h), reserveArgs(h, caps)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		h.Day, _ = res[1].(int64)
		h.Month, _ = res[2].(int64)
		return h, nil
	}
	window, _ := res[1].(string)
	spent, _ := res[2].(int64)
	held, _ := res[3].(int64)
	cap, _ := res[4].(int64)
	e := reliapi.Errorf(reliapi.CodeBudgetExceeded, "The %s budget of $%.6f would be exceeded: $%.6f spent, $%.6f held by calls in flight, this call may cost $%.6f",
		map[string]string{"day": "daily", "month": "monthly"}[window], dollars(cap), dollars(spent), dollars(held), usd)
	e.Details = map[string]any{"window": window, "cap_usd": dollars(cap), "spent_usd": dollars(spent), "held_usd": dollars(held), "cost_estimate_usd": usd}
	return nil, e
}

// NewHold is a hold of usd for a call of tenant, not yet made: Reserve
// makes one against caps, HoldIn one no cap can refuse. Its windows are
// those of now, this process's clock; Redis records its own with the hold,
// and settling uses those.
func NewHold(tenant string, usd float64, now time.Time) *Hold {
	now = now.UTC()
	return &Hold{ID: rand.Text(), Tenant: tenant, Day: now.Unix() / 86400,
		Month: int64(now.Year()*12 + int(now.Month()) - 1), Nanos: nanos(usd)}
}

// HoldIn adds to p the making of hold h (see NewHold) without caps, so
// that a call whose tenant has none pays no round trip of its own for it:
// it cannot be refused. A script's EVALSHA: p runs with
// luascript.Pipelined.
func HoldIn(ctx context.Context, p redis.Pipeliner, h *Hold) *redis.Cmd {
	return reserveScript.EvalSha(ctx, p, holdKeys(h), reserveArgs(h, Caps{})...)
}

// holdKeys are the keys of the scripts that make and settle h.
func holdKeys(h *Hold) []string {
	return []string{spendKey(h.Tenant), settledKey(h.Tenant, h.ID)}
}

func reserveArgs(h *Hold, caps Caps) []any {
	return []any{h.Nanos, nanos(caps.Daily), nanos(caps.Monthly), h.ID}
}

// Settle turns a hold into the call's actual cost (0 releases it: no
// call was made, or it cost nothing). Settling a hold again, or one never
// made, changes nothing.
func (l *Ledger) Settle(ctx context.Context, h *Hold, actualUSD float64) error {
	if h == nil {
		return nil
	}
	if err := settleScript.Run(ctx, l.rdb, holdKeys(h), settleArgs(h, actualUSD)...).Err(); err != nil {
		return fmt.Errorf("budget: settling: %w", err)
	}
	return nil
}

// SettleIn adds to p what Settle does, so that it shares the round trip
// that records the call's end. A script's EVALSHA: p runs with
// luascript.Pipelined.
func SettleIn(ctx context.Context, p redis.Pipeliner, h *Hold, actualUSD float64) *redis.Cmd {
	return settleScript.EvalSha(ctx, p, holdKeys(h), settleArgs(h, actualUSD)...)
}

func settleArgs(h *Hold, actualUSD float64) []any {
	return []any{h.Day, h.Month, h.Nanos, nanos(actualUSD), h.ID, settledFor}
}

// Usage is a tenant's spend in the current windows, in USD.
type Usage struct {
	DaySpent, DayHeld, MonthSpent, MonthHeld float64
}

// Usage reads a tenant's current windows.
func (l *Ledger) Usage(ctx context.Context, tenant string) (Usage, error) {
	res, err := usageScript.Run(ctx, l.rdb, []string{spendKey(tenant)}).Int64Slice()
	if err != nil {
		return Usage{}, fmt.Errorf("budget: %w", err)
	}
	return Usage{DaySpent: dollars(res[2]), DayHeld: dollars(res[3]), MonthSpent: dollars(res[4]), MonthHeld: dollars(res[5])}, nil
}

func dollars(nanos int64) float64 { return float64(nanos) / 1e9 }
