package api

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/reliability/quota"
)

// admit applies the caller's tier limits to a call that would create
// work, before anything is queued: the tenant's calls per minute and per
// second, the client IP's and the client's (IP, User-Agent and key) calls
// per minute, and bans. A refused call is 429 RATE_LIMIT_EXCEEDED with
// Retry-After; a key or IP refused ban_after times within ban_window is
// banned (403 ACCOUNT_BANNED) for ban_for. Every answer of a limited
// caller carries X-RateLimit-Limit, -Remaining and -Reset.
//
// No check keys on anything a user changes by moving between networks
// other than the client IP itself, so an honest user is never locked out
// for changing networks.
func (s *Server) admit(c *gin.Context) {
	who := callerOf(c)
	if who == nil {
		c.Next()
		return
	}
	l, ip := &who.limits, c.ClientIP()
	windows := []quota.Window{
		{Kind: "tenant_rpm", Name: "tenant:" + who.tenant + ":rpm", Limit: l.RPM, Period: time.Minute},
		{Kind: "tenant_burst", Name: "tenant:" + who.tenant + ":rps", Limit: l.Burst, Period: time.Second},
		{Kind: "ip", Name: "ip:" + l.Tier + ":" + ip, Limit: l.IPRPM, Period: time.Minute},
		{Kind: "client", Name: "client:" + fingerprint(ip, c.GetHeader("User-Agent"), who.account), Limit: l.FingerprintRPM, Period: time.Minute},
	}
	var bans []string
	if l.BanAfter > 0 {
		bans = []string{"key:" + who.account, "ip:" + ip}
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	d, err := s.quota.Admit(ctx, bans, windows...)
	if err != nil {
		writeError(c, err, meta{RequestID: requestID(c)})
		return
	}
	if d.Window.Limit > 0 {
		c.Header("X-RateLimit-Limit", strconv.Itoa(d.Window.Limit))
		c.Header("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		c.Header("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
	}
	switch {
	case d.Banned != "":
		s.metrics.refused.WithLabelValues("banned", l.Tier).Inc()
		writeError(c, &reliapi.Error{Code: reliapi.CodeAccountBanned, Source: reliapi.SourceReliAPI, Retryable: true, RetryAfter: d.BanLeft,
			Message: "Too many calls over the limits: this API key or client IP is blocked for a while",
			Details: map[string]any{"banned": banKind(d.Banned)}}, meta{RequestID: requestID(c)})
		return
	case !d.Allowed:
		kind := d.Window.Kind
		s.metrics.refused.WithLabelValues(kind, l.Tier).Inc()
		if l.BanAfter > 0 {
			subject := "key:" + who.account
			if kind == "ip" {
				subject = "ip:" + ip
			}
			banned, err := s.quota.Violation(ctx, subject, l.BanAfter, l.BanWindow, l.BanFor)
			if err != nil {
				logAt(c, slog.LevelWarn, "counting a limit violation", "error", err)
			}
			if banned {
				logAt(c, slog.LevelWarn, "banned after repeated limit violations", "tenant", who.tenant, "banned", banKind(subject), "for", l.BanFor.String())
			}
		}
		writeError(c, &reliapi.Error{Code: reliapi.CodeRateLimitExceeded, Source: reliapi.SourceReliAPI, Retryable: true, RetryAfter: d.Reset,
			Message: "Rate limit exceeded: " + limitDescription(kind, d.Window.Limit),
			Details: map[string]any{"limit": kind, "limit_value": d.Window.Limit, "window_s": int(d.Window.Period.Seconds())}}, meta{RequestID: requestID(c)})
		return
	}
	c.Next()
}

// fingerprint names one client of one key on one network, without
// keeping any of the three.
func fingerprint(ip, userAgent, account string) string {
	d := sha256.Sum256([]byte(ip + "\x00" + userAgent + "\x00" + account))
	return hex.EncodeToString(d[:8])
}

func limitDescription(kind string, limit int) string {
	switch kind {
	case "tenant_rpm":
		return strconv.Itoa(limit) + " calls per minute for this tenant"
	case "tenant_burst":
		return strconv.Itoa(limit) + " calls per second for this tenant"
	case "ip":
		return strconv.Itoa(limit) + " calls per minute from one IP address on this tier"
	}
	return strconv.Itoa(limit) + " calls per minute from one client"
}

func banKind(subject string) string {
	if strings.HasPrefix(subject, "ip:") {
		return "ip"
	}
	return "api_key"
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// tierAllows checks a call against the features and models of the
// caller's tier: 403 MODEL_NOT_ALLOWED or FEATURE_NOT_AVAILABLE.
func tierAllows(who *caller, call *proxyCall) error {
	if who == nil {
		return nil
	}
	l := &who.limits
	if !l.Allows(call.priority) {
		e := reliapi.Errorf(reliapi.CodeFeatureUnavailable, "Priority %q is not available on the %s tier; the highest it allows is %q",
			call.priority, l.Tier, l.MaxPriority)
		e.Details = map[string]any{"max_priority": l.MaxPriority}
		return e
	}
	if call.idemKey != "" && !l.Idempotency {
		return reliapi.Errorf(reliapi.CodeFeatureUnavailable, "Idempotency keys are not available on the %s tier", l.Tier)
	}
	if call.llm == nil {
		return nil
	}
	if call.llm.Stream && !l.Streaming {
		return reliapi.Errorf(reliapi.CodeFeatureUnavailable, "Streaming is not available on the %s tier", l.Tier)
	}
	if !l.AllowsModel(call.llm.Model) {
		e := reliapi.Errorf(reliapi.CodeModelNotAllowed, "Model %q is not available on the %s tier", call.llm.Model, l.Tier)
		e.Details = map[string]any{"allowed_models": l.AllowedModels}
		return e
	}
	return nil
}
