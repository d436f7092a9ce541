package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/render"
	"github.com/reliapi/reliapi/webhook"
)

// webhookFor finds a call's webhook: the body's, else the X-Webhook-URL
// and X-Webhook-Events headers (for clients that cannot change the body),
// else the target's default. A URL that is not http(s) or names a
// non-public address is INVALID_WEBHOOK_URL; a tenant without a signing
// secret cannot have webhooks.
func (s *Server) webhookFor(c *gin.Context, target string, body *reliapi.Subscription) (*reliapi.Subscription, error) {
	sub := body
	if sub == nil {
		if u := c.GetHeader("X-Webhook-URL"); u != "" {
			sub = &reliapi.Subscription{URL: u}
			for e := range strings.SplitSeq(c.GetHeader("X-Webhook-Events"), ",") {
				if e = strings.TrimSpace(e); e != "" {
					sub.Events = append(sub.Events, e)
				}
			}
		}
	}
	if sub == nil {
		if t := s.settings.Targets[target]; t != nil && t.Webhook != nil {
			return t.Webhook, nil // checked when the config was loaded
		}
		return nil, nil
	}
	switch {
	case sub.URL == "":
		return nil, invalid("Field \"webhook.url\" is required")
	case len(sub.URL) > maxWebhookURLLen:
		return nil, reliapi.Errorf(reliapi.CodeInvalidWebhookURL, "The webhook URL is longer than %d bytes", maxWebhookURLLen)
	case len(sub.Events) > len(reliapi.JobEvents):
		return nil, invalid("Field \"webhook.events\" lists more than the %d events there are", len(reliapi.JobEvents))
	}
	if _, err := s.settings.Webhooks.Guard().CheckURL(sub.URL); err != nil {
		msg := err.Error()
		if errors.Is(err, webhook.ErrForbiddenAddress) {
			msg = "the webhook URL names a private, loopback, link-local or otherwise non-public address"
		}
		return nil, reliapi.Errorf(reliapi.CodeInvalidWebhookURL, "%s", upperFirst(strings.TrimPrefix(msg, "webhook: ")))
	}
	for _, e := range sub.Events {
		if !slices.Contains(reliapi.JobEvents, e) {
			return nil, invalid("Webhook event %q is not one of %s", e, strings.Join(reliapi.JobEvents, ", "))
		}
	}
	if !s.settings.Webhooks.Signed[tenant(c)] {
		return nil, invalid("Webhooks are not configured for this tenant: the server needs webhooks.secrets.%s to sign them", tenant(c))
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if gone, err := s.gone.Gone(ctx, tenant(c), sub.URL); err != nil {
		return nil, err
	} else if gone {
		return nil, reliapi.Errorf(reliapi.CodeInvalidWebhookURL, "The webhook URL answered 410 Gone to an earlier delivery; replay that job's webhook (POST /v1/jobs/{id}/webhook/replay) once the receiver is back")
	}
	return sub, nil
}

// failedWebhooks serves GET /v1/webhooks/failed: the tenant's jobs whose
// webhook failed for good, most recent first (?limit=N, default 50, at
// most 200).
func (s *Server) failedWebhooks(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "webhooks")
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			writeError(c, invalid("Query parameter \"limit\" must be 1 to 200"), m)
			return
		}
		limit = n
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	failed, err := s.store.FailedWebhooks(ctx, tenant(c), limit)
	if err != nil {
		writeError(c, err, m)
		return
	}
	out := jobList{Object: "list", Data: make([]jobResource, len(failed))}
	for i, j := range failed {
		out.Data[i] = render.NewJob(j)
	}
	c.JSON(http.StatusOK, out)
}

// replayWebhook serves POST /v1/jobs/{id}/webhook/replay: deliver a
// finished job's webhook again, on the schedule afresh, with the same
// webhook-id (receivers deduplicate on it). It answers 202 with the job.
func (s *Server) replayWebhook(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "webhooks")
	id, ok := s.jobParam(c, m)
	if !ok {
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	job, err := s.lifecycle.ReplayWebhook(ctx, tenant(c), id)
	if errors.Is(err, jobs.ErrDeliveryPending) {
		err = invalid("Job %s's webhook is being delivered; replay it once that ends", id)
	}
	if err != nil {
		writeError(c, s.jobErr(id, err), m)
		return
	}
	writeJob(c, http.StatusAccepted, job)
}
