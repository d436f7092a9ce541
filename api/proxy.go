package api

import (
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/lifecycle"
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
		return callExtras{idempotencyKey: req.IdempotencyKey, cache: req.Cache, webhook: req.Webhook, priority: req.Priority}
	})
}

// proxyLLM serves POST /v1/proxy/llm.
func (s *Server) proxyLLM(c *gin.Context) {
	var req llmProxyRequest
	s.proxy(c, envelopeDialect, &req, func() (*proxyCall, error) {
		route, err := decisionOf(c.Request.Header)
		if err != nil {
			return nil, err
		}
		return s.validateLLM(&req, route)
	}, func() callExtras {
		return callExtras{idempotencyKey: req.IdempotencyKey, cache: req.Cache, webhook: req.Webhook, priority: req.Priority}
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
	s.runCall(c, d, m, call, extras.cache, md, streaming)
}

// runCall answers a validated call: from the response cache, or from its
// job, created now (or attached to, or an identical call's in flight),
// per the Prefer mode md; a streamed answer is relayed as it is written.
func (s *Server) runCall(c *gin.Context, d dialect, m meta, call *proxyCall, cacheOverride *int, md mode, streaming bool) {
	queue := tasks.QueueSync
	if md.name == "async" {
		queue = tasks.QueueAsync
	}
	id := jobID(tenant(c), call.idemKey)
	plan := s.planCache(c, call, cacheOverride)
	var followed *reliapi.Job
	if plan != nil {
		answered, f := s.fromCache(c, d, m, plan, id, call.target)
		if answered {
			return
		}
		if f != nil {
			// An identical call is on its way: wait for its job instead.
			id, followed = f.ID, f
		}
	}
	var (
		watch   *jobs.Watch
		watcher string
	)
	if md.wait > 0 && !streaming {
		// Watch before the job exists, so its announcement cannot be missed
		// and no read is needed to learn what it announces; the job names
		// this replica as its watcher, where its end is announced.
		watch, watcher = s.waiter.Watch(id), s.waiter.Channel()
		defer watch.Close()
	}
	var (
		job      *reliapi.Job
		attached bool
		err      error
	)
	if followed != nil {
		job = followed
	} else {
		// A sync call this replica can run itself skips the hand-offs to a
		// worker and back.
		here := queue == tasks.QueueSync && s.cfg.Runner != nil && call.idemKey == "" && s.cfg.Runner.Take()
		job, attached, err = s.submit(c, id, call, queue, plan, watcher, here)
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
	// priority is the body's "priority" ("" when it has none).
	priority string
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
	if call.priority, err = priorityOf(extras.priority, c.GetHeader(priorityHeader)); err != nil {
		return nil, err
	}
	if call.route != nil {
		s.routing.announce(c, call)
		call.fingerprint = append(call.fingerprint, []byte("routellm"), routeFingerprint(call.route))
	}
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
	if call.route != nil {
		s.routing.count(call.route)
	}
	return call, nil
}

// submit creates job id for a call and queues it on queue (tasks.QueueSync
// or tasks.QueueAsync), or, when the call's idempotency key names an
// existing job of the same request, returns that job (attached=true).
// plan, when set, is the response-cache entry this call claimed, which its
// job fills; watcher, when set, is the done channel where the caller waits
// for its end (jobs.Waiter.Channel). A tenant whose concurrent-job slots
// are full is answered 429 with its X-RateLimit headers.
//
// here says a slot of the api's Runner was taken for the call: its job is
// created running under the api's claim and handed to the Runner, or the
// slot given back when Submit queued it instead.
func (s *Server) submit(c *gin.Context, id string, call *proxyCall, queue string, plan *cachePlan, watcher string, here bool) (job *reliapi.Job, attached bool, err error) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	sub := lifecycle.Submission{
		ID: id, Tenant: tenant(c), RequestID: requestID(c), Queue: queue,
		RequestHash: idempotency.Fingerprint(call.fingerprint...),
		Webhook:     call.webhook, Deadline: call.deadline, Route: call.route, Cache: plan.fill(),
		Priority: call.priority, Watcher: watcher,
		Payload: tasks.Payload{
			Tenant: tenant(c), Target: call.target, IdempotencyKey: call.idemKey,
			Profile: s.profile(c), LLM: call.llm, Cost: call.cost,
		},
	}
	if who := callerOf(c); who != nil {
		sub.MaxConcurrentJobs = who.limits.MaxConcurrentJobs
		sub.Tier, sub.Weight = who.limits.Tier, who.limits.Weight
		sub.Payload.Tier = who.limits.Tier
		sub.Payload.Caps = &tasks.Caps{MaxRetries: who.limits.MaxRetries, MaxFallbacks: who.limits.MaxFallbacks}
		if call.llm != nil {
			sub.Payload.Caps.AllowedModels = who.limits.AllowedModels
		}
	}
	if call.llm == nil {
		sub.Payload.HTTP = &tasks.HTTPRequest{
			Method: call.method, Path: call.path, Query: call.query,
			Headers: call.headers, Body: call.body,
		}
	}
	ran := false
	if here {
		sub.Run = func(r *lifecycle.Run) {
			ran = true
			// The run tells the caller's wait of the job's end itself.
			r.Delivery.Ended = s.waiter.Announce
			s.cfg.Runner.Run(r)
		}
	}
	res, err := s.lifecycle.Submit(ctx, sub)
	if here && !ran {
		s.cfg.Runner.Release()
	}
	if e := (*reliapi.Error)(nil); errors.As(err, &e) && e.Code == reliapi.CodeTooManyJobs {
		s.refusedConcurrent(c, e)
	}
	if err != nil {
		return nil, false, err
	}
	return res.Job, res.Attached, nil
}

// refusedConcurrent counts a call refused for the tenant's concurrent-job
// slots, and says so in its X-RateLimit headers.
func (s *Server) refusedConcurrent(c *gin.Context, e *reliapi.Error) {
	who := callerOf(c)
	if who == nil {
		return
	}
	s.metrics.refused.WithLabelValues("concurrent_jobs", who.limits.Tier).Inc()
	c.Header("X-RateLimit-Limit", strconv.Itoa(who.limits.MaxConcurrentJobs))
	c.Header("X-RateLimit-Remaining", "0")
	c.Header("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(e.RetryAfter)))
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
	stop := context.AfterFunc(s.handoff, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
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
