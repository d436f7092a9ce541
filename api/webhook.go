package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/tasks"
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
	if sub.URL == "" {
		return nil, invalid("Field \"webhook.url\" is required")
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
	if len(s.settings.Webhooks.Secrets[tenant(c)]) == 0 {
		return nil, invalid("Webhooks are not configured for this tenant: the server needs webhooks.secrets.%s to sign them", tenant(c))
	}
	return sub, nil
}

// announceWebhook enqueues the delivery of a job's webhook before the job
// is canceled, as the worker does before it records a job's end: the
// delivery then exists whatever happens next, and exists once.
func (s *Server) announceWebhook(ctx context.Context, tenant, id string) error {
	job, err := s.store.Get(ctx, tenant, id)
	switch {
	case errors.Is(err, reliapi.ErrNotFound):
		return nil // Cancel answers for a job that is gone
	case err != nil:
		return err
	case job.Webhook == nil || job.Status.Terminal():
		return nil // nothing ends here
	}
	t, err := tasks.WebhookOf(job, s.settings.Jobs.Retention.Duration)
	if err == nil {
		_, err = s.enqueuer.EnqueueContext(ctx, t)
	}
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueuing the webhook delivery: %w", err)
	}
	return nil
}
