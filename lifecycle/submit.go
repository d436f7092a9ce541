package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/tasks"
)

// Submission is a validated call to run as a job.
type Submission struct {
	// ID is the job's ID: derived from the idempotency key when there is
	// one (every replica names the same job), fresh otherwise.
	ID        string
	Tenant    string
	RequestID string
	// RequestHash is the fingerprint of the request an idempotency key
	// names: a repeat with another hash is IDEMPOTENCY_CONFLICT.
	RequestHash string
	// Queue is tasks.QueueSync or tasks.QueueAsync; Submit picks the
	// job's shard of it.
	Queue string
	// Webhook, when set, is where the job's end is delivered.
	Webhook *reliapi.Subscription
	// Deadline, when set, expires the job if no worker starts it by then.
	Deadline time.Time
	// Cache, when set, is the response-cache entry this call claimed and
	// its job fills. When the call creates no job of its own (it fails, or
	// attaches to an existing job) the claim is released, so that
	// identical calls do not wait on nothing.
	Cache *tasks.CacheFill
	// MaxConcurrentJobs is the tenant's tier limit on jobs queued or
	// running at once; 0 is no limit.
	MaxConcurrentJobs int
	// Payload is the call itself: target, request (HTTP or LLM), profile,
	// cost plan and caps. Submit fills in JobID, Cache, the budget hold and
	// Caps.Slot.
	Payload tasks.Payload
}

// Submitted is what Submit did.
type Submitted struct {
	Job *reliapi.Job
	// Attached is true when the idempotency key named an existing job of
	// the same request: Job is that job, and nothing new was queued.
	Attached bool
}

// Submit creates the job of a call and queues its task, or attaches to the
// existing job its idempotency key names. Errors are coded for the caller:
// IDEMPOTENCY_CONFLICT (the key was used with another request),
// BUDGET_EXCEEDED (a spend cap), TOO_MANY_CONCURRENT_JOBS (the tenant's
// slots are full; Details carry the limit), REDIS_UNAVAILABLE. Whatever
// Submit took before a failing step it gives back.
func (m *Manager) Submit(ctx context.Context, s Submission) (sub Submitted, err error) {
	if s.Queue != tasks.QueueSync && s.Queue != tasks.QueueAsync {
		return Submitted{}, fmt.Errorf("lifecycle: %q is not a kind of job queue", s.Queue)
	}
	s.Payload.JobID, s.Payload.Cache = s.ID, s.Cache
	if s.Cache != nil {
		defer func() {
			if err != nil || sub.Attached {
				m.abandonCache(ctx, s.Cache.Hash, s.ID)
			}
		}()
	}
	hold, err := m.holdBudget(ctx, s.Tenant, s.Payload.Cost)
	if err != nil {
		return Submitted{}, err
	}
	if hold != nil {
		// Given back unless this call's own job is queued with it.
		defer func() {
			if err != nil || sub.Attached {
				m.settle(ctx, s.ID, hold, 0)
			}
		}()
	}
	at := tasks.Placement{Queue: tasks.Shard(s.Queue, s.ID, m.cfg.QueueShards), TaskID: uuid.NewString(), Timeout: m.cfg.Timeout}
	job, created, err := m.store.Create(ctx, newRecord(s, at))
	if err != nil {
		return Submitted{}, err
	}
	if !created {
		return m.attach(ctx, s, job)
	}
	if err := m.queue(ctx, &s, at); err != nil {
		// Nothing will run a job that is not queued: remove it, so that a
		// retry of the same request starts afresh instead of waiting.
		cctx, cancel := cleanup(ctx)
		defer cancel()
		if derr := m.store.Delete(cctx, s.Tenant, s.ID); derr != nil {
			m.log.Error("removing a job that could not be queued", "job_id", s.ID, "error", derr)
		}
		return Submitted{}, err
	}
	m.log.Debug("job queued", "job_id", s.ID, "target", s.Payload.Target, "request_id", s.RequestID)
	return Submitted{Job: job}, nil
}

// newRecord is the job record of a submission whose task goes at at.
func newRecord(s Submission, at tasks.Placement) jobs.New {
	kind := reliapi.KindHTTP
	if s.Payload.LLM != nil {
		kind = reliapi.KindLLM
	}
	n := jobs.New{
		ID: s.ID, Tenant: s.Tenant, Kind: kind, Target: s.Payload.Target,
		IdempotencyKey: s.Payload.IdempotencyKey, RequestHash: s.RequestHash, RequestID: s.RequestID,
		Queue: at.Queue, TaskID: at.TaskID, Webhook: s.Webhook, Deadline: s.Deadline,
	}
	if s.Cache != nil {
		n.CacheHash = s.Cache.Hash
	}
	return n
}

// attach answers a submission whose ID names an existing job: the same
// request attaches to it (ended now if it is overdue); another is a
// conflict.
func (m *Manager) attach(ctx context.Context, s Submission, job *reliapi.Job) (Submitted, error) {
	if job.RequestHash != s.RequestHash {
		e := reliapi.Errorf(reliapi.CodeIdempotencyConflict,
			"Idempotency key %q was already used with a different request", s.Payload.IdempotencyKey)
		e.Details = map[string]any{"job_id": job.ID}
		return Submitted{}, e
	}
	return Submitted{Job: m.EndOverdue(ctx, job), Attached: true}, nil
}

// queue takes the new job's concurrent-job slot, enqueues its task to come
// due after the lane's grace period, and makes the job ready on the
// wake-up lane; the slot is given back if the task cannot be enqueued. A
// job whose lane entry cannot be written runs all the same, when its task
// comes due.
func (m *Manager) queue(ctx context.Context, s *Submission, at tasks.Placement) error {
	slot, err := m.holdSlot(ctx, s.Tenant, s.ID, s.MaxConcurrentJobs)
	if err != nil {
		return err
	}
	if s.Payload.Caps != nil {
		s.Payload.Caps.Slot = slot
	}
	at.ProcessIn = max(m.cfg.LaneGrace, 0)
	task, err := tasks.New(s.Payload, at)
	if err == nil {
		err = m.enqueue(ctx, task)
	}
	if err != nil {
		if slot {
			m.releaseSlot(ctx, s.Tenant, s.ID)
		}
		return err
	}
	_, err = m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		return lane.Push(ctx, p, lane.Entry{Queue: at.Queue, TaskID: at.TaskID, Payload: task.Payload()})
	})
	if err != nil {
		m.log.Warn("making a job ready on the lane; it runs when its task comes due", "job_id", s.ID, "error", err)
	}
	return nil
}

// holdBudget reserves a priced LLM call's estimate in the tenant's spend
// windows, refusing it when a cap would be exceeded; without caps the hold
// only records spend for GET /v1/usage. The hold travels with the job
// (plan.Hold) and is settled when the job ends.
func (m *Manager) holdBudget(ctx context.Context, tenant string, plan *tasks.CostPlan) (*tasks.BudgetHold, error) {
	if plan == nil || !plan.Priced {
		return nil, nil
	}
	h, err := m.ledger.Reserve(ctx, tenant, plan.EstimateUSD, m.cfg.BudgetCaps)
	if err != nil {
		return nil, err
	}
	plan.Hold = &tasks.BudgetHold{ID: h.ID, Tenant: h.Tenant, Day: h.Day, Month: h.Month, Nanos: h.Nanos}
	return plan.Hold, nil
}

// holdSlot takes one of the tenant's max_concurrent_jobs slots for job id
// (a job already holding one keeps it): TOO_MANY_CONCURRENT_JOBS when the
// tenant has that many jobs queued or running. It reports whether the job
// holds a slot (false without a limit).
func (m *Manager) holdSlot(ctx context.Context, tenant, id string, limit int) (bool, error) {
	if limit <= 0 {
		return false, nil
	}
	// A slot outlives its job's longest possible run, so that a slot whose
	// release was lost with a crashed worker frees itself.
	ok, err := m.slots.Hold(ctx, tasks.JobSlots(tenant), id, limit, m.cfg.Timeout+time.Minute)
	if err != nil {
		return false, err
	}
	if !ok {
		e := reliapi.Errorf(reliapi.CodeTooManyJobs, "This tenant already has %d jobs queued or running; wait for one to finish", limit)
		e.Retryable, e.RetryAfter = true, time.Second
		e.Details = map[string]any{"limit": "concurrent_jobs", "limit_value": limit}
		return false, e
	}
	return true, nil
}

// settle settles a budget hold at the actual cost: the job's priced
// outcome, or 0 when it did not run. A failure is logged: the hold then
// lapses with its window.
func (m *Manager) settle(ctx context.Context, jobID string, h *tasks.BudgetHold, actualUSD float64) {
	if h == nil {
		return
	}
	ctx, cancel := cleanup(ctx)
	defer cancel()
	hold := &budget.Hold{ID: h.ID, Tenant: h.Tenant, Day: h.Day, Month: h.Month, Nanos: h.Nanos}
	if err := m.ledger.Settle(ctx, hold, actualUSD); err != nil {
		m.log.Error("settling a budget hold", "job_id", jobID, "error", err)
	}
}

// releaseSlot gives back job id's concurrent-job slot; releasing a slot
// not held costs nothing. A failure is logged: the slot frees itself when
// its hold expires.
func (m *Manager) releaseSlot(ctx context.Context, tenant, id string) {
	ctx, cancel := cleanup(ctx)
	defer cancel()
	if err := m.slots.Release(ctx, tasks.JobSlots(tenant), id); err != nil {
		m.log.Warn("releasing a concurrent-job slot", "job_id", id, "error", err)
	}
}

// abandonCache releases a job's claim on its response-cache entry, so the
// next identical call does not follow a job that will never answer.
func (m *Manager) abandonCache(ctx context.Context, hash, jobID string) {
	if hash == "" {
		return
	}
	ctx, cancel := cleanup(ctx)
	defer cancel()
	if err := m.cache.Abandon(ctx, hash, jobID); err != nil {
		m.log.Warn("releasing a response-cache claim", "job_id", jobID, "error", err)
	}
}
