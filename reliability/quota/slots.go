package quota

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Slots limit how many things a name holds at once, such as a tenant's
// jobs queued or running. Each holder is a member (a job ID, so holding
// twice is holding once) that keeps its slot until Release or, should
// its release be lost with a crashed process, until its hold expires.

// holdScript takes a slot for a member unless the name's slots are full.
//
// KEYS[1] slots (sorted set: member per holder, score its expiry in ms)
// ARGV[1] limit; ARGV[2] hold ms; ARGV[3] member
// returns 1 when the member holds a slot now, 2 when it held one already
// (its hold is extended), 0 when full.
var holdScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local already = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not already and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
-- The set lives as long as its longest hold, which may be an earlier one.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + 1000)
if already then return 2 end
return 1
`)

func slotsKey(name string) string { return "reliapi:slots:{" + name + "}" }

// Hold takes one of name's limit slots for member, for at most hold. It
// reports false, taking nothing, when all slots are held by others.
func (q *Quota) Hold(ctx context.Context, name, member string, limit int, hold time.Duration) (bool, error) {
	held, _, err := q.Take(ctx, name, member, limit, hold)
	return held, err
}

// Take is Hold, and also reports whether member held its slot already
// (then giving it back is not the caller's to do).
func (q *Quota) Take(ctx context.Context, name, member string, limit int, hold time.Duration) (held, already bool, err error) {
	n, err := holdScript.Run(ctx, q.rdb, []string{slotsKey(name)}, limit, hold.Milliseconds(), member).Int()
	if err != nil {
		return false, false, fmt.Errorf("quota: %w", err)
	}
	return n > 0, n == 2, nil
}

// Release gives member's slot back; releasing a slot not held is a no-op.
func (q *Quota) Release(ctx context.Context, name, member string) error {
	if err := q.rdb.ZRem(ctx, slotsKey(name), member).Err(); err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	return nil
}
