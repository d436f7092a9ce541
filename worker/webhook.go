package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/providers/httpx"
	"github.com/reliapi/reliapi/render"
	"github.com/reliapi/reliapi/tasks"
	"github.com/reliapi/reliapi/webhook"
)

// retryIn asks asynq to run a delivery task again after wait.
type retryIn struct {
	wait   time.Duration
	reason string
}

func (e *retryIn) Error() string { return e.reason }

// webhookRetryDelay spaces a delivery task's runs: as its handler asked,
// else (Redis trouble) like any infrastructure retry.
func webhookRetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var r *retryIn
	if errors.As(err, &r) {
		return r.wait
	}
	return infraRetryDelay(n, err, t)
}

// notEndedWait is how long a delivery waits for its job to end before it
// looks again (the api enqueues it before a cancel that may not win).
const notEndedWait = time.Second

// deliverWebhook runs a job's webhook delivery task, holding one of the
// worker's delivery slots. A wait of at most maxInlineWait before the next
// attempt (a short schedule, a job not ended yet) is waited here; a longer
// one goes back to asynq, whose forwarder looks for due retries every
// worker.delayed_task_check_interval.
func (w *Worker) deliverWebhook(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeWebhook(t.Payload())
	if err != nil {
		w.log.Error("dropping undecodable webhook task", "error", err)
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	release, err := w.hooks.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	job, gone, err := w.store.GetForDelivery(ctx, p.Tenant, p.JobID, p.URLDigest)
	return w.deliverInline(ctx, hookRun{p: p}, job, gone, err)
}

// deliverInline makes the next attempt of a delivery given the read of
// its job (jobs.Store.GetForDelivery), and the attempts that follow it
// within maxInlineWait, each after reading the job again. Its error asks
// for a later run (retryIn) or says why none could be made.
func (w *Worker) deliverInline(ctx context.Context, r hookRun, job *reliapi.Job, gone bool, err error) error {
	p := r.p
	for {
		err = w.deliverRead(ctx, r, job, gone, err)
		var again *retryIn
		if !errors.As(err, &again) || again.wait > maxInlineWait {
			return err
		}
		if sleepCtx(ctx, again.wait); ctx.Err() != nil {
			return err
		}
		job, gone, err = w.store.GetForDelivery(ctx, p.Tenant, p.JobID, p.URLDigest)
	}
}

// hookRun is one run of a webhook delivery: its task's payload, and
// whether it was taken from the webhook lane, its task waiting as the
// fallback.
type hookRun struct {
	p     tasks.WebhookPayload
	laned bool
}

// deliverRead makes the next attempt of a delivery, if it is due, given
// the read of its job (jobs.Store.GetForDelivery). A laned run settles its
// fallback task with what it records.
func (w *Worker) deliverRead(ctx context.Context, r hookRun, job *reliapi.Job, gone bool, err error) error {
	p := r.p
	switch {
	case errors.Is(err, reliapi.ErrNotFound) || err == nil && job.CreatedAt.UnixMilli() != p.CreatedMS:
		w.log.Warn("webhook of a job that is gone (expired) not delivered", "job_id", p.JobID)
		return nil
	case err != nil:
		return err
	case !job.Status.Terminal() && r.laned:
		// Its end was not recorded (the job was taken over): the fallback
		// task waits for it.
		return nil
	case !job.Status.Terminal():
		return &retryIn{wait: notEndedWait, reason: "the job has not ended yet"}
	}
	event := reliapi.EventOf(job.Status)
	if !job.Webhook.Wants(event) {
		return w.store.SetWebhookStatus(ctx, job.ID, reliapi.WebhookSkipped, w.settle(ctx, r, 0, false))
	}
	if job.WebhookStatus != reliapi.WebhookPending {
		return nil // delivered (or given up) already: a repeated run
	}
	if p.URLDigest == "" {
		// A task of an earlier build, which did not name the URL.
		if gone, err = w.store.Gone(ctx, job.Tenant, job.Webhook.URL); err != nil {
			return err
		}
	}
	if gone {
		w.log.Warn("webhook URL answered 410 Gone to an earlier delivery; not sent", "job_id", p.JobID)
		return w.store.SetWebhookStatus(ctx, job.ID, reliapi.WebhookGone, w.settle(ctx, r, 0, false))
	}
	// n attempts of this delivery (or replay) were made; schedule[n] is
	// the wait before the next one, counted from the last.
	n := len(job.Deliveries) - p.Base
	schedule := w.cfg.Settings.Webhooks.Schedule()
	if n == 0 && len(schedule) > 0 && p.Replay == 0 {
		if wait := schedule[0] - time.Since(job.CompletedAt); wait > 0 {
			return &retryIn{wait: wait, reason: "the first attempt is scheduled later"}
		}
	}
	return w.attemptDelivery(ctx, r, job, event, n, schedule)
}

// settle is what a write of run r sends with it for r's fallback task,
// when r is laned (see lifecycle.Manager.SettleFallback): the task is
// removed, or when another attempt is due in next (more), it comes due
// then; or, when this run makes that attempt itself (deliverInline), once
// that attempt could have ended.
func (w *Worker) settle(ctx context.Context, r hookRun, next time.Duration, more bool) func(redis.Pipeliner) {
	switch {
	case !r.laned:
		return nil
	case !more:
		next = 0
	case next <= maxInlineWait:
		next += w.cfg.Settings.Webhooks.Timeout() + time.Second
	}
	return func(p redis.Pipeliner) { w.lifecycle.SettleFallback(ctx, p, r.p, next) }
}

// attemptDelivery makes attempt n+1 of a job's delivery, records it, and
// asks asynq to run the task again when the schedule says so.
func (w *Worker) attemptDelivery(ctx context.Context, r hookRun, job *reliapi.Job, event string, n int, schedule []time.Duration) error {
	d, answer := w.postWebhook(ctx, job, event, job.ID)
	d.Attempt = len(job.Deliveries) + 1
	n++
	status, next := judgeDelivery(d, answer, n, schedule)
	w.metrics.webhookDeliveries.WithLabelValues(deliveryOutcome(d)).Inc()
	w.metrics.webhookSeconds.Observe(float64(d.DurationMS) / 1000)
	if err := w.recordDelivery(ctx, job, d, status, w.settle(ctx, r, next, status == reliapi.WebhookPending)); err != nil {
		return err
	}
	tag := []any{"job_id", job.ID}
	switch status {
	case reliapi.WebhookPending:
		w.log.Warn("webhook delivery failed; will retry", append(tag, "attempt", d.Attempt, "status_code", d.StatusCode, "error", d.Error, "retry_in", next.String())...)
		return &retryIn{wait: next, reason: "webhook delivery failed"}
	case reliapi.WebhookFailed:
		w.log.Error("webhook delivery failed for good; dead-lettered", append(tag, "attempts", n)...)
	case reliapi.WebhookGone:
		w.log.Warn("webhook receiver answered 410 Gone; the URL gets no more deliveries", tag...)
	}
	return nil
}

// judgeDelivery is the webhook's status after attempt n of the schedule,
// and when still pending, the wait before the next attempt: a 429's or
// 503's Retry-After (at most a day), else the schedule's, jittered.
func judgeDelivery(d reliapi.Delivery, answer webhookAnswer, n int, schedule []time.Duration) (status string, next time.Duration) {
	switch {
	case d.StatusCode >= 200 && d.StatusCode < 300:
		return reliapi.WebhookDelivered, 0
	case d.StatusCode == http.StatusGone:
		return reliapi.WebhookGone, 0
	case n >= len(schedule):
		return reliapi.WebhookFailed, 0
	}
	next = jitter(schedule[n])
	if ra := answer.retryAfter; ra > 0 && (d.StatusCode == http.StatusTooManyRequests || d.StatusCode == http.StatusServiceUnavailable) {
		next = min(ra, 24*time.Hour)
	}
	return reliapi.WebhookPending, next
}

// recordDelivery writes an attempt and the webhook's status on the job,
// with what more adds. The dead-letter entry and the gone mark are written
// before it: whoever sees the job failed or gone finds it in GET
// /v1/webhooks/failed, or its URL refused. If one of them fails, the task
// is retried and the attempt made again.
func (w *Worker) recordDelivery(ctx context.Context, job *reliapi.Job, d reliapi.Delivery, status string, more func(redis.Pipeliner)) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	switch status {
	case reliapi.WebhookFailed:
		if err := w.store.DeadLetter(ctx, job.Tenant, job.ID); err != nil {
			return err
		}
	case reliapi.WebhookGone:
		if err := w.store.MarkGone(ctx, job.Tenant, job.Webhook.URL); err != nil {
			return err
		}
	}
	_, err := w.store.RecordDelivery(ctx, job.ID, d, status, more)
	return err
}

// webhookAnswer is what a receiver said beyond its status.
type webhookAnswer struct{ retryAfter time.Duration }

// postWebhook makes one delivery attempt: the job resource as the event's
// data, signed with the tenant's secrets, to the subscribed URL, through
// the address guard, without following redirects.
func (w *Worker) postWebhook(ctx context.Context, job *reliapi.Job, event, msgID string) (reliapi.Delivery, webhookAnswer) {
	start := time.Now()
	d := reliapi.Delivery{At: start.UTC()}
	fail := func(err error) (reliapi.Delivery, webhookAnswer) {
		d.Error, d.DurationMS = err.Error(), time.Since(start).Milliseconds()
		return d, webhookAnswer{}
	}
	body, err := json.Marshal(struct {
		Type      string     `json:"type"`
		Timestamp time.Time  `json:"timestamp"`
		Data      render.Job `json:"data"`
	}{event, job.CompletedAt.UTC(), render.NewJob(job)})
	if err != nil {
		return fail(err)
	}
	secrets := w.webhookSecrets[job.Tenant]
	if len(secrets) == 0 {
		return fail(fmt.Errorf("no webhook secret is configured for tenant %q (webhooks.secrets)", job.Tenant))
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Settings.Webhooks.Timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return fail(errors.New("invalid webhook URL"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ReliAPI-Webhooks/1")
	webhook.Sign(req.Header, secrets, "msg_"+strings.TrimPrefix(msgID, "job_"), time.Now(), body)
	resp, err := w.webhookClient.Do(req)
	if err != nil {
		var reason string
		switch {
		case errors.Is(err, webhook.ErrForbiddenAddress):
			reason = "refused: the receiver's address is not public (webhooks.allow_private_networks is off)"
		case ctx.Err() != nil:
			reason = fmt.Sprintf("no answer within %s", w.cfg.Settings.Webhooks.Timeout())
		default:
			reason = "network error: " + httpx.NetworkReason(err)
		}
		return fail(errors.New(reason))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	d.StatusCode, d.DurationMS = resp.StatusCode, time.Since(start).Milliseconds()
	return d, webhookAnswer{retryAfter: httpx.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// newWebhookClient is the deliveries' HTTP client: the address guard at
// dial time, no proxy (which would dial for it), no redirects (a 3xx is a
// failed attempt), its own connection pool.
func newWebhookClient(g webhook.Guard, concurrency int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: g.Dialer().DialContext,
			// As many kept-alive connections as deliveries run at once: a
			// busy receiver gets no new handshake per delivery.
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// jitter spreads a wait by ±10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/10 + rand.N(d/5+1)
}

// deliveryOutcome is the metrics label of an attempt: delivered, gone,
// 3xx/4xx/5xx, or error (no answer).
func deliveryOutcome(d reliapi.Delivery) string {
	switch c := d.StatusCode; {
	case c == 0:
		return "error"
	case c >= 200 && c < 300:
		return "delivered"
	case c == http.StatusGone:
		return "gone"
	default:
		return fmt.Sprintf("%dxx", c/100)
	}
}
