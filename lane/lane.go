// Package lane is the wake-up lane in front of asynq: a Redis list per
// queue shard that workers block on (BLPOP), so a job submitted now is
// picked up now, not at the next poll of asynq's queues.
//
// The lane is a hint, not a store. Every job is also held durably by its
// asynq task, enqueued to run after a grace period: it runs the job when
// no lane delivery claimed it in time (no worker was listening, the worker
// that popped it died before claiming it, the lane's key was lost in a
// failover), and it stands by while a lane delivery runs the job, taking
// it over if that delivery's claim lapses. A job's record says which
// delivery holds it (see package jobs' claims), so it runs once whichever
// way it arrives. Losing a lane entry costs latency (the grace period),
// never a job.
package lane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Entry is what a worker needs to run a job it pops: the job's asynq task
// ID (the job's delivery identity) and the task's payload.
type Entry struct {
	Queue   string          `json:"q"`
	TaskID  string          `json:"t"`
	Payload json.RawMessage `json:"p"`
}

// Key is the lane of queue (a shard of a job queue: "sync", "async-3").
// Both kinds of one shard share a hash tag, so that one BLPOP watches both,
// sync first, on a Redis Cluster too.
func Key(queue string) string {
	kind, shard, _ := strings.Cut(queue, "-")
	if shard == "" {
		shard = "0"
	}
	return "reliapi:lane:{lane-" + shard + "}:" + kind
}

// Push adds e to the tail of its queue's lane, in pipeline p (the caller
// runs it with what else the job needs written).
func Push(ctx context.Context, p redis.Pipeliner, e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("lane: encoding entry: %w", err)
	}
	p.RPush(ctx, Key(e.Queue), data)
	return nil
}

// Return puts entries a stopping worker popped but did not start back at
// the head of their lanes, for another worker to take at once.
func Return(ctx context.Context, rdb redis.UniversalClient, entries ...Entry) error {
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			data, err := json.Marshal(e)
			if err != nil {
				return err
			}
			p.LPush(ctx, Key(e.Queue), data)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lane: handing entries back: %w", err)
	}
	return nil
}

// Pop waits up to wait for an entry of the lanes of queues, taking them in
// the order given (sync before async); ok is false when none came. queues
// must share a hash tag (one shard's kinds: see Key).
func Pop(ctx context.Context, rdb redis.UniversalClient, wait time.Duration, queues ...string) (e Entry, ok bool, err error) {
	keys := make([]string, len(queues))
	for i, q := range queues {
		keys[i] = Key(q)
	}
	res, err := rdb.BLPop(ctx, wait, keys...).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Entry{}, false, nil
	case err != nil:
		return Entry{}, false, fmt.Errorf("lane: popping: %w", err)
	case len(res) != 2:
		return Entry{}, false, fmt.Errorf("lane: popping: unexpected reply %v", res)
	}
	if err := json.Unmarshal([]byte(res[1]), &e); err != nil {
		return Entry{}, false, fmt.Errorf("lane: decoding entry: %w", err)
	}
	return e, true, nil
}
