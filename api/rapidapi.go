package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/rapidapi"
)

// rapidAPICaller authenticates a call RapidAPI forwarded: it carries the
// configured proxy secret (compared in constant time), and its
// X-RapidAPI-User names the tenant "rapidapi:<user>", created on first use,
// on the tier of its X-RapidAPI-Subscription (else the tier a webhook set,
// else free). ok is false when the call is not RapidAPI's: no proxy secret
// configured, or none or a wrong one sent — the RapidAPI headers are then
// ignored and the call must bring an API key.
func (s *Server) rapidAPICaller(c *gin.Context) (who *caller, ok bool, err error) {
	want := s.settings.RapidAPI.ProxySecret.Value()
	got := c.GetHeader("X-RapidAPI-Proxy-Secret")
	if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return nil, false, nil
	}
	user := c.GetHeader("X-RapidAPI-User")
	if !rapidapi.ValidUser(user) {
		return nil, true, reliapi.Errorf(reliapi.CodeUnauthorized, "X-RapidAPI-User is missing or not a valid user name")
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	stored, err := s.rapid.Touch(ctx, user)
	if err != nil {
		return nil, true, err
	}
	// The plan RapidAPI names, else the tier its webhook set (a plan this
	// build does not know, such as a custom one, is no reason to drop a
	// paying user to free), else free.
	tier, known := rapidapi.TierOf(c.GetHeader("X-RapidAPI-Subscription"))
	if !known && stored != "" {
		tier = stored
	}
	limits, ok := s.keys.tiers[tier]
	if !ok {
		limits = s.keys.tiers[config.TierFree] // a stored tier this build does not know
	}
	name := rapidapi.Tenant(user)
	return &caller{tenant: name, keyID: "rapidapi", account: accountOf(sha256.Sum256([]byte(name))), rapidUser: user,
		limits: limits, profile: tenantProfile(s.settings, name)}, true, nil
}

// rapidAPIStatus serves GET /v1/rapidapi/status: the caller's tier and
// this month's usage, in the seed's shape.
func (s *Server) rapidAPIStatus(c *gin.Context) {
	who := callerOf(c)
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	var count int64
	redisUp := true
	if who.rapidUser != "" {
		var err error
		if count, err = s.rapid.Usage(ctx, who.rapidUser); err != nil {
			logAt(c, slog.LevelWarn, "reading RapidAPI usage", "error", err)
			redisUp = false
		}
	}
	usage := gin.H{"requests_count": count, "requests_limit": nil, "period": "month", "usage_percent": nil}
	if limit, ok := s.settings.RapidAPI.MonthlyRequests[who.limits.Tier]; ok && limit > 0 {
		usage["requests_limit"] = limit
		usage["usage_percent"] = float64(count) * 100 / float64(limit)
	}
	status := "configured"
	if s.settings.RapidAPI.ProxySecret.Value() == "" {
		status = "not_configured"
	}
	c.JSON(http.StatusOK, gin.H{
		"status": status, "tenant": who.tenant, "tier": who.limits.Tier, "usage": usage,
		"redis_connected": redisUp, "api_configured": s.settings.RapidAPI.WebhookSecret.Value() != "",
	})
}

// rapidAPIForgeryLimit is how many badly signed webhook calls one client
// IP may make in a minute before all its calls are refused for a minute.
// Correctly signed events are not counted, however many come.
const rapidAPIForgeryLimit = 10

// rapidAPIWebhookMaxBytes is the largest webhook body accepted.
const rapidAPIWebhookMaxBytes = 10 << 10

var validEventID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// rapidAPIEvent is a RapidAPI webhook body.
type rapidAPIEvent struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	EventID string `json:"event_id"`
	Data    struct {
		UserID       string `json:"user_id"`
		Tier         string `json:"tier"`
		Subscription string `json:"subscription"`
	} `json:"data"`
}

// rapidAPIWebhook serves POST /v1/webhooks/rapidapi: subscription events
// that set (created, updated) or remove (cancelled) a user's tier. It is
// refused unless rapidapi.webhook_secret is set and the body is signed
// with it; a repeated event id is acknowledged and not applied again.
func (s *Server) rapidAPIWebhook(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "rapidapi_webhook")
	secret := s.settings.RapidAPI.WebhookSecret.Value()
	if secret == "" {
		writeError(c, reliapi.Errorf(reliapi.CodeForbidden, "RapidAPI webhooks are disabled: the server has no rapidapi.webhook_secret"), m)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	body, err := s.signedBody(ctx, c, secret)
	if err != nil {
		writeError(c, err, m)
		return
	}
	var ev rapidAPIEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		writeError(c, invalid("The body must be a JSON object with a \"type\""), m)
		return
	}
	id := ev.ID
	if id == "" {
		id = ev.EventID
	}
	if id != "" && !validEventID.MatchString(id) {
		writeError(c, invalid("Field \"id\" must be 1 to 128 letters, digits, '_', '.', ':' or '-'"), m)
		return
	}
	if id != "" {
		first, err := s.rapid.FirstSeen(ctx, ev.Type+":"+id)
		if err != nil {
			writeError(c, err, m)
			return
		}
		if !first {
			c.JSON(http.StatusOK, gin.H{"status": "ok", "event_type": ev.Type, "duplicate": true, "message": "Event already processed"})
			return
		}
	}
	applied, err := s.applyRapidAPIEvent(c, &ev)
	if err != nil {
		if id != "" {
			// Let RapidAPI's retry apply it.
			s.rapid.Forget(ctx, ev.Type+":"+id)
		}
		writeError(c, err, m)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "event_type": ev.Type, "applied": applied})
}

// signedBody reads a RapidAPI webhook call's body and checks its
// signature. An address that sends badly signed calls is refused for a
// while (rapidAPIForgeryLimit a minute).
func (s *Server) signedBody(ctx context.Context, c *gin.Context, secret string) ([]byte, error) {
	forger := "rapidapi-webhook:" + c.ClientIP()
	d, err := s.quota.Admit(ctx, []string{forger})
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, &reliapi.Error{Code: reliapi.CodeRateLimitExceeded, Source: reliapi.SourceReliAPI, Retryable: true, RetryAfter: d.BanLeft,
			Message: "Too many badly signed webhook calls from this address"}
	}
	if c.Request.ContentLength > rapidAPIWebhookMaxBytes {
		return nil, tooLarge(rapidAPIWebhookMaxBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, rapidAPIWebhookMaxBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge(rapidAPIWebhookMaxBytes)
	case err != nil:
		return nil, invalid("Could not read the request body")
	}
	if !rapidapi.VerifySignature(secret, body, c.GetHeader("X-RapidAPI-Signature")) {
		if _, err := s.quota.Violation(ctx, forger, rapidAPIForgeryLimit, time.Minute, time.Minute); err != nil {
			logAt(c, slog.LevelWarn, "counting a badly signed webhook", "error", err)
		}
		return nil, reliapi.Errorf(reliapi.CodeUnauthorized, "Invalid signature")
	}
	return body, nil
}

// applyRapidAPIEvent applies a subscription event; other events (usage
// alerts, unknown types) are logged and acknowledged.
func (s *Server) applyRapidAPIEvent(c *gin.Context, ev *rapidAPIEvent) (bool, error) {
	switch ev.Type {
	case "subscription.created", "subscription.updated", "subscription.cancelled":
	default:
		logAt(c, slog.LevelInfo, "RapidAPI event acknowledged", "event_type", ev.Type)
		return false, nil
	}
	user := ev.Data.UserID
	if !rapidapi.ValidUser(user) {
		return false, invalid("Field \"data.user_id\" is missing or not a valid user name")
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if ev.Type == "subscription.cancelled" {
		return true, s.rapid.Delete(ctx, user)
	}
	tier := ev.Data.Tier
	if !slices.Contains(config.TierNames, tier) {
		tier, _ = rapidapi.TierOf(ev.Data.Subscription)
	}
	logAt(c, slog.LevelInfo, "RapidAPI subscription", "event_type", ev.Type, "tenant", rapidapi.Tenant(user), "tier", tier)
	return true, s.rapid.SetTier(ctx, user, tier)
}
