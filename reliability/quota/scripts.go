package quota

import (
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
)

// admitScript admits one call into a rolling window if it has room.
//
// KEYS[1] window (sorted set: member per call, score its admission µs)
// ARGV[1] limit; ARGV[2] period µs; ARGV[3] member
// returns {admitted 1|0, calls in the window now, µs until the oldest call
// leaves it (0 when empty)}
var admitScript = luascript.New(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - period))
local n = redis.call('ZCARD', KEYS[1])
local admitted = 0
if n < limit then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000) + 1000)
  n = n + 1
  admitted = 1
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + period - now
  if reset < 0 then reset = 0 end
end
return {admitted, n, reset}
`)

// violationScript counts one refusal of a subject and bans it once it has
// reached the threshold within the window.
//
// KEYS[1] violations counter; KEYS[2] ban
// ARGV[1] threshold; ARGV[2] window ms; ARGV[3] ban ms
// returns 1 when this violation set the ban.
var violationScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)
