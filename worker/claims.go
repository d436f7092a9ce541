package worker

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"time"

	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/tasks"
)

// claimLease is how long a worker's claim on a running job holds without
// renewal. A worker renews the claims of all its running jobs every
// claimLease/3 in one round trip; when it dies, its claims lapse within
// claimLease and another delivery of each job's task may take the job
// over.
const claimLease = lifecycle.ClaimLease

// claims are the claims of the jobs this process runs, renewed together.
type claims struct {
	store *jobs.Store
	log   *slog.Logger
	// id names this process in the running jobs it publishes.
	id string

	mu      sync.Mutex
	running map[string]heldClaim
}

// heldClaim is a running job's claim, how to stop its run, and whose job
// it is (counted in the running jobs published per tenant).
type heldClaim struct {
	claim        jobs.Claim
	stop         context.CancelFunc
	tenant, tier string
}

func newClaims(store *jobs.Store, log *slog.Logger) *claims {
	return &claims{store: store, log: log, id: rand.Text(), running: map[string]heldClaim{}}
}

// hold registers a running job's claim until release; stop ends the run
// when the claim is found gone (the job was canceled or taken over).
func (c *claims) hold(p tasks.Payload, claim jobs.Claim, stop context.CancelFunc) (release func()) {
	jobID := p.JobID
	c.mu.Lock()
	c.running[jobID] = heldClaim{claim: claim, stop: stop, tenant: p.Tenant, tier: p.Tier}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.running, jobID)
		c.mu.Unlock()
	}
}

// renewRetry is how soon a failed renewal is tried again. A Redis outage
// longer than claimLease lets the claims lapse; when Redis is back, a
// delivery of the jobs' tasks could take them over while they still run
// here (a second upstream call), unless this process renews them first:
// so it tries again often while Redis is away — more often than a
// fallback can come back, which takes an asynq poll (200 ms and more by
// default) and two round trips. A job a lane push started runs here as
// soon as it arrives, with no round trip before its call, so one that
// arrived just before an outage runs through it on a claim that lapses.
const renewRetry = 50 * time.Millisecond

// renew runs until ctx ends, renewing every held claim every claimLease/3,
// and every renewRetry while renewals fail.
func (c *claims) renew(ctx context.Context) {
	t := time.NewTimer(claimLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			next := claimLease / 3
			if !c.renewOnce(ctx) {
				next = renewRetry
			}
			t.Reset(next)
		}
	}
}

// renewOnce renews every held claim in one round trip, and stops the runs
// whose claim is gone. It reports false when Redis did not answer (logged:
// renew tries again soon).
func (c *claims) renewOnce(ctx context.Context) bool {
	c.mu.Lock()
	held := make(map[string]jobs.Claim, len(c.running))
	for id, h := range c.running {
		held[id] = h.claim
	}
	c.mu.Unlock()
	if len(held) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, claimLease/3)
	defer cancel()
	gone, err := c.store.Renew(ctx, held)
	if err != nil {
		c.log.Warn("renewing claims on running jobs", "jobs", len(held), "error", err)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range gone {
		if h, ok := c.running[id]; ok && h.claim.Token == held[id].Token {
			c.log.Info("job's claim is gone (canceled or taken over); stopping its run", "job_id", id)
			h.stop()
		}
	}
	return true
}

// stopJob stops the run of job id, if this process holds one: the job was
// canceled.
func (c *claims) stopJob(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.running[id]; ok {
		c.log.Info("job canceled while running; stopping its run", "job_id", id)
		h.stop()
	}
}
