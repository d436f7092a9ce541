package breaker

import "github.com/redis/go-redis/v9"

// The hash fields: state (closed | open | half_open; absent = closed),
// gen (bumped on every state change), failures (consecutive, while
// closed), opened_at (ms), probe (token of the half-open lease holder),
// probe_until (ms), win_start (ms), win_calls, win_failures.

// allowScript decides whether a call may go through.
//
// KEYS[1] breaker hash
// ARGV[1] cooldown ms; ARGV[2] probe lease ms; ARGV[3] caller token;
// ARGV[4] key TTL s
// returns {decision, wait_ms, gen, failures}: decision 0 = allowed
// (closed), 1 = allowed as the half-open probe, 2 = refused; wait_ms is how
// long until a call may be let through again; failures is the current run
// of consecutive failures.
var allowScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'gen', 'opened_at', 'probe_until', 'failures')
local state, gen = f[1] or 'closed', tonumber(f[2] or '0')
if state == 'closed' then return {0, 0, gen, tonumber(f[5] or '0')} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if state == 'open' then
  local reopen = tonumber(f[3]) + tonumber(ARGV[1])
  if now < reopen then return {2, reopen - now, gen, 0} end
elseif now < tonumber(f[4] or '0') then
  return {2, tonumber(f[4]) - now, gen, 0}
end
-- The cooldown is over, or the previous probe's lease ran out: this
-- caller becomes the probe.
gen = gen + 1
redis.call('HSET', KEYS[1], 'state', 'half_open', 'gen', gen, 'probe', ARGV[3], 'probe_until', now + tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, 0, gen, 0}
`)

// recordScript records the result of a call admitted in generation gen.
//
// KEYS[1] breaker hash
// ARGV[1] result: "success", "failure" or "neutral" (neither: a 4xx, say);
// ARGV[2] gen the call was admitted in; ARGV[3] caller token;
// ARGV[4] consecutive failures that open; ARGV[5] failure rate that opens
// (0 = off); ARGV[6] rate window ms; ARGV[7] calls a window needs;
// ARGV[8] key TTL s
// returns the state after the call: "closed", "open" or "half_open".
var recordScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'gen', 'probe', 'win_start', 'failures')
local state, gen = f[1] or 'closed', tonumber(f[2] or '0')
if tonumber(ARGV[2]) ~= gen then return state end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local result = ARGV[1]
local function open()
  redis.call('HSET', KEYS[1], 'state', 'open', 'gen', gen + 1, 'opened_at', now, 'failures', 0)
  redis.call('HDEL', KEYS[1], 'probe', 'probe_until', 'win_start', 'win_calls', 'win_failures')
  return 'open'
end
if state == 'half_open' then
  if f[3] ~= ARGV[3] then return state end
  if result == 'failure' then return open() end
  if result == 'neutral' then
    -- The probe learned nothing: hand the probe to the next caller.
    redis.call('HSET', KEYS[1], 'probe_until', 0)
    return state
  end
  redis.call('HSET', KEYS[1], 'state', 'closed', 'gen', gen + 1, 'failures', 0)
  redis.call('HDEL', KEYS[1], 'probe', 'probe_until', 'opened_at')
  return 'closed'
end
if state ~= 'closed' then return state end
-- A healthy target costs no write: only failures and rate windows do.
if result == 'success' and tonumber(f[5] or '0') > 0 then redis.call('HSET', KEYS[1], 'failures', 0) end
if result == 'failure' then
  -- HINCRBY first: on a target's first failure it creates the record, and
  -- only a record that exists takes an expiry.
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  if failures >= tonumber(ARGV[4]) then return open() end
end
local rate = tonumber(ARGV[5])
if rate > 0 and result ~= 'neutral' then
  if not f[4] or now - tonumber(f[4]) >= tonumber(ARGV[6]) then
    redis.call('HSET', KEYS[1], 'win_start', now, 'win_calls', 0, 'win_failures', 0)
    redis.call('EXPIRE', KEYS[1], ARGV[8])
  end
  local calls = redis.call('HINCRBY', KEYS[1], 'win_calls', 1)
  local failed = tonumber(redis.call('HGET', KEYS[1], 'win_failures'))
  if result == 'failure' then failed = redis.call('HINCRBY', KEYS[1], 'win_failures', 1) end
  if calls >= tonumber(ARGV[7]) and failed >= rate * calls then return open() end
end
return 'closed'
`)
