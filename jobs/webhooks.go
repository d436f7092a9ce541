package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
)

// Webhook bookkeeping per tenant: the dead letters (jobs whose webhook
// failed for good, until replayed or expired with their records) and the
// URLs that answered 410 Gone.

// DeadLetter lists a job whose webhook failed for good.
func (s *Store) DeadLetter(ctx context.Context, tenant, id string) error {
	key := failedWebhooksKey(tenant)
	now := time.Now().UnixMilli()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now), Member: id})
		// Entries go with their job records.
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(now-s.cfg.Retention.Milliseconds(), 10))
		p.Expire(ctx, key, s.cfg.Retention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-lettering a webhook: %w", err)
	}
	return nil
}

// FailedWebhooks returns up to limit of the tenant's dead-lettered jobs,
// most recent first.
func (s *Store) FailedWebhooks(ctx context.Context, tenant string, limit int) ([]*reliapi.Job, error) {
	ids, err := s.rdb.ZRevRange(ctx, failedWebhooksKey(tenant), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing failed webhooks: %w", err)
	}
	entries := make([]position, len(ids))
	for i, id := range ids {
		entries[i] = position{id: id}
	}
	all, err := s.getMany(ctx, tenant, entries)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, j := range all {
		if j != nil && j.WebhookStatus == reliapi.WebhookFailed {
			out = append(out, j)
		}
	}
	return out, nil
}

// ErrDeliveryPending means a replay was asked for while the webhook is
// still being delivered.
var ErrDeliveryPending = errors.New("the webhook is still being delivered")

// Replay makes a finished job's webhook pending again, takes it off the
// dead letters and clears a 410 mark on its URL (asking for a replay is
// the tenant saying the receiver is back). It returns the job as it was.
func (s *Store) Replay(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	j, err := s.Get(ctx, tenant, id)
	switch {
	case err != nil:
		return nil, err
	case j.Webhook == nil:
		return nil, reliapi.Errorf(reliapi.CodeNotFound, "Job %s has no webhook", id)
	case !j.Status.Terminal():
		return nil, reliapi.Errorf(reliapi.CodeInvalidRequest, "Job %s has not ended: its webhook is delivered when it does", id)
	case j.WebhookStatus == reliapi.WebhookPending:
		return nil, ErrDeliveryPending
	}
	_, err = luascript.Pipelined(ctx, s.rdb, func(p redis.Pipeliner) error {
		setWebhookStatusScript.EvalSha(ctx, p, []string{jobKey(id)}, reliapi.WebhookPending)
		p.ZRem(ctx, failedWebhooksKey(tenant), id)
		digest := reliapi.WebhookURLDigest(j.Webhook.URL)
		p.SRem(ctx, goneWebhooksKey(tenant), digest)
		announceGone(ctx, p, tenant, digest)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replaying a webhook: %w", err)
	}
	return j, nil
}

// MarkGone records that a URL of the tenant answered 410 Gone.
func (s *Store) MarkGone(ctx context.Context, tenant, url string) error {
	key, digest := goneWebhooksKey(tenant), reliapi.WebhookURLDigest(url)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, key, digest)
		p.Expire(ctx, key, s.cfg.Retention)
		announceGone(ctx, p, tenant, digest)
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking a webhook URL gone: %w", err)
	}
	return nil
}

// announceGone adds to p the announcement of a change to whether a URL of
// the tenant is gone, for the api replicas' GoneURLs.
func announceGone(ctx context.Context, p redis.Pipeliner, tenant, digest string) {
	p.Publish(ctx, goneChannel, tenant+"\n"+digest)
}

// Gone reports whether a URL of the tenant answered 410 Gone (and no
// replay to it was asked for since).
func (s *Store) Gone(ctx context.Context, tenant, url string) (bool, error) {
	return s.goneDigest(ctx, tenant, reliapi.WebhookURLDigest(url))
}

// goneDigest is Gone for a URL named by its digest (GoneURLs has it
// already).
func (s *Store) goneDigest(ctx context.Context, tenant, digest string) (bool, error) {
	gone, err := s.rdb.SIsMember(ctx, goneWebhooksKey(tenant), digest).Result()
	if err != nil {
		return false, fmt.Errorf("reading webhook URLs gone: %w", err)
	}
	return gone, nil
}

// GetForDelivery is Get and Gone in one round trip, for a webhook delivery
// whose task names its URL by digest (reliapi.WebhookURLDigest): the job,
// and whether that URL answered 410 Gone (false when digest is empty).
func (s *Store) GetForDelivery(ctx context.Context, tenant, id, digest string) (*reliapi.Job, bool, error) {
	var read DeliveryRead
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		read = ReadForDelivery(ctx, p, tenant, id, digest)
		return nil
	})
	return read.Result()
}

// DeliveryRead is what a webhook delivery reads before its attempt, as
// ReadForDelivery reads it.
type DeliveryRead struct {
	tenant string
	record *redis.MapStringStringCmd
	gone   *redis.BoolCmd
}

// ReadForDelivery adds to p the read GetForDelivery makes, so that the
// deliveries a worker takes from the webhook lane at once read their jobs
// in one round trip.
func ReadForDelivery(ctx context.Context, p redis.Pipeliner, tenant, id, digest string) DeliveryRead {
	r := DeliveryRead{tenant: tenant, record: p.HGetAll(ctx, jobKey(id))}
	if digest != "" {
		r.gone = p.SIsMember(ctx, goneWebhooksKey(tenant), digest)
	}
	return r
}

// Result is the job (reliapi.ErrNotFound when it is gone or not the
// tenant's) and whether its webhook URL answered 410 Gone.
func (r DeliveryRead) Result() (*reliapi.Job, bool, error) {
	if err := r.record.Err(); err != nil {
		return nil, false, fmt.Errorf("reading job and its webhook URL: %w", err)
	}
	gone := false
	if r.gone != nil {
		if err := r.gone.Err(); err != nil {
			return nil, false, fmt.Errorf("reading job and its webhook URL: %w", err)
		}
		gone = r.gone.Val()
	}
	j, err := jobOfTenant(r.record.Val(), r.tenant)
	return j, err == nil && gone, err
}

// RecordDelivery adds an attempt to deliver the job's webhook to its
// record and sets the webhook's status, with the commands more adds (nil:
// none) in the same round trip. It reports false when the job is gone
// (expired). An error of what more added is not RecordDelivery's: the
// caller reads it from its commands.
func (s *Store) RecordDelivery(ctx context.Context, id string, d reliapi.Delivery, status string, more func(redis.Pipeliner)) (bool, error) {
	entry, err := json.Marshal(d)
	if err != nil {
		return false, fmt.Errorf("recording a delivery: %w", err)
	}
	return s.webhookWrite(ctx, "recording a delivery", more, func(p redis.Pipeliner) *redis.Cmd {
		return recordDeliveryScript.EvalSha(ctx, p, []string{jobKey(id)}, entry, status)
	})
}

// SkipWebhook adds to p the mark of a job's webhook as skipped, for an end
// whose event its subscription does not want: made only when the job's
// recorded end is status and its webhook is still pending, so that a
// finish whose outcome was dropped (a cancel won) leaves the webhook to
// the end that was recorded. Its result is 1 when marked.
func SkipWebhook(ctx context.Context, p redis.Pipeliner, id string, status reliapi.JobStatus) *redis.Cmd {
	return skipWebhookScript.EvalSha(ctx, p, []string{jobKey(id)}, string(status))
}

// SetWebhookStatus sets the status of the job's webhook without an
// attempt (skipped, or pending again for a replay), with the commands more
// adds as RecordDelivery does.
func (s *Store) SetWebhookStatus(ctx context.Context, id, status string, more func(redis.Pipeliner)) error {
	_, err := s.webhookWrite(ctx, "setting a webhook's status", more, func(p redis.Pipeliner) *redis.Cmd {
		return setWebhookStatusScript.EvalSha(ctx, p, []string{jobKey(id)}, status)
	})
	return err
}

// webhookWrite runs the script write adds to a pipeline, then what more
// adds, and reports whether the script found the job.
func (s *Store) webhookWrite(ctx context.Context, what string, more func(redis.Pipeliner), write func(redis.Pipeliner) *redis.Cmd) (bool, error) {
	var cmd *redis.Cmd
	_, _ = luascript.Pipelined(ctx, s.rdb, func(p redis.Pipeliner) error {
		cmd = write(p)
		if more != nil {
			more(p)
		}
		return nil
	})
	n, err := cmd.Int()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}
