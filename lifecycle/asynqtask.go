package lifecycle

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/tasks"
)

// A job's asynq task is written and removed by hand, as commands in the
// pipelines that carry the job's record: submitting a job is then one
// round trip (record, task, lane entry), and so is ending one (outcome,
// announcement, task removal, webhook delivery task), where asynq's client
// would add one of its own to each. What is written is what asynq v0.26's client writes for a
// task enqueued to run later or now — its key layout and its TaskMessage
// protobuf — and TestTaskIsAsynqs checks it against asynq itself (its
// inspector reads it, its server runs it), so that an upgrade of asynq
// that changes them fails the tests instead of losing jobs.

// taskKey and queueKey are asynq's: every key of a queue shares the
// queue's name as hash tag.
func taskKey(queue, id string) string { return queueKey(queue) + "t:" + id }
func queueKey(queue string) string    { return "asynq:{" + queue + "}:" }

// allQueues is asynq's set of queue names, which its servers and
// inspector read.
const allQueues = "asynq:queues"

// scheduleTask adds to p the commands that store task t, placed at, to
// come due at processAt.
func (m *Manager) scheduleTask(ctx context.Context, p redis.Pipeliner, t *asynq.Task, at tasks.Placement, processAt time.Time) {
	m.publishQueue(ctx, p, at.Queue)
	msg := message{typ: t.Type(), payload: t.Payload(), id: at.TaskID, queue: at.Queue, retry: tasks.MaxRetry, timeout: at.RunTimeout()}
	p.HSet(ctx, taskKey(at.Queue, at.TaskID), "msg", msg.encode(), "state", "scheduled")
	p.ZAdd(ctx, queueKey(at.Queue)+"scheduled", redis.Z{Score: float64(processAt.Unix()), Member: at.TaskID})
}

// queueWebhookTask adds to p a webhook delivery task, unless a task of its
// ID exists (a delivery queued already, which delivers it): due now; or,
// laned, pushed on the webhook lane with its task due after the Manager's
// WebhookLane, as the fallback. Its result is 1 when queued, 0 when one
// existed. A script's EVALSHA: p runs with luascript.Pipelined.
func (m *Manager) queueWebhookTask(ctx context.Context, p redis.Pipeliner, t *asynq.Task, queue, id string, laned bool) *redis.Cmd {
	m.publishQueue(ctx, p, queue)
	msg := message{typ: t.Type(), payload: t.Payload(), id: id, queue: queue, retry: tasks.WebhookMaxRetry, timeout: tasks.WebhookTimeout}.encode()
	now := time.Now()
	if !laned {
		return queueTaskScript.EvalSha(ctx, p, []string{taskKey(queue, id), queueKey(queue) + "pending"}, msg, id, now.UnixNano())
	}
	entry := lane.Hook{Payload: t.Payload(), At: now}
	// asynq schedules in whole seconds: rounded up, the fallback never
	// comes due before WebhookLane has passed.
	due := (now.Add(m.cfg.WebhookLane).UnixMilli() + 999) / 1000
	return queueLaneTaskScript.EvalSha(ctx, p, []string{taskKey(queue, id), queueKey(queue) + "scheduled", lane.HookKey(queue)},
		msg, id, due, entry.Encode())
}

// SettleFallback adds to p what a delivery taken from the webhook lane
// owes its fallback task once an attempt or a status is recorded (in the
// same round trip): with due 0 the task is removed, else it is moved to
// come due after due, when asynq's retries take over. With due 0 it is a
// script's EVALSHA (p runs with luascript.Pipelined), else a plain ZADD.
func (m *Manager) SettleFallback(ctx context.Context, p redis.Pipeliner, wp tasks.WebhookPayload, due time.Duration) {
	queue, id := wp.Queue(m.cfg.QueueShards), tasks.WebhookTaskID(wp)
	if due <= 0 {
		dropTask(ctx, p, queue, id)
		return
	}
	// XX: a task asynq took meanwhile (it came due) is left to asynq.
	p.ZAddXX(ctx, queueKey(queue)+"scheduled", redis.Z{Score: float64(time.Now().Add(due).Unix()), Member: id})
}

// publishQueue adds queue to asynq's set of queues the first time this
// Manager uses it, as asynq's client does.
func (m *Manager) publishQueue(ctx context.Context, p redis.Pipeliner, queue string) {
	if _, seen := m.queues.LoadOrStore(queue, true); !seen {
		p.SAdd(ctx, allQueues, queue)
	}
}

// queueTaskScript is asynq's enqueue of a task due now, which refuses a
// task ID that exists.
//
// KEYS[1] the task's hash; KEYS[2] its queue's pending list
// ARGV[1] the task message; ARGV[2] task ID; ARGV[3] now, Unix ns
// returns 1 when queued, 0 when the ID exists.
var queueTaskScript = luascript.New(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'msg', ARGV[1], 'state', 'pending', 'pending_since', ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
`)

// queueLaneTaskScript is asynq's enqueue of a task to run later, which
// refuses a task ID that exists, and the push of its entry in the webhook
// lane.
//
// KEYS[1] the task's hash; KEYS[2] its queue's scheduled set; KEYS[3] the
// queue's webhook lane
// ARGV[1] the task message; ARGV[2] task ID; ARGV[3] when it comes due,
// Unix s; ARGV[4] the lane entry
// returns 1 when queued, 0 when the ID exists.
var queueLaneTaskScript = luascript.New(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'msg', ARGV[1], 'state', 'scheduled')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[4])
return 1
`)

// message is what asynq's TaskMessage holds of a task of ours.
type message struct {
	typ     string
	payload []byte
	id      string
	queue   string
	retry   int
	timeout time.Duration
}

// encode is asynq's TaskMessage protobuf: type (1), payload (2), id (3),
// queue (4), retry (5), timeout in seconds (8); the other fields are zero,
// which proto3 leaves out.
func (msg message) encode() []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, msg.typ)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, msg.payload)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, msg.id)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, msg.queue)
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(msg.retry))
	b = protowire.AppendTag(b, 8, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(msg.timeout/time.Second))
}

// dropTaskScript removes a task that is waiting (scheduled, retry or
// pending) from its queue, as asynq's inspector does; a task that runs
// (active) stays: it finds its job ended and completes.
//
// KEYS[1] the task's hash
// ARGV[1] task ID; ARGV[2] its queue's key prefix ("asynq:{q}:")
// returns 1 when removed, 0 when absent or running.
var dropTaskScript = luascript.New(`
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'active' then return 0 end
if state == 'pending' then
  redis.call('LREM', ARGV[2] .. 'pending', 0, ARGV[1])
else
  redis.call('ZREM', ARGV[2] .. state, ARGV[1])
end
redis.call('DEL', KEYS[1])
return 1
`)

// dropTask adds to p the removal of the task of job a delivery ran (a
// script's EVALSHA: p runs with luascript.Pipelined).
func dropTask(ctx context.Context, p redis.Pipeliner, queue, taskID string) {
	dropTaskScript.EvalSha(ctx, p, []string{taskKey(queue, taskID)}, taskID, queueKey(queue))
}
