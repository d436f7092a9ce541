package budget

import (
	"context"
	"crypto/rand"
	"fmt"

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
	id := rand.Text()
	res, err := reserveScript.Run(ctx, l.rdb, []string{spendKey(tenant)}, nanos(usd), nanos(caps.Daily), nanos(caps.Monthly), id).Slice()
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		day, _ := res[1].(int64)
		month, _ := res[2].(int64)
		return &Hold{ID: id, Tenant: tenant, Day: day, Month: month, Nanos: nanos(usd)}, nil
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

// Settle turns a hold into the call's actual cost (0 releases it: no
// call was made, or it cost nothing). Settling a hold again changes
// nothing.
func (l *Ledger) Settle(ctx context.Context, h *Hold, actualUSD float64) error {
	if h == nil {
		return nil
	}
	err := settleScript.Run(ctx, l.rdb, []string{spendKey(h.Tenant)}, h.Day, h.Month, h.Nanos, nanos(actualUSD), h.ID).Err()
	if err != nil {
		return fmt.Errorf("budget: settling: %w", err)
	}
	return nil
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
