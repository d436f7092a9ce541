package keypool

import "github.com/redis/go-redis/v9"

// pickScript leases the least-loaded usable key.
//
// KEYS[1] state hash; KEYS[2..n+1] the leases of each key, in config order
// ARGV[1] lease ms; ARGV[2] lease token; ARGV[3] excluded ids, each
// wrapped in commas (",a,,b,"); then per key: id, max concurrent (0: no
// limit)
// returns {"ok", id, probe (1 when the key is quarantined and this call
// tests it)} or {"none", ms until a resting key is usable again (0 when
// keys are only busy; -1 when every key is excluded or quarantined)}.
var pickScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local best, bestLoad, bestProbe = nil, nil, 0
local soonest, usableLater = nil, false
for i = 1, #KEYS - 1 do
  local id, limit = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])
  if not string.find(ARGV[3], ',' .. id .. ',', 1, true) then
    local status = redis.call('HGET', KEYS[1], id .. ':status')
    local untilMs = tonumber(redis.call('HGET', KEYS[1], id .. ':until') or '0')
    local resting = (status == 'cooling' or status == 'quarantined') and (untilMs == 0 or now < untilMs)
    if resting then
      if untilMs > 0 then
        usableLater = true
        if not soonest or untilMs < soonest then soonest = untilMs end
      end
    else
      redis.call('ZREMRANGEBYSCORE', KEYS[1 + i], '-inf', now)
      local load = redis.call('ZCARD', KEYS[1 + i])
      if (limit == 0 or load < limit) and (not bestLoad or load < bestLoad) then
        best, bestLoad = i, load
        bestProbe = (status == 'quarantined') and 1 or 0
      elseif limit > 0 and load >= limit then
        usableLater = true
      end
    end
  end
end
if not best then
  if soonest then return {'none', soonest - now} end
  if usableLater then return {'none', 0} end
  return {'none', -1}
end
local id = ARGV[2 + 2 * best]
if bestProbe == 1 then
  -- One probe at a time: the key rests again until this call reports.
  redis.call('HSET', KEYS[1], id .. ':until', now + tonumber(ARGV[1]), id .. ':probe', ARGV[2])
end
redis.call('ZADD', KEYS[1 + best], now + tonumber(ARGV[1]), ARGV[2])
-- The leases live as long as the longest, which may be an earlier one.
local last = redis.call('ZRANGE', KEYS[1 + best], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1 + best], tonumber(last[2]))
return {'ok', id, bestProbe}
`)

// releaseScript ends a lease and records its call's outcome.
//
// KEYS[1] state hash; KEYS[2] the key's leases
// ARGV[1] key id; ARGV[2] lease token; ARGV[3] outcome ("ok", "error",
// "rate_limited", "exhausted", "unauthorized", or "unused" when no call
// was made); ARGV[4] rest ms for rate_limited and exhausted;
// ARGV[5] quarantine probe ms (0: until re-enabled)
// returns the key's status afterwards: "active", "cooling" or
// "quarantined".
var releaseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, outcome = ARGV[1], ARGV[3]
redis.call('ZREM', KEYS[2], ARGV[2])
if outcome == 'unused' then
  local status = redis.call('HGET', KEYS[1], id .. ':status')
  if status == 'quarantined' and redis.call('HGET', KEYS[1], id .. ':probe') == ARGV[2] then
    -- An unused probe lease: let the next caller probe. (Any other lease
    -- was taken before the quarantine and leaves it as it is.)
    redis.call('HSET', KEYS[1], id .. ':until', now)
    redis.call('HDEL', KEYS[1], id .. ':probe')
  end
  return status or 'active'
end
redis.call('HDEL', KEYS[1], id .. ':probe')
local errors = tonumber(redis.call('HGET', KEYS[1], id .. ':errors') or '0')
local failed = (outcome ~= 'ok' and outcome ~= 'exhausted') and 1000 or 0
redis.call('HSET', KEYS[1], id .. ':errors', math.floor(errors * 0.9 + failed * 0.1))
if outcome == 'rate_limited' or outcome == 'exhausted' then
  redis.call('HSET', KEYS[1], id .. ':status', 'cooling', id .. ':until', now + tonumber(ARGV[4]))
  return 'cooling'
elseif outcome == 'unauthorized' then
  local untilMs = 0
  if tonumber(ARGV[5]) > 0 then untilMs = now + tonumber(ARGV[5]) end
  redis.call('HSET', KEYS[1], id .. ':status', 'quarantined', id .. ':until', untilMs)
  return 'quarantined'
elseif outcome == 'ok' then
  redis.call('HDEL', KEYS[1], id .. ':status', id .. ':until')
  return 'active'
end
return redis.call('HGET', KEYS[1], id .. ':status') or 'active'
`)
