package lifecycle

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/reliability/breaker"
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
	// Route, when set, is the routing decision the call came with, kept
	// on the job.
	Route *reliapi.RouteDecision
	// Cache, when set, is the response-cache entry this call claimed and
	// its job fills. When the call creates no job of its own (it fails, or
	// attaches to an existing job) the claim is released, so that
	// identical calls do not wait on nothing.
	Cache *tasks.CacheFill
	// MaxConcurrentJobs is the tenant's tier limit on jobs queued or
	// running at once; 0 is no limit.
	MaxConcurrentJobs int
	// Tier and Weight are the tenant's tier and its weight, its share of
	// the workers against other tenants with work ready (see package
	// lane); Priority orders the job among the tenant's own.
	Tier     string
	Weight   int
	Priority reliapi.Priority
	// Watcher, when set, is the done channel of the api replica whose
	// caller waits for the job's end (jobs.Waiter.Channel).
	Watcher string
	// Run, when set, asks for the job to be created running under a claim
	// of the caller's, who runs it instead of a worker: no lane entry, its
	// asynq task the fallback as for any job. Submit calls Run with the
	// job's Run just before the round trip that creates it goes out, so
	// that the caller may start the call meanwhile (see Run.Landed). Not
	// for a job created bare (an idempotency key, a tenant's full slots)
	// or with a deadline: those are queued as usual, and Run is not called.
	Run func(*Run)
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

// Run is a job Submit creates running under a claim of its caller's
// (Submission.Run): the caller runs it as a worker runs a delivery whose
// start it sent, and renews and ends its claim as a worker does. What the
// round trip that creates the job answers is set once Landed is closed.
type Run struct {
	Delivery Delivery
	// OnLanded, when set, is called on Submit's goroutine just before
	// Landed is closed (a caller whose call started before registers the
	// claim for renewal there).
	OnLanded func()
	// Started is the start's answer: Claimed when the job was created
	// running under the Delivery's claim; Err when the round trip that
	// creates it failed (Submit fails, and the job is removed).
	Started jobs.Started
	// Admission is the breaker's answer for the first attempt, read at
	// ReadAt in that round trip too (see breaker.Breakers.AllowIn); nil
	// when the round trip failed.
	Admission func() (breaker.Ticket, bool)
	ReadAt    time.Time

	landed chan struct{}
	answer func() jobs.Started
}

// Landed is closed once the round trip that creates the job has returned.
func (r *Run) Landed() <-chan struct{} { return r.landed }

// land records what the creating round trip answered (err when it
// failed) and closes Landed.
func (r *Run) land(err error) {
	switch {
	case err != nil:
		r.Started, r.Admission = jobs.Started{Err: err}, nil
	case r.answer == nil:
		r.Started, r.Admission = jobs.Started{Err: errors.New("lifecycle: the job was created without its start")}, nil
	default:
		r.Started = r.answer()
	}
	r.ReadAt = time.Now()
	if r.OnLanded != nil {
		r.OnLanded()
	}
	close(r.landed)
}

// Submit creates the job of a call and queues it, or attaches to the
// existing job its idempotency key names. Errors are coded for the caller:
// IDEMPOTENCY_CONFLICT (the key was used with another request),
// BUDGET_EXCEEDED (a spend cap), TOO_MANY_CONCURRENT_JOBS (the tenant's
// slots are full; Details carry the limit), REDIS_UNAVAILABLE. Whatever
// Submit took before a failing step it gives back.
//
// Queueing is one round trip: the job's record, its asynq task (to come
// due after the lane's grace, written as asynq's client would: see
// scheduleTask), its wake-up lane entry and a priced LLM call's budget
// hold travel in one pipeline. A hold that spend caps could refuse and a
// limited tenant's slot each cost one round trip before it.
func (m *Manager) Submit(ctx context.Context, s Submission) (sub Submitted, err error) {
	if s.Queue != tasks.QueueSync && s.Queue != tasks.QueueAsync {
		return Submitted{}, fmt.Errorf("lifecycle: %q is not a kind of job queue", s.Queue)
	}
	s.Payload.JobID, s.Payload.Cache = s.ID, s.Cache
	// A fallback due at once races the lane on purpose (tests): it does
	// not defer to it.
	s.Payload.Laned = m.cfg.LaneGrace > 0
	// Whatever is taken below is given back unless this call's own job is
	// queued with it.
	if s.Cache != nil {
		defer m.unless(&err, &sub, func() { m.abandonCache(ctx, s.Cache.Hash, s.ID) })
	}
	hold, err := m.holdBudget(ctx, s.Tenant, s.Payload.Cost)
	if err != nil {
		return Submitted{}, err
	}
	if hold != nil {
		defer m.unless(&err, &sub, func() {
			if !hold.pending {
				m.settle(ctx, s.ID, hold.BudgetHold, 0)
			}
		})
	}
	slot, full, err := m.takeSlot(ctx, s.Tenant, s.ID, s.MaxConcurrentJobs)
	if err != nil {
		return Submitted{}, err
	}
	if slot == slotTaken {
		defer m.unless(&err, &sub, func() { m.releaseSlot(ctx, s.Tenant, s.ID) })
	}
	if s.Payload.Caps != nil {
		s.Payload.Caps.Slot = slot != slotNone
	}
	at := tasks.Placement{Queue: tasks.Shard(s.Queue, s.ID, m.cfg.QueueShards), TaskID: uuid.NewString(), Timeout: m.cfg.Timeout}
	// A job ID from an idempotency key may name an existing job: its record
	// is created bare first, and queued only if it is new, so that a
	// repeat leaves no task or lane entry behind. A fresh ID is new.
	bare := s.Payload.IdempotencyKey != "" || full != nil
	job, created, err := m.create(ctx, s, at, hold, !bare)
	switch {
	case err != nil:
		return Submitted{}, err
	case !created:
		return m.attach(ctx, s, job)
	case full != nil:
		// A new job of a tenant whose slots are full.
		m.remove(ctx, s, at)
		return Submitted{}, full
	case bare:
		if err := m.queueCreated(ctx, s, at, hold); err != nil {
			m.remove(ctx, s, at)
			return Submitted{}, err
		}
	}
	m.log.Debug("job queued", "job_id", s.ID, "target", s.Payload.Target, "request_id", s.RequestID)
	return Submitted{Job: job}, nil
}

// unless runs undo when the Submit whose err and sub these are failed or
// attached to an existing job.
func (m *Manager) unless(err *error, sub *Submitted, undo func()) {
	if *err != nil || sub.Attached {
		undo()
	}
}

// create writes the job's record and, when queue is set, its asynq task,
// lane entry (or, for a Submission.Run, its start) and pending budget hold
// (see queueing), in one round trip. It returns the job created, or the
// existing one its ID names. A job created whose task, lane entry, start
// or hold could not be written is removed again. A Submission.Run is
// handed its Run before the round trip goes out, and the Run lands once
// create is done.
func (m *Manager) create(ctx context.Context, s Submission, at tasks.Placement, hold *budgetHold, queue bool) (job *reliapi.Job, created bool, err error) {
	var run *Run
	if queue && s.Run != nil && s.Deadline.IsZero() {
		run = &Run{Delivery: Delivery{Payload: s.Payload, Claim: NewClaim(at.TaskID, ClaimLease)}, landed: make(chan struct{})}
		s.Run(run)
		defer func() { run.land(err) }()
	}
	var more func(redis.Pipeliner)
	if queue {
		if more, err = m.queueing(ctx, s, at, hold, run); err != nil {
			return nil, false, err
		}
	}
	job, created, err = m.store.Create(ctx, newRecord(s, at), more)
	if err == nil {
		return job, created, nil
	}
	if job != nil && created {
		// Nothing may run a job its caller was told failed: remove it, so
		// that a retry of the same request starts afresh instead of waiting.
		m.remove(ctx, s, at)
	}
	if job != nil && !created {
		return job, false, nil // an attach; what more wrote is a stray its job ignores
	}
	return nil, false, unavailable(err)
}

// queueing is the commands that queue a created job: its asynq task, to
// come due after the lane's grace, its wake-up lane entry, and its budget
// hold when that is pending (made in this pipeline, before the push that
// may hand the job to a worker, which settles it). A job its caller runs
// (run set) gets its start and its first attempt's breaker read instead of
// a lane entry; its task stands by as every job's does.
func (m *Manager) queueing(ctx context.Context, s Submission, at tasks.Placement, hold *budgetHold, run *Run) (func(redis.Pipeliner), error) {
	at.ProcessIn = max(m.cfg.LaneGrace, 0)
	task, err := tasks.New(s.Payload, at)
	if err != nil {
		return nil, err
	}
	entry := lane.Entry{Queue: at.Queue, TaskID: at.TaskID, Payload: task.Payload()}
	// A worker waiting for the job gets it started, with its first
	// attempt's breaker read: its delivery (a claim under this token) needs
	// no round trip before the call. Not a job with a deadline: it expires
	// unless a worker starts it in time, and a push's start is no proof
	// that one received it.
	var start *lane.Start
	if m.handoffStarts && s.Deadline.IsZero() {
		start = &lane.Start{Record: jobs.RecordKey(s.ID), Token: rand.Text(), Lease: ClaimLease,
			Read: breaker.Key(s.Payload.Target), Fields: breaker.ReadFields}
	}
	return func(p redis.Pipeliner) {
		if hold != nil && hold.pending {
			budget.HoldIn(ctx, p, ledgerHold(hold.BudgetHold))
			hold.pending = false // sent: a failed Submit settles it
		}
		m.scheduleTask(ctx, p, task, at, time.Now().Add(at.ProcessIn))
		if run != nil {
			run.answer = m.store.StartIn(ctx, p, s.ID, run.Delivery.Claim)
			run.Admission = m.breakers.AllowIn(ctx, p, s.Payload.Target)
			return
		}
		flow := lane.Flow{Tenant: s.Tenant, Tier: s.Tier, Weight: s.Weight, Priority: s.Priority}
		lane.Push(ctx, p, entry, flow, start)
	}, nil
}

// queueCreated queues a job created bare: a second round trip.
func (m *Manager) queueCreated(ctx context.Context, s Submission, at tasks.Placement, hold *budgetHold) error {
	more, err := m.queueing(ctx, s, at, hold, nil)
	if err != nil {
		return err
	}
	if _, err := luascript.Pipelined(ctx, m.rdb, func(p redis.Pipeliner) error {
		more(p)
		return nil
	}); err != nil {
		return unavailable(err)
	}
	return nil
}

// remove deletes a job Submit created but does not queue, with its task.
// A lane entry left behind finds no job and is dropped.
func (m *Manager) remove(ctx context.Context, s Submission, at tasks.Placement) {
	ctx, cancel := cleanup(ctx)
	defer cancel()
	if err := m.store.Delete(ctx, s.Tenant, s.ID); err != nil {
		m.log.Error("removing a job that could not be queued", "job_id", s.ID, "error", err)
	}
	if _, err := luascript.Pipelined(ctx, m.rdb, func(p redis.Pipeliner) error {
		dropTask(ctx, p, at.Queue, at.TaskID)
		return nil
	}); err != nil {
		m.log.Warn("removing the task of a job that could not be queued", "job_id", s.ID, "error", err)
	}
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
		Queue: at.Queue, TaskID: at.TaskID, Webhook: s.Webhook, Deadline: s.Deadline, Route: s.Route,
		Watcher: s.Watcher,
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

// budgetHold is a priced call's budget hold, as its job carries it;
// pending until the pipeline that queues the job has made it.
type budgetHold struct {
	*tasks.BudgetHold
	pending bool
}

// holdBudget reserves a priced LLM call's estimate in the tenant's spend
// windows. With spend caps the reservation decides whether the call may
// run, a round trip before anything else; without caps nothing can refuse
// it, and the hold only records spend for GET /v1/usage: it is made
// pending, in the pipeline that queues the job (see queueing). The hold
// travels with the job (plan.Hold) and is settled when the job ends.
func (m *Manager) holdBudget(ctx context.Context, tenant string, plan *tasks.CostPlan) (*budgetHold, error) {
	if plan == nil || !plan.Priced {
		return nil, nil
	}
	var h *budget.Hold
	pending := m.cfg.BudgetCaps == (budget.Caps{})
	if pending {
		h = budget.NewHold(tenant, plan.EstimateUSD, time.Now())
	} else {
		var err error
		if h, err = m.ledger.Reserve(ctx, tenant, plan.EstimateUSD, m.cfg.BudgetCaps); err != nil {
			return nil, err
		}
	}
	plan.Hold = &tasks.BudgetHold{ID: h.ID, Tenant: h.Tenant, Day: h.Day, Month: h.Month, Nanos: h.Nanos}
	return &budgetHold{BudgetHold: plan.Hold, pending: pending}, nil
}

// How a job holds its tenant's concurrent-job slot.
type slotHold int

const (
	slotNone  slotHold = iota // the tenant has no limit
	slotTaken                 // taken now for this job
	slotHeld                  // held already (the job exists)
)

// takeSlot takes one of the tenant's max_concurrent_jobs slots for job id;
// a job already holding one keeps it. When the tenant has that many jobs
// queued or running, full is TOO_MANY_CONCURRENT_JOBS (for the caller to
// answer unless the call attaches to an existing job).
func (m *Manager) takeSlot(ctx context.Context, tenant, id string, limit int) (hold slotHold, full error, err error) {
	if limit <= 0 {
		return slotNone, nil, nil
	}
	// A slot outlives its job's longest possible run, so that a slot whose
	// release was lost with a crashed worker frees itself.
	held, already, err := m.slots.Take(ctx, tasks.JobSlots(tenant), id, limit, m.cfg.Timeout+time.Minute)
	switch {
	case err != nil:
		return slotNone, nil, err
	case already:
		return slotHeld, nil, nil
	case held:
		return slotTaken, nil, nil
	}
	e := reliapi.Errorf(reliapi.CodeTooManyJobs, "This tenant already has %d jobs queued or running; wait for one to finish", limit)
	e.Retryable, e.RetryAfter = true, time.Second
	e.Details = map[string]any{"limit": "concurrent_jobs", "limit_value": limit}
	return slotNone, e, nil
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
	if err := m.ledger.Settle(ctx, ledgerHold(h), actualUSD); err != nil {
		m.log.Error("settling a budget hold", "job_id", jobID, "error", err)
	}
}

// ledgerHold is the budget package's view of a hold a job carries.
func ledgerHold(h *tasks.BudgetHold) *budget.Hold {
	return &budget.Hold{ID: h.ID, Tenant: h.Tenant, Day: h.Day, Month: h.Month, Nanos: h.Nanos}
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
