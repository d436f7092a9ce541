package tasks

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// asynq keeps each queue under one hash tag, asynq:{queue}, so on a Redis
// Cluster one queue is one slot on one node. Splitting each kind of queue
// (sync, async, webhooks) into shards — redis.queue_shards — spreads that
// traffic over as many slots. A job's tasks all go to one shard, chosen
// from its ID, so a job's reschedules, cancellation and webhook (and every
// enqueue of one delivery, which asynq dedupes per queue) meet in the same
// queue. With one shard, the default, the queues are just sync, async and
// webhooks.

// Shard is the queue of kind for job id: kind itself for shard 0, "kind-N"
// for shard N.
func Shard(kind, id string, shards int) string {
	if shards <= 1 {
		return kind
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return shardName(kind, int(h.Sum32()%uint32(shards)))
}

func shardName(kind string, n int) string {
	if n == 0 {
		return kind
	}
	return kind + "-" + strconv.Itoa(n)
}

// ShardsOf lists the queues of kind.
func ShardsOf(kind string, shards int) []string {
	out := []string{kind}
	for n := 1; n < shards; n++ {
		out = append(out, shardName(kind, n))
	}
	return out
}

// JobQueues maps every job queue (each shard of sync and async) to its
// asynq priority weight: synchronous callers are waiting on the other end
// of a socket, so their work is dequeued before work submitted
// asynchronously.
func JobQueues(shards int) map[string]int {
	out := map[string]int{}
	for _, q := range ShardsOf(QueueSync, shards) {
		out[q] = 6
	}
	for _, q := range ShardsOf(QueueAsync, shards) {
		out[q] = 3
	}
	return out
}

// AllQueues lists every queue: the job queues and the webhook queues.
func AllQueues(shards int) []string {
	var out []string
	for q := range JobQueues(shards) {
		out = append(out, q)
	}
	return append(out, ShardsOf(QueueWebhooks, shards)...)
}

// KindOf is the kind of a queue: "async" for "async" and "async-3".
func KindOf(queue string) string {
	kind, _, _ := strings.Cut(queue, "-")
	return kind
}
