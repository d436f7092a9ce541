package lifecycle

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/tasks"
)

// Cancel cancels the tenant's job if it has not ended, and returns it. A
// queued job never runs: its task is removed, and its slot, budget hold
// and cache claim are given back here. A running job's handler is
// interrupted; its worker gives back what the job holds. Canceling an
// ended job changes nothing and is not an error; a job of another tenant
// is reliapi.ErrNotFound.
func (m *Manager) Cancel(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	// The webhook's delivery is queued before the cancel: it then exists
	// whatever happens next (a queued job that is canceled has no task
	// left to queue it later), and it exists once. It waits for the end.
	if err := m.announce(ctx, tenant, id); err != nil {
		return nil, err
	}
	res, err := m.store.Cancel(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	job := res.Job
	// The record already says canceled, which is what workers obey; what
	// follows only saves work, so its failures are logged, not returned.
	switch res.Was {
	case reliapi.JobQueued:
		m.releaseSlot(ctx, tenant, id)
		m.dropTask(ctx, job)
	case reliapi.JobRunning:
		if err := m.inspector.CancelProcessing(job.TaskID); err != nil {
			m.log.Warn("interrupting a canceled job", "job_id", id, "error", err)
		}
	default:
		return job, nil // it had ended already
	}
	m.abandonCache(ctx, job.CacheHash, id)
	return job, nil
}

// announce queues the webhook of a job about to be canceled, unless it
// has none or has ended.
func (m *Manager) announce(ctx context.Context, tenant, id string) error {
	job, err := m.store.Get(ctx, tenant, id)
	switch {
	case errors.Is(err, reliapi.ErrNotFound):
		return nil // Cancel answers for a job that is gone
	case err != nil:
		return err
	case job.Status.Terminal():
		return nil // nothing ends here
	}
	return m.queueWebhook(ctx, job)
}

// dropTask removes a canceled queued job's task, after giving back the
// budget hold it carries (no worker will see it).
func (m *Manager) dropTask(ctx context.Context, job *reliapi.Job) {
	if info, err := m.inspector.GetTaskInfo(job.Queue, job.TaskID); err == nil {
		if p, err := tasks.Decode(info.Payload); err == nil && p.Cost != nil {
			m.settle(ctx, job.ID, p.Cost.Hold, 0)
		}
	}
	if err := m.inspector.DeleteTask(job.Queue, job.TaskID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		m.log.Warn("removing a canceled job's task", "job_id", job.ID, "error", err)
	}
}

// Webhooks: a job with a subscription gets a delivery task on the
// webhooks queue when it ends, named after the job so that it exists once:
// the worker queues it right after recording the job's end (and again
// whenever the job's task comes back after its end, which is what a worker
// that died in between leaves behind), the api before a cancel and when a
// read ends an overdue job. The task waits for the job's end if need be.
// A worker's finish needs none when the subscription does not want the
// end's event: it marks the webhook skipped itself (webhookAtEnd).

// queueWebhook queues the delivery of a job's end, if it has a webhook. A
// delivery already queued is left as it is.
func (m *Manager) queueWebhook(ctx context.Context, job *reliapi.Job) error {
	if job.Webhook == nil {
		return nil
	}
	return m.queueDelivery(ctx, tasks.FirstWebhook(job))
}

// queueDelivery queues webhook delivery wp unless it is queued already.
func (m *Manager) queueDelivery(ctx context.Context, wp tasks.WebhookPayload) error {
	var queued *redis.Cmd
	_, err := luascript.Pipelined(ctx, m.rdb, func(p redis.Pipeliner) (err error) {
		queued, err = m.addDelivery(ctx, p, wp, false)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return queued.Err()
}

// addDelivery adds to p the queueing of webhook delivery wp, written as
// asynq's client writes a task (see asynqtask.go), so that it can travel
// in the pipeline of a job's end; laned, through the webhook lane (see
// queueWebhookTask). The result is 1 when queued, 0 when the delivery was
// queued already.
func (m *Manager) addDelivery(ctx context.Context, p redis.Pipeliner, wp tasks.WebhookPayload, laned bool) (*redis.Cmd, error) {
	t, err := tasks.NewWebhook(wp, m.cfg.QueueShards)
	if err != nil {
		return nil, err
	}
	return m.queueWebhookTask(ctx, p, t, wp.Queue(m.cfg.QueueShards), tasks.WebhookTaskID(wp), laned), nil
}

// ReplayWebhook delivers a finished job's webhook again, on the schedule
// afresh, with the same webhook-id (receivers deduplicate on it), and
// returns the job with its webhook pending. While a delivery is still
// under way it is jobs.ErrDeliveryPending.
func (m *Manager) ReplayWebhook(ctx context.Context, tenant, id string) (*reliapi.Job, error) {
	job, err := m.store.Replay(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	n := len(job.Deliveries)
	wp := tasks.FirstWebhook(job)
	wp.Replay, wp.Base = n+1, n
	if err := m.queueDelivery(ctx, wp); err != nil {
		return nil, err
	}
	job.WebhookStatus = reliapi.WebhookPending
	return job, nil
}
