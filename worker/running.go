package worker

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/reliapi/reliapi/jobs"
)

// A worker publishes how many jobs it runs per tenant (read by GET
// /v1/admin/queues) every runningEvery while it runs any, and once more
// when its last one ends, so what an operator sees lags by up to
// runningEvery and an idle worker writes nothing. Off the path of a job:
// starting and ending one only changes the in-process claims. The record
// expires runningTTL after the last write: a worker that died stops
// counting within that.
const (
	runningEvery = time.Second
	runningTTL   = 3 * runningEvery
)

// tenantsRunning counts the held claims per tenant, by tenant name.
func (c *claims) tenantsRunning() []jobs.TenantRunning {
	c.mu.Lock()
	byTenant := map[string]*jobs.TenantRunning{}
	for _, h := range c.running {
		r := byTenant[h.tenant]
		if r == nil {
			r = &jobs.TenantRunning{Tenant: h.tenant, Tier: h.tier}
			byTenant[h.tenant] = r
		}
		r.Jobs++
	}
	c.mu.Unlock()
	out := make([]jobs.TenantRunning, 0, len(byTenant))
	for _, r := range byTenant {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b jobs.TenantRunning) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out
}

// publishRunning publishes this process's running jobs per tenant, every runningEvery while it runs any and once when it stops
// running any, until ctx ends; then it removes the record (a stopping
// worker runs nothing it will finish). A failed write is tried at the
// next tick.
func (c *claims) publishRunning(ctx context.Context) {
	t := time.NewTicker(runningEvery)
	defer t.Stop()
	published := false // the record holds something
	for {
		select {
		case <-ctx.Done():
			if published {
				final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				defer cancel()
				c.publish(final, nil)
			}
			return
		case <-t.C:
		}
		running := c.tenantsRunning()
		if len(running) == 0 && !published {
			continue
		}
		if c.publish(ctx, running) {
			published = len(running) > 0
		}
	}
}

// publish writes running as this process's record, reporting whether
// Redis took it.
func (c *claims) publish(ctx context.Context, running []jobs.TenantRunning) bool {
	ctx, cancel := context.WithTimeout(ctx, runningEvery)
	defer cancel()
	if err := c.store.PublishRunning(ctx, c.id, running, runningTTL); err != nil {
		c.log.Debug("publishing running jobs per tenant", "error", err)
		return false
	}
	return true
}
