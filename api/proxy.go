package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/reliability/idempotency"
	"github.com/reliapi/reliapi/tasks"
)

// dialect is how a route answers: the envelope of the proxy routes, or
// OpenAI's shapes on the OpenAI-compatible route.
type dialect struct {
	err      func(c *gin.Context, err error, m meta)
	result   func(c *gin.Context, j *reliapi.Job, idempotentHit bool)
	accepted func(c *gin.Context, j *reliapi.Job)
	cached   func(c *gin.Context, e *cache.Entry, target string)
	// stream writes a streamed answer's events.
	stream streamWriter
	// decode reads the request body into v.
	decode func(r io.Reader, v any, limit int64) error
}

// envelope is the proxy routes' dialect.
var envelopeDialect = dialect{err: writeError, result: writeResult, accepted: writeAccepted, cached: writeCached, decode: decodeJSON, stream: seedStream{}}

// proxyHTTP serves POST /v1/proxy/http.
func (s *Server) proxyHTTP(c *gin.Context) {
	var req httpProxyRequest
	s.proxy(c, envelopeDialect, &req, func() (*proxyCall, error) {
		call, err := req.validate(s.targets)
		return call, err
	}, func() callExtras {
		return callExtras{idempotencyKey: req.IdempotencyKey, cache: req.Cache, webhook: req.Webhook}
	})
}

// proxyLLM serves POST /v1/proxy/llm.
func (s *Server) proxyLLM(c *gin.Context) {
	var req llmProxyRequest
	s.proxy(c, envelopeDialect, &req, func() (*proxyCall, error) {
		return req.validate(s.settings)
	}, func() callExtras {
		return callExtras{idempotencyKey: req.IdempotencyKey, cache: req.Cache, webhook: req.Webhook}
	})
}

// proxy serves a proxy route: decode the body into req, validate it into a
// call, answer from the cache or create (or attach to) the job, then
// answer per the Prefer mode, or relay a streamed answer as it is written
// (a stream with Last-Event-ID goes on with its job). fields returns the body's idempotency key
// and cache override.
func (s *Server) proxy(c *gin.Context, d dialect, req any, validate func() (*proxyCall, error), fields func() callExtras) {
	m := meta{RequestID: requestID(c)}
	md := parseMode(c.Request.Header, s.settings.Server.SyncTimeout.Duration, s.settings.Server.MaxWait.Duration)
	setLabels(c, "", md.name)

	if err := d.decode(c.Request.Body, req, s.maxBody); err != nil {
		d.err(c, err, m)
		return
	}
	extras := fields()
	cacheOverride := extras.cache
	call, err := s.validateCall(c, extras, validate)
	if err != nil {
		d.err(c, err, m)
		return
	}
	m.Target = call.target
	setLabels(c, call.target, md.name)
	// Prefer: respond-async hands a stream over as a job like any call; its
	// events are at GET /v1/jobs/{id}/events.
	streaming := call.llm != nil && call.llm.Stream && md.name != "async"
	if streaming && s.resume(c, d, m) {
		return
	}

	kind := tasks.QueueSync
	if md.name == "async" {
		kind = tasks.QueueAsync
	}
	id := jobID(tenant(c), call.idemKey)
	queue := tasks.Shard(kind, id, s.settings.Redis.QueueShards)
	plan := s.planCache(c, call, cacheOverride)
	follow := false
	if plan != nil {
		hit, lead, inFlight := s.lookupCache(c, d, plan, id, call.target)
		if hit {
			return
		}
		if !lead {
			// An identical call is on its way: wait for its job instead.
			id, follow = inFlight, true
		}
	}
	var watch *jobs.Watch
	if md.wait > 0 && !streaming {
		// Watch before the job exists, so its announcement cannot be missed
		// and no read is needed to learn what it announces.
		watch = s.waiter.Watch(id)
		defer watch.Close()
	}
	var (
		job      *reliapi.Job
		attached bool
	)
	if follow {
		job, err = s.followJob(c, id)
	} else {
		job, attached, err = s.submit(c, id, call, queue, plan)
	}
	if err != nil {
		d.err(c, err, m)
		return
	}
	if streaming {
		s.relay(c, d.stream, job, "0")
		return
	}
	// respond-async is not applied to a repeat that finds its job already
	// ended: that answer is the result.
	if md.applied != "" && !(md.name == "async" && job.Status.Terminal()) {
		c.Header("Preference-Applied", md.applied)
	}
	s.answer(c, d, watch, job, attached, md.wait)
}

// jobID names the job of a call: derived from the idempotency key when
// there is one, so that every replica names the same job; fresh otherwise.
func jobID(tenant, idemKey string) string {
	if idemKey != "" {
		return idempotency.JobID(tenant, idemKey)
	}
	return newJobID()
}

// callExtras are the fields of a proxy body that are about the job rather
// than the call.
type callExtras struct {
	idempotencyKey string
	cache          *int
	webhook        *reliapi.Subscription
	// deadline, when set, expires the job if no worker starts it by then
	// (POST /v1/jobs only).
	deadline time.Time
}

// validateCall validates a proxy body, merges the idempotency key from the
// headers with the body's, and finds the call's webhook.
func (s *Server) validateCall(c *gin.Context, extras callExtras, validate func() (*proxyCall, error)) (*proxyCall, error) {
	key, err := idempotency.Key(c.GetHeader("Idempotency-Key"), c.GetHeader("X-Idempotency-Key"), extras.idempotencyKey)
	if err != nil {
		return nil, invalid("%s", upperFirst(err.Error()))
	}
	call, err := validate()
	if err != nil {
		return nil, err
	}
	call.idemKey = key
	if err := tierAllows(callerOf(c), call); err != nil {
		return nil, err
	}
	if err := s.llmControlsKept(callerOf(c), call); err != nil {
		return nil, err
	}
	if call.webhook, err = s.webhookFor(c, call.target, extras.webhook); err != nil {
		return nil, err
	}
	// A webhook the caller asked for, and a deadline, are part of the
	// request an idempotency key names: the same key with another one (or
	// a new one) is a different request, refused as a conflict instead of
	// dropped. The target's own webhook, and neither, leave the fingerprint
	// as it was.
	if w := call.webhook; w != nil && w != s.settings.Targets[call.target].Webhook {
		call.ownWebhook = true
		events := slices.Sorted(slices.Values(w.Events))
		call.fingerprint = append(call.fingerprint, []byte("webhook"), []byte(w.URL), []byte(strings.Join(events, ",")))
	}
	if d := extras.deadline; !d.IsZero() {
		call.deadline = d
		call.fingerprint = append(call.fingerprint, []byte("deadline"), []byte(d.UTC().Format(time.RFC3339Nano)))
	}
	return call, nil
}

// submit creates job id for a call and enqueues it, or, when the call's
// idempotency key names an existing job, returns that job (attached=true)
// after checking that it is the same request.
//
// plan, when set, makes the job fill the response cache entry this call
// claimed; if no job of this call's own ends up filling it, the claim is
// released so that identical calls do not wait on nothing.
func (s *Server) submit(c *gin.Context, id string, call *proxyCall, queue string, plan *cachePlan) (job *reliapi.Job, attached bool, err error) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if plan != nil {
		defer func() {
			if err != nil || attached {
				cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.redisTimeout)
				defer cancel()
				s.cache.Abandon(cleanup, plan.hash, id)
			}
		}()
	}

	ten := tenant(c)
	hash := idempotency.Fingerprint(call.fingerprint...)
	taskID := uuid.NewString()
	if err := s.holdBudget(ctx, ten, call); err != nil {
		return nil, false, err
	}
	if call.cost != nil && call.cost.Hold != nil {
		// Given back unless this call's own job is enqueued with it.
		defer func() {
			if err != nil || attached {
				cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.redisTimeout)
				defer cancel()
				if rerr := s.releaseBudget(cleanup, call.cost.Hold); rerr != nil {
					logAt(c, slog.LevelError, "releasing a budget hold", "error", rerr)
				}
			}
		}()
	}
	job, created, err := s.store.Create(ctx, jobs.New{
		ID: id, Tenant: ten, Kind: call.kind(), Target: call.target,
		IdempotencyKey: call.idemKey, RequestHash: hash, RequestID: requestID(c),
		Queue: queue, TaskID: taskID, CacheHash: plan.hashOrEmpty(), Webhook: call.webhook,
		Deadline: call.deadline,
	})
	if err != nil {
		return nil, false, err
	}
	if !created {
		if job.RequestHash != hash {
			e := reliapi.Errorf(reliapi.CodeIdempotencyConflict,
				"Idempotency key %q was already used with a different request", call.idemKey)
			e.Details = map[string]any{"job_id": job.ID}
			return nil, false, e
		}
		return s.endOverdue(c, job), true, nil
	}
	// Nothing will run a job that is not enqueued: remove it, so a retry
	// of the same request (same idempotency key) starts afresh instead of
	// waiting, and give its slot back.
	abandon := func(slot bool) {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.redisTimeout)
		defer cancel()
		if derr := s.store.Delete(cleanup, ten, id); derr != nil {
			logAt(c, slog.LevelError, "removing job that could not be enqueued", "job_id", id, "error", derr)
		}
		if slot {
			s.releaseJobSlot(cleanup, c, id)
		}
	}
	// Only a new job takes a slot: attaching to a job is free.
	slot, err := s.holdJobSlot(ctx, c, id)
	if err != nil {
		abandon(false)
		return nil, false, err
	}

	payload := tasks.Payload{
		JobID: id, Tenant: ten, Target: call.target, IdempotencyKey: call.idemKey,
		Profile: s.profile(c), LLM: call.llm, Cost: call.cost, Cache: plan.fill(),
	}
	if who := callerOf(c); who != nil {
		payload.Caps = &tasks.Caps{MaxRetries: who.limits.MaxRetries, MaxFallbacks: who.limits.MaxFallbacks, Slot: slot}
		if call.llm != nil {
			payload.Caps.AllowedModels = who.limits.AllowedModels
		}
	}
	if call.llm == nil {
		payload.HTTP = &tasks.HTTPRequest{
			Method: call.method, Path: call.path, Query: call.query,
			Headers: call.headers, Body: call.body,
		}
	}
	task, err := tasks.New(payload, tasks.Placement{Queue: queue, TaskID: taskID, Timeout: s.settings.Jobs.Timeout.Duration})
	if err == nil {
		err = s.enqueue(ctx, task)
	}
	if err != nil {
		abandon(slot)
		return nil, false, err
	}
	logAt(c, slog.LevelDebug, "job enqueued", "job_id", id, "target", call.target, "queue", queue)
	return job, false, nil
}

// answer replies with the job's result once it is finished, waiting up to
// wait for that through watch; a job still unfinished is handed over as 202.
func (s *Server) answer(c *gin.Context, d dialect, watch *jobs.Watch, job *reliapi.Job, attached bool, wait time.Duration) {
	if wait > 0 && !job.Status.Terminal() {
		ctx, cancel := s.waitCtx(c.Request.Context(), wait)
		defer cancel()
		latest, err := watch.Wait(ctx, tenant(c), job)
		if errors.Is(err, reliapi.ErrNotFound) {
			// The job this call attached to was removed because its enqueue
			// failed; a retry of the same request creates it afresh.
			err = &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "The job could not be enqueued; retry the request", Retryable: true, Err: err}
		}
		if err != nil {
			d.err(c, err, meta{RequestID: requestID(c), JobID: &job.ID, Target: job.Target})
			return
		}
		job = latest
	}
	if job.Status.Terminal() {
		d.result(c, job, attached)
		return
	}
	d.accepted(c, job)
}

// profile is the caller's client profile: the X-Client header when it
// names a configured profile, else the tenant's profile.
func (s *Server) profile(c *gin.Context) string {
	if name := c.GetHeader("X-Client"); s.settings.ClientProfiles[name] != nil {
		return name
	}
	if who := callerOf(c); who != nil {
		return who.profile
	}
	return config.DefaultProfile
}

// waitCtx bounds a wait for a job: it ends after d, when the caller goes
// away, or when the server hands off waiting calls during shutdown.
func (s *Server) waitCtx(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, d)
	go func() {
		select {
		case <-s.handoff:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// newJobID returns a fresh job ID in the same shape as idempotency.JobID:
// "job_" and 32 hex digits (a UUIDv7, so IDs sort by creation time).
func newJobID() string {
	return "job_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// validJobID is the shape of every job ID; anything else is not found
// without asking Redis.
var validJobID = regexp.MustCompile(`^job_[0-9a-f]{32}$`)

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
