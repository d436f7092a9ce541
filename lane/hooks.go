package lane

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// The webhook lane carries the first delivery attempt of a job's webhook
// from the worker that ended the job to whichever worker has a delivery
// slot free, as the job lane carries jobs: a plain list per webhooks queue
// shard, first in first out, that workers block on. It is a hint too: the
// delivery's asynq task, queued with the entry to come due later, is the
// fallback (package lifecycle). Deliveries are not tenant-fair: a
// receiver's time, not the worker's, is what they wait for.

// HookKey is the webhook lane of a webhooks queue shard. It carries the
// shard's asynq hash tag, so that one script queues a delivery's entry and
// its fallback task on a Redis Cluster too.
func HookKey(queue string) string { return "reliapi:hooks:{" + queue + "}" }

// Hook is a delivery in the webhook lane: its task's payload, and when it
// was queued.
type Hook struct {
	Payload []byte
	At      time.Time
}

// Encode is the hook as its lane entry: the time, in Unix milliseconds,
// and the payload, on two lines.
func (h Hook) Encode() string {
	return strconv.FormatInt(h.At.UnixMilli(), 10) + "\n" + string(h.Payload)
}

func decodeHook(data string) (Hook, error) {
	at, payload, ok := strings.Cut(data, "\n")
	ms, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil {
		return Hook{}, errors.New("lane: a webhook entry that is not time and payload")
	}
	return Hook{Payload: []byte(payload), At: time.UnixMilli(ms)}, nil
}

// HookPopper takes deliveries from one shard's webhook lane. It is not
// safe for concurrent use.
type HookPopper struct {
	rdb  redis.UniversalClient
	key  string
	wait time.Duration
	// woken is the popper's own list, which its blocking pop watches
	// first: Wake pushes on it.
	woken string
	// idle says the last pop found the lane empty: the next one blocks
	// straight away, so that an idle worker costs one command per wait.
	idle bool
}

// NewHookPopper returns a popper of the webhook lane of queue whose Pop
// blocks up to wait.
func NewHookPopper(rdb redis.UniversalClient, queue string, wait time.Duration) *HookPopper {
	key := HookKey(queue)
	return &HookPopper{rdb: rdb, key: key, wait: wait, woken: key + ":popper:" + uuid.NewString()}
}

// Wake makes the popper's pop under way, if any, return at once with
// nothing, as Popper.Wake does.
func (p *HookPopper) Wake(ctx context.Context) error { return wake(ctx, p.rdb, p.woken) }

// Pop takes up to limit deliveries (at least one): those waiting, in one
// round trip, else the first to come within the wait; none when none
// came. An entry that does not decode is dropped (its fallback task
// delivers it) and reported with the others.
func (p *HookPopper) Pop(ctx context.Context, limit int) ([]Hook, error) {
	var (
		data []string
		err  error
	)
	if !p.idle {
		data, err = p.rdb.LPopCount(ctx, p.key, max(limit, 1)).Result()
	} else {
		var kv []string
		kv, err = p.rdb.BLPop(ctx, p.wait, p.woken, p.key).Result()
		if len(kv) == 2 && kv[0] == p.key {
			data = kv[1:]
		}
	}
	p.idle = len(data) == 0
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("lane: popping webhooks: %w", err)
	}
	return decodeAll(data, decodeHook)
}

// Idle reports whether the popper's last pop found the lane empty.
func (p *HookPopper) Idle() bool { return p.idle }

// HookDepths reads how many deliveries wait in the webhook lanes of
// queues, in one round trip.
func HookDepths(ctx context.Context, rdb redis.UniversalClient, queues ...string) ([]int64, error) {
	cmds := make([]*redis.IntCmd, len(queues))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range queues {
			cmds[i] = p.LLen(ctx, HookKey(q))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lane: reading the webhook lanes: %w", err)
	}
	out := make([]int64, len(queues))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}
