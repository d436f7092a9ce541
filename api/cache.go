package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/reliability/cache"
	"github.com/reliapi/reliapi/tasks"
)

// cachePlan says how one proxy call uses the response cache.
type cachePlan struct {
	hash string
	ttl  time.Duration
}

// planCache decides whether a call may be answered from (and fill) the
// response cache: GET or HEAD, the target's cache enabled, and no
// "cache": 0 in the request. The request's cache field overrides the
// target's TTL.
//
// An LLM call is cached over its canonical request (model, messages,
// parameters); LLM targets cache only when configured to (see config).
//
// A call with an idempotency key or a webhook of its own runs as its own
// job: a cache hit has no job, and joining an identical call's job in
// flight would drop the key and the webhook.
func (s *Server) planCache(c *gin.Context, call *proxyCall, override *int) *cachePlan {
	t := s.settings.Targets[call.target]
	if override != nil && *override == 0 || !t.Cache.IsEnabled() || call.llm != nil && call.llm.Stream {
		// Streamed answers are relayed as they are written, never cached.
		return nil
	}
	if call.idemKey != "" || call.ownWebhook {
		return nil
	}
	req := cache.Request{Tenant: tenant(c), Target: call.target, Method: call.method, Path: call.path, Query: call.query, Headers: call.headers}
	if call.llm != nil {
		req = cache.Request{Tenant: tenant(c), Target: call.target, Method: "LLM", Body: call.body}
	} else if !cache.Cacheable(call.method) {
		return nil
	}
	ttl := t.Cache.TTL()
	if override != nil {
		ttl = time.Duration(*override) * time.Second
	}
	return &cachePlan{ttl: ttl, hash: cache.Hash(req)}
}

// fill is the task's instruction to store the answer.
func (p *cachePlan) fill() *tasks.CacheFill {
	if p == nil {
		return nil
	}
	return &tasks.CacheFill{Hash: p.hash, TTL: p.ttl}
}

// fromCache answers a cacheable call from the cache (answered), or finds
// the job of an identical call in flight for it to follow (followed), or
// neither: the call leads, as id. A followed job already over without an
// answer to share (failed, canceled) is not followed: its claim, still
// there because its release is on its way (on a Cluster it lands on
// another node than the end that answered its caller) or was lost, is
// taken over, a few times at most.
func (s *Server) fromCache(c *gin.Context, d dialect, m meta, plan *cachePlan, id, target string) (answered bool, followed *reliapi.Job) {
	ended := ""
	for tries := 1; ; tries++ {
		hit, lead, leader := s.lookupCache(c, d, plan, id, target, ended)
		if hit || lead {
			return hit, nil
		}
		job, err := s.followJob(c, leader)
		if err != nil {
			d.err(c, err, m)
			return true, nil
		}
		if tries == 3 || !job.Status.Terminal() || job.Status == reliapi.JobSucceeded {
			return false, job
		}
		ended = leader
	}
}

// lookupCache answers a cacheable call from the cache when it can (hit is
// true when the call has been answered), and otherwise says which job to
// wait for: id (the caller's own, to create) when it leads, or the job of
// an identical call already in flight; a claim naming ended is taken over
// (Cache.LookupPast). When the cache cannot be read,
// reliability.on_redis_error decides: go on uncached, or answer 503.
func (s *Server) lookupCache(c *gin.Context, d dialect, plan *cachePlan, id, target, ended string) (hit bool, lead bool, jobID string) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	// A leader's claim lasts as long as its job may run.
	lk, err := s.cache.LookupPast(ctx, plan.hash, id, s.settings.Jobs.Timeout.Duration+time.Minute, ended)
	if err != nil {
		// reliability.on_redis_error: "open" calls without the cache,
		// "closed" refuses the call.
		s.metrics.cache.WithLabelValues(target, "unavailable").Inc()
		if s.settings.Reliability.OnRedisError == config.FailClosed {
			d.err(c, &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Response cache is unavailable", Retryable: true, Err: err}, meta{RequestID: requestID(c), Target: target})
			return true, false, ""
		}
		logAt(c, slog.LevelWarn, "response cache unavailable; calling without it", "error", err)
		return false, true, id
	}
	switch {
	case lk.Hit != nil:
		s.metrics.cache.WithLabelValues(target, "hit").Inc()
		d.cached(c, lk.Hit, target)
		return true, false, ""
	case lk.Leader:
		s.metrics.cache.WithLabelValues(target, "miss").Inc()
		return false, true, id
	default:
		s.metrics.cache.WithLabelValues(target, "collapsed").Inc()
		return false, false, lk.JobID
	}
}

// writeCached answers from the cache: the stored data with cache_hit and
// an Age header, and no job.
func writeCached(c *gin.Context, e *cache.Entry, target string) {
	age := max(time.Since(e.StoredAt), 0)
	m := meta{RequestID: requestID(c), Target: target, CacheHit: true, DurationMS: time.Since(c.GetTime(ctxStart)).Milliseconds()}
	c.Header("X-Cache-Hit", "true")
	c.Header("Age", strconv.Itoa(int(age/time.Second)))
	c.Header("X-Retries", "0")
	c.Header("X-Duration-MS", strconv.FormatInt(m.DurationMS, 10))
	c.JSON(http.StatusOK, envelope{Success: true, Data: e.Data, Meta: m})
}

// followJob reads the job of an identical call in flight. Its leader may
// not have written the job yet (it claims the entry first), so a missing
// job is looked for again for a moment.
func (s *Server) followJob(c *gin.Context, id string) (*reliapi.Job, error) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*s.redisTimeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		job, err := s.store.Get(ctx, tenant(c), id)
		if !errors.Is(err, reliapi.ErrNotFound) {
			return job, err
		}
		select {
		case <-ctx.Done():
			return nil, &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "The identical call in flight could not be found; retry the request", Retryable: true}
		case <-tick.C:
		}
	}
}
