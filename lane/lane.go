// Package lane is the wake-up lane in front of asynq: per queue shard, the
// jobs ready for the next free worker, taken fairly across tenants, with a
// blocking hand-off to idle workers, so that a job submitted now is picked
// up now, not at the next poll of asynq's queues.
//
// The lane is a hint, not a store. Every job is also held durably by its
// asynq task, enqueued to run after a grace period: it runs the job when
// no lane delivery claimed it in time (no worker was listening, the worker
// that popped it died before claiming it, the lane's keys were lost in a
// failover), and it stands by while a lane delivery runs the job, taking
// it over if that delivery's claim lapses. A job's record says which
// delivery holds it (see package jobs' claims), so it runs once whichever
// way it arrives. Losing a lane entry costs latency (the grace period, or
// the claim's lease for a job its push started), never a job.
//
// # Fairness
//
// Each kind of each shard (sync-N, async-N) is a start-time fair queue
// over tenants: a tenant's ready jobs wait in its own lists (one per
// priority, FIFO), and the tenant waits in a sorted set scored by the
// virtual start time of its next job. A pop takes the tenant with the
// lowest score, its highest-priority job, and moves the tenant on by
// 1/weight; a tenant that comes back after running dry starts at the
// lane's current virtual time, not where it left off. So while tenants
// have work queued, their shares of the pops follow their weights,
// whatever each has queued, and priority orders a tenant's own jobs
// without changing its share. Both run in one script per push and per pop.
//
// # Hand-off
//
// A script cannot block, so a worker whose pop finds nothing registers as
// waiting and blocks on its shard's hand-off lists. A push that sees more
// workers waiting than entries already handed off puts its entry there
// instead of in the fair queue: an idle worker has nothing to be fair
// about, and it gets the job in the one round trip it is blocked in. A
// worker handed an entry blocks again at once, still registered, without
// the script: a push that finds every waiting worker handed an entry
// already queues its own fairly and leaves a token on the shard's recheck
// list, which wakes one of them to run the script. A registration lapses
// unless renewed (see registration), so a worker that died waiting takes
// nothing with it; what it was handed sits at the head of the shard, for
// the next pop of any worker.
//
// A push with a Start also starts the job it hands off, so that the worker
// calls the upstream without a round trip of its own; the claim goes with
// the entry (Entry.Claim), and the start's answer only to a worker whose
// wait it ended an instant later (Entry.Started, freshWait). An entry that
// waited longer — its popper died, or waited for a slot — is taken by the
// next pop script without the answer, and its delivery confirms the claim
// with a start of its own.
package lane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// Entry is what a worker needs to run a job it pops: the job's asynq task
// ID (the job's delivery identity) and the task's payload, and, when the
// push that handed it to a waiting worker started the job, the claim.
type Entry struct {
	Queue   string
	TaskID  string
	Payload []byte
	// Claim is the token of the claim a push's Start took on the job (""
	// when the entry was queued, or pushed without a Start): the delivery
	// of whoever pops the entry holds the job under it.
	Claim string
	// Started is that start's answer when the entry came straight from the
	// push to this popper's wait — a BLPOP that followed the pop script or
	// its last wait at once (freshWait), and answered within its own wait
	// — so that the claim, taken an instant before, cannot have lapsed:
	// the delivery runs the job without a start of its own. Nil otherwise
	// (an entry the pop script takes: handed to a worker that died waiting
	// or waited for a slot, or handed back): the delivery confirms its
	// claim with a start, which renews it, or finds the job canceled or
	// taken over.
	Started *Started
}

// Started is the answer of a push's Start, as its script encoded it: the
// job's record (its HGETALL, packed with cmsgpack, which jobs.StartedBy
// reads) and the start's read (its HMGET, encoded with cjson).
type Started struct {
	Record []byte
	Read   []byte
}

// encode is an entry as the lane holds it: the queue and the task ID on a
// line each, then the payload as it is; an entry under a claim starts with
// a line "+" and the token, then the start's answer, which the push
// script writes — the record's length on a line, the record, the read on
// a line — and a lane that holds the entry again (Return) leaves empty
// (two empty lines). Wrapped in JSON, the payload was scanned and copied
// once more by the api that pushed it and twice more by the worker that
// popped it.
func (e Entry) encode() string {
	s := e.Queue + "\n" + e.TaskID + "\n" + string(e.Payload)
	if e.Claim != "" {
		s = "+" + e.Claim + "\n\n\n" + s
	}
	return s
}

// decodeEntry reads an entry encode or the push script wrote; fresh says
// it came straight from its push (see Entry.Started).
func decodeEntry(data string, fresh bool) (Entry, error) {
	whole := data
	var claim, record, read string
	if rest, ok := strings.CutPrefix(data, "+"); ok {
		var ok1, ok2, ok3 bool
		claim, rest, ok1 = strings.Cut(rest, "\n")
		record, rest, ok2 = strings.Cut(rest, "\n")
		if n, err := strconv.Atoi(record); err == nil {
			// The record's length; a record on its own line is JSON, as an
			// earlier build's push wrote it.
			if n < 0 || n > len(rest) {
				return Entry{}, fmt.Errorf("lane: malformed entry %.60q", whole)
			}
			record, rest = rest[:n], rest[n:]
		}
		read, data, ok3 = strings.Cut(rest, "\n")
		if !ok1 || !ok2 || !ok3 || claim == "" {
			return Entry{}, fmt.Errorf("lane: malformed entry %.60q", whole)
		}
	}
	queue, rest, ok := strings.Cut(data, "\n")
	taskID, payload, ok2 := strings.Cut(rest, "\n")
	if !ok || !ok2 || queue == "" || taskID == "" {
		return Entry{}, fmt.Errorf("lane: malformed entry %.60q", whole)
	}
	e := Entry{Queue: queue, TaskID: taskID, Payload: []byte(payload), Claim: claim}
	if fresh && record != "" {
		e.Started = &Started{Record: []byte(record), Read: []byte(read)}
	}
	return e, nil
}

// Flow says whose job an entry is and where it goes among that tenant's
// jobs: the tenant's share of pops is Weight against the other tenants'
// (a tier's weight); Priority orders its own jobs.
type Flow struct {
	Tenant   string
	Tier     string
	Weight   int
	Priority reliapi.Priority
}

// shard is the part of a queue's name after the kind ("async-3" → "3").
func shard(queue string) (kind, n string) {
	kind, n, _ = strings.Cut(queue, "-")
	if n == "" {
		n = "0"
	}
	return kind, n
}

// prefix is where every key of a shard's lane starts. Both kinds of one
// shard share a hash tag, so that one script and one BLPOP serve both,
// sync first, on a Redis Cluster too.
func prefix(n string) string { return "reliapi:lane:{lane-" + n + "}:" }

// keys are the keys of one kind of one shard.
type keys struct {
	ready   string // sorted set: tenant → virtual start of its next job
	tags    string // sorted set: tenant that ran dry → virtual start it had reached
	clock   string // the lane's virtual time: the start of the last pop
	tiers   string // hash: tenant with jobs ready → its tier (for metrics)
	handoff string // list of entries for waiting workers
	lists   string // + tenant + ":" + rank: the tenant's ready jobs of a priority
}

func keysOf(queue string) keys {
	kind, n := shard(queue)
	p := prefix(n) + kind + ":"
	return keys{ready: p + "ready", tags: p + "tags", clock: p + "clock", tiers: p + "tiers", handoff: p + "handoff", lists: p + "t:"}
}

// waiters is a shard's sorted set of waiting workers, by when their wait
// lapses (ms).
func waiters(queue string) string {
	_, n := shard(queue)
	return prefix(n) + "waiters"
}

// handoffs are a shard's hand-off lists, sync first.
func handoffs(queue string) []string {
	_, n := shard(queue)
	return []string{prefix(n) + "sync:handoff", prefix(n) + "async:handoff"}
}

// recheck is a shard's list of tokens for waiting workers to run the pop
// script (see Popper.Pop). A token is a wake-up (see wake): one nobody
// took lapses — the workers it was for died, and the entry it was for is
// taken by the next pop script of any worker, or runs from its asynq task.
func recheck(queue string) string {
	_, n := shard(queue)
	return prefix(n) + "recheck"
}

// Start asks a push to start the job when it hands the entry to a waiting
// worker, in its script (jobs.StartLua), and to read a hash with it: the
// worker then runs the job without a round trip to claim it (see
// Entry.Started). The keys must live on the lane's node, which a Redis
// Cluster does not promise: push without a Start there.
type Start struct {
	// Record is the job record's key (jobs.RecordKey).
	Record string
	// Token and Lease are the claim's (the worker renews it).
	Token string
	Lease time.Duration
	// Read and Fields name a hash and the fields of it read with the start:
	// the breaker of the job's target, for its first attempt.
	Read   string
	Fields []string
}

// Push adds e to its queue's lane as f says, in pipeline p (the caller
// runs it with what else the job needs written, the record first). With
// s, a push that hands the entry to a waiting worker starts the job. Its
// command is a script's EVALSHA: run p with luascript.Pipelined.
func Push(ctx context.Context, p redis.Pipeliner, e Entry, f Flow, s *Start) {
	k := keysOf(e.Queue)
	h := handoffs(e.Queue)
	keys := []string{k.ready, k.tags, k.clock, k.tiers, k.lists + f.Tenant + ":" + strconv.Itoa(f.Priority.Rank()), k.handoff, waiters(e.Queue), h[0], h[1], recheck(e.Queue)}
	args := []any{f.Tenant, max(f.Weight, 1), f.Tier, e.encode(), wakeLapse.Milliseconds()}
	if s != nil {
		keys = append(keys, s.Record, s.Read)
		args = append(args, e.TaskID, s.Token, s.Lease.Milliseconds())
		for _, field := range s.Fields {
			args = append(args, field)
		}
	}
	pushScript.EvalSha(ctx, p, keys, args...)
}

// Return puts entries a stopping worker popped but did not start at the
// head of their shards' hand-off lists, for the next pop of any worker.
func Return(ctx context.Context, rdb redis.UniversalClient, entries ...Entry) error {
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		// Last first, so that they are popped in the order given.
		for _, e := range slices.Backward(entries) {
			p.LPush(ctx, keysOf(e.Queue).handoff, e.encode())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lane: handing entries back: %w", err)
	}
	return nil
}

// registration is how long a popper counts as waiting after its pop found
// nothing. A popper renews it while it waits, a pop that finds work ends
// it, and a popper that stops ends it (Close); a popper that dies leaves
// it to lapse, meanwhile counted as a waiting worker: the entries handed to
// it are taken first by the next pop of any worker, out of fair order.
const registration = 15 * time.Second

// Popper takes entries from one shard's lanes, sync before async. Each
// popper is one waiting worker to the pushes; it is not safe for
// concurrent use.
type Popper struct {
	rdb     redis.UniversalClient
	id      string
	wait    time.Duration
	sync    keys
	async   keys
	waiters string
	// own is its wake-up list (see Pop), tokens the shard's recheck list;
	// blocks are the lists its BLPOP watches: own, then the hand-off lists,
	// sync first, then tokens.
	own, tokens string
	blocks      []string
	// registered is when this popper's registration as waiting lapses, by
	// this process's clock; zero when it is not registered.
	registered time.Time
	// recheck says the next pop must run the script: a recheck token woke
	// it (a push queued an entry fairly while it was registered), or its
	// own list did (the script found work, or a wake-up).
	recheck bool
	// waited is when its last wait ended, with nothing or with an entry
	// handed to it (see freshWait); emptied is when the hand-off lists
	// were last seen empty: its last wait that ended with nothing, or its
	// last pop script that found nothing (see handOffRun).
	waited, emptied time.Time
	// token says a recheck token woke it and no script has run since: a
	// popper that stops then puts it back (Close).
	token bool
	// loaded says Redis holds the pop script, which the popper loads
	// before its first pop and after Redis lost it: luascript's fallback
	// by body would come after the pipeline's BLPOP had waited unregistered
	// (no push hands entries to it then).
	loaded bool
}

// NewPopper returns a popper of the shard of queue (either kind: it pops
// both) whose Pop blocks up to wait (less than registration).
func NewPopper(rdb redis.UniversalClient, wait time.Duration, queue string) *Popper {
	_, n := shard(queue)
	id := uuid.NewString()
	own, tokens := prefix(n)+"popper:"+id, recheck(queue)
	return &Popper{rdb: rdb, id: id, wait: min(wait, registration/2), sync: keysOf("sync-" + n), async: keysOf("async-" + n),
		waiters: waiters(queue), own: own, tokens: tokens, blocks: append(append([]string{own}, handoffs(queue)...), tokens)}
}

// freshWait is how soon after its last wait ended (with nothing, or with
// an entry handed to it) a pop may wait again without the script.
// Whatever that BLPOP returns was pushed after the last wait ended, an
// instant before — while the popper waited, a push's entry went to it at
// once — so the claim of a push's Start on it cannot have lapsed
// (Entry.Started). A pop that comes later — its worker waited for a slot
// while still registered as waiting — runs the script, which takes what
// was handed to it meanwhile as it takes a dead popper's: without the
// start's answer, for the delivery to confirm the claim.
const freshWait = 100 * time.Millisecond

// handOffRun bounds a run of waits without the script that each end with
// an entry handed to the popper: every entry such a wait returns was
// pushed after the hand-off lists were last seen empty, so it is at most
// this old (a backlog of entries handed to registered poppers that do not
// take them — dead, or busy — could otherwise feed a long run with old
// entries whose claims lapse). Then the script runs again, which takes
// what is left as not fresh. On a quiet lane: once a second, not per job.
const handOffRun = time.Second

// pipelinedWait is how long the BLPOP that travels with the pop script
// may block: a pipeline's reply must come within the client's read
// timeout (2 s in reliapi, 3 s by default), whatever a command's own.
const pipelinedWait = time.Second

// Pop takes up to limit entries (at least one) in one round trip: the
// pop script, and a BLPOP that returns at once when the script found work
// (it wakes this popper's own list) or else waits for an entry handed to
// this popper, registered as waiting by the script. It returns none when
// nothing came within the wait.
//
// A registered popper only BLPOPs (one command per wait: per job, on a
// quiet lane) until its registration nears its end, as long as each pop
// follows the last wait at once (freshWait): pushes hand their entries to
// waiting workers, and a push that finds them all handed entries already
// queues its own fairly and leaves a token on the shard's recheck list,
// which wakes one of them to run the script.
func (p *Popper) Pop(ctx context.Context, limit int) ([]Entry, error) {
	if !p.recheck && time.Since(p.waited) < freshWait && time.Since(p.emptied) < handOffRun && time.Until(p.registered) > p.wait+time.Second {
		return p.block(ctx)
	}
	if !p.loaded {
		if err := popScript.Load(ctx, p.rdb).Err(); err != nil {
			return nil, fmt.Errorf("lane: loading the pop script: %w", err)
		}
		p.loaded = true
	}
	sent := time.Now()
	var (
		script *redis.Cmd
		woken  *redis.StringSliceCmd
	)
	_, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		script = popScript.EvalSha(ctx, pipe,
			[]string{p.sync.handoff, p.sync.ready, p.sync.tags, p.sync.clock, p.sync.tiers,
				p.async.handoff, p.async.ready, p.async.tags, p.async.clock, p.async.tiers, p.waiters, p.own},
			p.id, registration.Milliseconds(), p.sync.lists, p.async.lists, max(limit, 1))
		woken = pipe.BLPop(ctx, pipelinedWait, p.blocks...)
		return nil
	})
	p.registered, p.recheck, p.token = time.Time{}, false, false
	data, serr := script.StringSlice()
	switch {
	case serr == nil:
		return decode(data, false)
	case !errors.Is(serr, redis.Nil):
		// The BLPOP ran all the same and may have taken an entry handed
		// to this popper: keep it, though not as fresh (nothing checked
		// the hand-off lists first), so that its delivery confirms it.
		got, werr := p.woken(woken, false)
		if redis.HasErrorPrefix(serr, "NOSCRIPT") {
			// Redis lost its scripts (a restart, a failover): the next
			// pop loads it again.
			p.loaded = false
			return got, werr
		}
		return got, errors.Join(fmt.Errorf("lane: popping: %w", serr), werr)
	}
	p.registered, p.emptied = sent.Add(registration), sent
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("lane: waiting: %w", err)
	}
	return p.woken(woken, time.Since(sent) <= pipelinedWait)
}

// block waits for an entry handed to the registered popper.
func (p *Popper) block(ctx context.Context) ([]Entry, error) {
	sent := time.Now()
	cmd := p.rdb.BLPop(ctx, p.wait, p.blocks...)
	return p.woken(cmd, time.Since(sent) <= p.wait)
}

// woken reads what a BLPOP of the popper's lists returned: an entry
// handed to it, a token or a wake-up of its own list (the next pop runs
// the script), or nothing. fresh says the BLPOP followed a look at the
// hand-off lists an instant before, or a wait that ended at once
// (freshWait), and came back within its own wait: Redis answers a wait
// with nothing when it is over, so an entry that comes later was held in
// transit — a partition that left the connection open, whose go-redis
// read deadline is the wait plus 10 s — and its claim may have lapsed
// and the job run elsewhere meanwhile (see Entry.Started).
func (p *Popper) woken(cmd *redis.StringSliceCmd, fresh bool) ([]Entry, error) {
	res, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil):
		p.waited = time.Now()
		p.emptied = p.waited
		return nil, nil
	case err != nil:
		p.registered = time.Time{}
		return nil, fmt.Errorf("lane: waiting: %w", err)
	case len(res) != 2:
		return nil, fmt.Errorf("lane: waiting: unexpected reply %v", res)
	}
	if res[0] == p.own || res[0] == p.tokens {
		p.recheck, p.token = true, res[0] == p.tokens
		return nil, nil
	}
	// An entry handed to this popper: its next pop waits again at once,
	// without the script, since a push that queues an entry fairly while
	// this popper is registered leaves a recheck token to wake it.
	p.waited = time.Now()
	return decode(res[1:], fresh)
}

// Wake makes the popper's pop under way, if any, return at once with
// nothing: a stopping worker's Redis client cannot interrupt a blocking
// read. The wake-up of a popper that was not waiting lapses soon.
func (p *Popper) Wake(ctx context.Context) error { return wake(ctx, p.rdb, p.own) }

// wakeLapse is how long a wake-up nobody took stays.
const wakeLapse = 10 * time.Second

// wake pushes a wake-up on list: a popper's own, or a shard's recheck
// list (a token).
func wake(ctx context.Context, rdb redis.UniversalClient, list string) error {
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, list, "wake")
		p.PExpire(ctx, list, wakeLapse)
		return nil
	})
	if err != nil {
		return fmt.Errorf("lane: waking a popper: %w", err)
	}
	return nil
}

// Close ends the popper's registration as waiting, so that pushes stop
// handing it entries.
func (p *Popper) Close(ctx context.Context) error {
	if p.token {
		// Woken by a recheck token and stopped before its script ran: the
		// token goes back, for another waiting popper.
		p.token = false
		if err := wake(ctx, p.rdb, p.tokens); err != nil {
			return err
		}
	}
	if p.registered.IsZero() {
		return nil
	}
	p.registered = time.Time{}
	if err := p.rdb.ZRem(ctx, p.waiters, p.id).Err(); err != nil {
		return fmt.Errorf("lane: ending a wait: %w", err)
	}
	return nil
}

// decode decodes popped entries of the job lane; fresh says they came
// straight from their pushes (see Entry.Started).
func decode(data []string, fresh bool) ([]Entry, error) {
	return decodeAll(data, func(d string) (Entry, error) { return decodeEntry(d, fresh) })
}

// decodeAll decodes popped entries of either lane with dec; one that does
// not decode is dropped (its job's asynq task runs it) and reported with
// the others.
func decodeAll[T any](data []string, dec func(string) (T, error)) ([]T, error) {
	out := make([]T, 0, len(data))
	var errs []error
	for _, d := range data {
		e, err := dec(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}
