package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/redisbatch"
)

// Config configures a Store.
type Config struct {
	// Retention is how long a job record is kept after it is created, and
	// again after it finishes. Default 24h.
	Retention time.Duration
}

func (c *Config) setDefaults() {
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
}

// Store reads and writes job records.
type Store struct {
	rdb redis.UniversalClient
	// batch carries the creates, the finishes and the reads of polls
	// (Get, GetWatched): under load, concurrent ones share round trips.
	// Starts go on their own: a pop's starts share one already, and a sync
	// call waits on them.
	batch *redisbatch.Batcher
	cfg   Config
	// upkept is when this Store last trimmed each tenant's index and
	// renewed its expiry, Unix ms (an *atomic.Int64 per tenant): see
	// indexUpkeepDue.
	upkept sync.Map
}

// indexUpkeepEvery is how often, at most, a Store's creates trim a
// tenant's index of entries past retention and renew its expiry. Every
// create adds its own entry; the upkeep need not ride along with each
// (two of a create's seven commands): an entry trimmed a second late, or
// an expiry of retention + 1 h renewed a second late, changes no listing,
// which skips entries whose record is gone.
const indexUpkeepEvery = time.Second

// indexUpkeepDue reports whether a create at nowMS does the upkeep of
// tenant's index: the first create of each indexUpkeepEvery, per tenant
// and Store.
func (s *Store) indexUpkeepDue(tenant string, nowMS int64) bool {
	v, ok := s.upkept.Load(tenant)
	if !ok {
		v, _ = s.upkept.LoadOrStore(tenant, new(atomic.Int64))
	}
	last := v.(*atomic.Int64)
	prev := last.Load()
	return nowMS-prev >= indexUpkeepEvery.Milliseconds() && last.CompareAndSwap(prev, nowMS)
}

// batchRoundTrips is how many of the batcher's round trips a process keeps
// on the wire. One makes the largest batches, and measured best under the
// bench's async load against two, four and none (docs/benchmarks.md,
// "Group commit").
const batchRoundTrips = 1

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient, cfg Config) *Store {
	cfg.setDefaults()
	return &Store{rdb: rdb, batch: redisbatch.New(rdb, batchRoundTrips), cfg: cfg}
}

// New is a job to create: the fields the api decides.
type New struct {
	ID             string
	Tenant         string
	Kind           reliapi.JobKind
	Target         string
	IdempotencyKey string
	RequestHash    string
	RequestID      string
	// Queue and TaskID say where the job's task is enqueued, so that a
	// cancel can reach it.
	Queue  string
	TaskID string
	// CacheHash names the response-cache entry the job fills, if any.
	CacheHash string
	// Webhook, when set, is where the job's end is to be delivered.
	Webhook *reliapi.Subscription
	// Deadline, when set, is when the job expires if no worker started it.
	Deadline time.Time
	// Route, when set, is the routing decision the call came with.
	Route *reliapi.RouteDecision
	// Watcher, when set, is the channel of the api replica whose caller
	// waits for the job's end (Waiter.Channel): the end is announced there.
	Watcher string
}

// Create inserts a queued job unless a job with the same ID exists. It
// returns the job and whether this call created it; when it did not, the
// job is the existing one, untouched.
//
// The record and its place in the tenant's list are written in one round
// trip: the job's creation script and the index update travel in one
// pipeline (they live in different cluster slots, so they cannot share a
// script), with what more adds (the job's task and lane entry). The index
// is scored by this process's clock, which only orders listings; the job's
// created_at comes from Redis TIME.
//
// When a command other than the creation fails, Create returns the error
// and the job as the creation left it (created or found), so the caller
// can undo.
func (s *Store) Create(ctx context.Context, n New, more func(redis.Pipeliner)) (*reliapi.Job, bool, error) {
	args, err := s.createArgs(n)
	if err != nil {
		return nil, false, err
	}
	nowMS := time.Now().UnixMilli()
	index := tenantJobsKey(n.Tenant)
	upkeep := s.indexUpkeepDue(n.Tenant, nowMS)
	var create *redis.Cmd
	_, err = luascript.Pipelined(ctx, s.batch, func(p redis.Pipeliner) error {
		create = createScript.EvalSha(ctx, p, []string{jobKey(n.ID)}, args...)
		// NX: a repeat of an existing job keeps its place.
		p.ZAddNX(ctx, index, redis.Z{Score: float64(nowMS), Member: n.ID})
		if upkeep {
			p.ZRemRangeByScore(ctx, index, "-inf", "("+strconv.FormatInt(nowMS-s.cfg.Retention.Milliseconds(), 10))
			// The index lives a little longer than its newest record.
			p.Expire(ctx, index, s.cfg.Retention+time.Hour)
		}
		if more != nil {
			more(p)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("creating job: %w", err)
	}
	res, cerr := create.Slice()
	if cerr != nil || len(res) != 2 {
		return nil, false, cmp.Or(err, fmt.Errorf("creating job: unexpected reply %v %v", res, cerr))
	}
	job, created, perr := createdJob(n, res)
	return job, created, cmp.Or(perr, err)
}

// createArgs is the creation script's ARGV for n: the retention, then
// the record's field, value pairs.
func (s *Store) createArgs(n New) ([]any, error) {
	args := []any{
		int64(s.cfg.Retention / time.Second),
		"id", n.ID, "tenant", n.Tenant, "kind", string(n.Kind), "target", n.Target,
		"request_id", n.RequestID, "queue", n.Queue, "task_id", n.TaskID,
	}
	// Fields most jobs leave empty are left out: a record reads a missing
	// field as empty, and each value costs the script a Lua string.
	for _, f := range [...]struct{ name, value string }{
		{"idempotency_key", n.IdempotencyKey}, {"request_hash", n.RequestHash}, {"cache_hash", n.CacheHash},
	} {
		if f.value != "" {
			args = append(args, f.name, f.value)
		}
	}
	if n.Webhook != nil {
		sub, err := json.Marshal(n.Webhook)
		if err != nil {
			return nil, fmt.Errorf("creating job: %w", err)
		}
		args = append(args, "webhook", sub, "webhook_status", reliapi.WebhookPending)
	}
	if !n.Deadline.IsZero() {
		args = append(args, "deadline", n.Deadline.UnixMilli())
	}
	if n.Watcher != "" {
		args = append(args, "watchers", n.Watcher)
	}
	if n.Route != nil {
		route, err := json.Marshal(n.Route)
		if err != nil {
			return nil, fmt.Errorf("creating job: %w", err)
		}
		args = append(args, "route", route)
	}
	return args, nil
}

// createdJob reads the creation script's reply: the job it created, or the
// one it found.
func createdJob(n New, res []any) (*reliapi.Job, bool, error) {
	if created, _ := res[0].(int64); created == 0 {
		j, err := parseJob(res[1])
		if err != nil {
			return nil, false, fmt.Errorf("creating job: %w", err)
		}
		return j, false, nil
	}
	createdMS, _ := res[1].(int64)
	return &reliapi.Job{
		ID: n.ID, Tenant: n.Tenant, Kind: n.Kind, Status: reliapi.JobQueued, Target: n.Target,
		IdempotencyKey: n.IdempotencyKey, RequestHash: n.RequestHash, RequestID: n.RequestID,
		Queue: n.Queue, TaskID: n.TaskID, CacheHash: n.CacheHash, CreatedAt: time.UnixMilli(createdMS),
		Webhook: n.Webhook, WebhookStatus: webhookStatus(n.Webhook), Deadline: n.Deadline,
		Watchers: watchers(n.Watcher),
	}, true, nil
}

// Delete removes a job that was created but could not be enqueued, so that a
// retry of the same request starts afresh.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, jobKey(id))
		p.ZRem(ctx, tenantJobsKey(tenant), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting job: %w", err)
	}
	return nil
}

// Get returns the tenant's job. A job of another tenant is
// reliapi.ErrNotFound, exactly like a missing one.
func (s *Store) Get(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	var read *redis.MapStringStringCmd
	// Polls come in crowds: they share round trips as creates do.
	_, _ = s.batch.Pipelined(ctx, func(p redis.Pipeliner) error {
		read = p.HGetAll(ctx, jobKey(id))
		return nil
	})
	fields, err := read.Result()
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	return jobOfTenant(fields, tenant)
}

// GetWatched is Get for a caller that will wait for the job's end in the
// api replica whose done channel is channel (Waiter.Channel): a job that
// has not ended names the channel among its watchers in the same round
// trip, so that its end is announced there.
func (s *Store) GetWatched(ctx context.Context, tenant, id, channel string) (*reliapi.Job, error) {
	var watch *redis.Cmd
	_, _ = luascript.Pipelined(ctx, s.batch, func(p redis.Pipeliner) error {
		watch = watchScript.EvalSha(ctx, p, []string{jobKey(id)}, tenant, channel)
		return nil
	})
	v, err := watch.Slice()
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if len(v) == 0 {
		return nil, reliapi.ErrNotFound
	}
	return parseJob(v)
}

// jobOfTenant is the job a record's fields hold, when the record exists and
// is tenant's; reliapi.ErrNotFound otherwise.
func jobOfTenant(fields map[string]string, tenant string) (*reliapi.Job, error) {
	if len(fields) == 0 || fields["tenant"] != tenant {
		return nil, reliapi.ErrNotFound
	}
	return jobFromFields(fields)
}

// Lookup returns a job whatever its tenant: for operators, never for a
// tenant's own requests (use Get).
func (s *Store) Lookup(ctx context.Context, id string) (*reliapi.Job, error) {
	fields, err := s.rdb.HGetAll(ctx, jobKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if len(fields) == 0 {
		return nil, reliapi.ErrNotFound
	}
	return jobFromFields(fields)
}

// Start claims the job for a delivery. It returns the job and whether the
// caller should run it: false when the job is already finished or
// canceled, belongs to another task, is held by a live claim (ClaimUntil
// says until when), no longer exists (then the job is nil), or is still
// queued past its deadline (then the caller expires it: see Expire).
//
// more, when set, adds commands to send in the same round trip (the
// worker's breaker read for the job's first attempt).
func (s *Store) Start(ctx context.Context, id string, c Claim, more func(redis.Pipeliner)) (*reliapi.Job, bool, error) {
	r := s.StartAll(ctx, []Starting{{ID: id, Claim: c, More: more}})[0]
	return r.Job, r.Claimed, r.Err
}

// Starting is one job for StartAll to start: Start's arguments.
type Starting struct {
	ID    string
	Claim Claim
	More  func(redis.Pipeliner)
}

// Started is what Start returns, for one job of StartAll.
type Started struct {
	Job     *reliapi.Job
	Claimed bool
	Err     error
}

// StartAll is Start for several jobs in one round trip (the jobs a worker
// took from the lane in one pop): one answer per job, in order. It does not
// wait for the batcher's round trips.
func (s *Store) StartAll(ctx context.Context, starts []Starting) []Started {
	answers := make([]func() Started, len(starts))
	// Each command carries its own error; the pipeline's is the first of them.
	_, _ = luascript.Pipelined(ctx, s.rdb, func(p redis.Pipeliner) error {
		for i, st := range starts {
			answers[i] = s.StartIn(ctx, p, st.ID, st.Claim)
			if st.More != nil {
				st.More(p)
			}
		}
		return nil
	})
	out := make([]Started, len(starts))
	for i, answer := range answers {
		out[i] = answer()
	}
	return out
}

// StartIn adds Start's commands for job id to pipeline p (the caller's,
// which writes the job's record before it): the answer, once p has run,
// is Start's. The record is read right after the start script, by a plain
// HGETALL (see startScript); in the rare case where that read went first
// (errReadBeforeStart), the answer reads the record again, a round trip of
// its own.
func (s *Store) StartIn(ctx context.Context, p redis.Pipeliner, id string, c Claim) func() Started {
	cmd := startScript.EvalSha(ctx, p, []string{jobKey(id)}, c.TaskID, c.Token, c.Lease.Milliseconds())
	record := p.HGetAll(ctx, jobKey(id))
	return func() Started {
		st := started(cmd, record, c)
		if !errors.Is(st.Err, errReadBeforeStart) {
			return st
		}
		return started(cmd, s.rdb.HGetAll(ctx, jobKey(id)), c)
	}
}

// errReadBeforeStart is a start's answer whose record was read before the
// start ran: Redis did not have the script (a restart, a failover, a
// process that did not load it), and luascript.Pipelined ran it again by
// its body after the pipeline. The script's answer stands; the record is
// read again (and should that read not show the start either, the caller
// starts again, as after any failed start).
var errReadBeforeStart = errors.New("starting job: the record read with the start does not show it")

// started reads a start's answer: the script's, and the record read after
// it.
func started(cmd *redis.Cmd, record *redis.MapStringStringCmd, c Claim) Started {
	claimed, err := cmd.Int64()
	if err != nil {
		return Started{Err: fmt.Errorf("starting job: %w", err)}
	}
	fields, err := record.Result()
	if err != nil {
		return Started{Err: fmt.Errorf("starting job: %w", err)}
	}
	if claimed == 1 && (fields["status"] != string(reliapi.JobRunning) || fields["claim"] != c.Token) {
		return Started{Err: errReadBeforeStart}
	}
	if claimed < 0 || len(fields) == 0 {
		return Started{} // gone
	}
	j, err := jobFromFields(fields)
	if err != nil {
		return Started{Err: fmt.Errorf("starting job: %w", err)}
	}
	return Started{Job: j, Claimed: claimed == 1}
}

// StartedBy is the answer of a start that another script made with
// StartLua and that claimed the job: record is the job's HGETALL after it,
// packed with cmsgpack (the wake-up lane's push hands it along with the
// entry; see unpackStrings).
func StartedBy(record []byte) Started {
	j, err := jobFromRecord(record)
	if err != nil {
		return Started{Err: fmt.Errorf("reading a started job: %w", err)}
	}
	return Started{Job: j, Claimed: true}
}

// Finish records the outcome of a running job and announces it to its
// watchers, in one round trip with what more adds (the removal of the
// job's task). waited says a caller is likely waiting for the outcome (a
// sync call) even if the record names no watchers (created by an earlier
// build of the api): the end is then announced on the shared channel.
// status must be JobSucceeded or JobFailed. It reports false when the job
// was no longer running under the claim (it was canceled, or taken over,
// meanwhile). A job still queued under the claim's task is recorded too:
// Redis lost its Start (a restart that replayed an append-only file
// without its last writes).
func (s *Store) Finish(ctx context.Context, id string, c Claim, status reliapi.JobStatus, res *reliapi.Result, waited bool, more func(redis.Pipeliner)) (bool, error) {
	recorded, _, err := s.FinishRead(ctx, id, c, status, res, waited, false, Along{After: more})
	return recorded, err
}

// Along is what a caller adds to a finish's round trip. Before's commands
// run ahead of the finish script, so that what they write is there when
// the end's announcement wakes a waiting caller (the response cache's
// fill: an identical call that caller makes next hits it; a budget hold's
// settling: its usage shows the spend). After's run
// behind it, when the end is recorded (a webhook's queueing, which reads
// it). Either may be nil. On a Cluster the order holds only for commands
// on the job's node.
type Along struct{ Before, After func(redis.Pipeliner) }

// FinishRead is Finish that, when read is set, also returns the ended
// record as the finish left it, when this call recorded it (nil otherwise:
// a resend of a finish already recorded, or the job was not the claim's).
func (s *Store) FinishRead(ctx context.Context, id string, c Claim, status reliapi.JobStatus, res *reliapi.Result, waited, read bool, along Along) (bool, *reliapi.Job, error) {
	if status != reliapi.JobSucceeded && status != reliapi.JobFailed {
		return false, nil, fmt.Errorf("finishing job: status %q is not an outcome", status)
	}
	if res == nil {
		return false, nil, errors.New("finishing job: no result")
	}
	data, err := json.Marshal(res)
	if err != nil {
		return false, nil, fmt.Errorf("finishing job: encoding result: %w", err)
	}
	var finish *redis.Cmd
	_, err = luascript.Pipelined(ctx, s.batch, func(p redis.Pipeliner) error {
		if along.Before != nil {
			along.Before(p)
		}
		finish = finishScript.EvalSha(ctx, p, []string{jobKey(id)},
			string(status), data, int64(s.cfg.Retention/time.Second), doneChannel, id, c.TaskID, c.Token, flag(waited), flag(read))
		if along.After != nil {
			along.After(p)
		}
		return nil
	})
	// What more added failed: the outcome is recorded all the same.
	switch v, ferr := finish.Result(); {
	case ferr != nil:
		return false, nil, fmt.Errorf("finishing job: %w", cmp.Or(ferr, err))
	case v == int64(1):
		return true, nil, nil
	default:
		record, ok := v.(string)
		if !ok {
			return false, nil, nil
		}
		ended, err := jobFromRecord([]byte(record))
		if err != nil {
			// Recorded all the same; the caller reads the job if it needs it.
			return true, nil, nil
		}
		return true, ended, nil
	}
}

// Expire ends a job still queued for taskID past its deadline, and
// announces it. It reports whether it did.
func (s *Store) Expire(ctx context.Context, id, taskID string) (bool, error) {
	n, err := expireScript.Run(ctx, s.rdb, []string{jobKey(id)}, int64(s.cfg.Retention/time.Second), doneChannel, id, taskID).Int()
	if err != nil {
		return false, fmt.Errorf("expiring job: %w", err)
	}
	return n == 1, nil
}

// Requeue hands a running job from its claim over to newTaskID, already
// enqueued to run later, and marks it queued again. It reports false when
// the job was no longer the claim's (it was canceled or taken over
// meanwhile); like Finish, it takes a job still queued under the claim's
// task, whose Start Redis lost.
func (s *Store) Requeue(ctx context.Context, id string, c Claim, newTaskID string) (bool, error) {
	n, err := requeueScript.Run(ctx, s.rdb, []string{jobKey(id)}, c.TaskID, newTaskID, c.Token).Int()
	if err != nil {
		return false, fmt.Errorf("requeueing job: %w", err)
	}
	return n == 1, nil
}

// FailLost fails job, as read, whose asynq task no longer exists: Redis
// lost the task, or lost the job's end after the task was acknowledged,
// in a restart that replayed an append-only file without its last writes.
// Nothing can run such a job again (its request lived only in the task),
// so it ends failed with reliapi.CodeJobLost and is announced to waiters.
// The caller must have found job.TaskID missing from job.Queue; FailLost
// acts only while the job is still in job.Status under job.TaskID and was
// created more than after ago by Redis's clock, so a worker that finishes
// or hands over the job meanwhile wins. It returns the job as it is now and
// whether this call failed it; reliapi.ErrNotFound when the job is gone.
func (s *Store) FailLost(ctx context.Context, job *reliapi.Job, after time.Duration) (*reliapi.Job, bool, error) {
	if job.Status != reliapi.JobQueued && job.Status != reliapi.JobRunning {
		return job, false, nil
	}
	data, err := json.Marshal(&reliapi.Result{Error: lostError(job)})
	if err != nil {
		return nil, false, fmt.Errorf("failing lost job: encoding result: %w", err)
	}
	res, err := failLostScript.Run(ctx, s.rdb, []string{jobKey(job.ID)},
		job.TaskID, string(job.Status), after.Milliseconds(), data,
		int64(s.cfg.Retention/time.Second), doneChannel, job.ID).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("failing lost job: %w", err)
	}
	if len(res) != 2 {
		return nil, false, reliapi.ErrNotFound
	}
	now, err := parseJob(res[1])
	if err != nil {
		return nil, false, fmt.Errorf("failing lost job: %w", err)
	}
	failed, _ := res[0].(int64)
	return now, failed == 1, nil
}

// lostError is the error of a job FailLost ends. A job lost while queued
// never reached its target, so submitting it again is safe; one lost while
// running may have.
func lostError(job *reliapi.Job) *reliapi.Error {
	e := reliapi.Errorf(reliapi.CodeJobLost,
		"Job %s was lost: its queued task no longer exists (Redis lost it in a restart), so it never ran; submit the request again", job.ID)
	e.Retryable = true
	if job.Status == reliapi.JobRunning {
		e = reliapi.Errorf(reliapi.CodeJobLost,
			"Job %s was lost: its task no longer exists (Redis lost it, or the job's result, in a restart); the call may have reached the target", job.ID)
	}
	e.Details = map[string]any{"status": string(job.Status)}
	return e
}

// Canceled describes what Cancel did.
type Canceled struct {
	Job *reliapi.Job
	// Was is the status before the call: JobQueued or JobRunning when this
	// call canceled the job; a terminal status when there was nothing to do.
	Was reliapi.JobStatus
}

// Cancel cancels the tenant's job if it has not finished. Canceling a
// finished job changes nothing and is not an error.
func (s *Store) Cancel(ctx context.Context, tenant, id string) (Canceled, error) {
	res, err := cancelScript.Run(ctx, s.rdb, []string{jobKey(id)},
		tenant, int64(s.cfg.Retention/time.Second), doneChannel, id, canceledChannel).Slice()
	if err != nil {
		return Canceled{}, fmt.Errorf("canceling job: %w", err)
	}
	if len(res) != 2 {
		return Canceled{}, reliapi.ErrNotFound
	}
	was, _ := res[0].(string)
	j, err := parseJob(res[1])
	if err != nil {
		return Canceled{}, fmt.Errorf("canceling job: %w", err)
	}
	return Canceled{Job: j, Was: reliapi.JobStatus(was)}, nil
}

// QueuedRead is a job's status and creation as ReadQueued reads them.
type QueuedRead struct{ cmd *redis.SliceCmd }

// ReadQueued adds to p the read of whether job id is queued and since when
// it exists: a cheap look for a delivery deciding whether to wait.
func ReadQueued(ctx context.Context, p redis.Pipeliner, id string) QueuedRead {
	return QueuedRead{p.HMGet(ctx, jobKey(id), "status", "created_at")}
}

// Queued reports whether the job was queued when read, and when it was
// created; false for a job that does not exist.
func (r QueuedRead) Queued() (bool, time.Time) {
	v := r.cmd.Val()
	if len(v) != 2 {
		return false, time.Time{}
	}
	status, _ := v[0].(string)
	created, _ := v[1].(string)
	return reliapi.JobStatus(status) == reliapi.JobQueued, millis(created)
}

// flag is a boolean as a script's argument: "1" or "0".
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
