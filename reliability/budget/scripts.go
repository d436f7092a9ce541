package budget

import "github.com/reliapi/reliapi/internal/luascript"

// windows is Lua shared by the scripts: the current day and month numbers
// from Redis TIME (a civil-from-days conversion for the month, as Redis Lua
// has no date library).
const windows = `
local function windows()
  local t = redis.call('TIME')
  local day = math.floor(tonumber(t[1]) / 86400)
  -- Howard Hinnant's civil_from_days.
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return day, y * 12 + m - 1
end
`

// reserveScript holds an amount in the current day and month windows if
// both stay within their caps. The hold's field records its amount and
// windows ("<amount> <day> <month>"), which settling reads: a hold made in
// a pipeline (HoldIn) learns Redis's windows only there. A reservation
// sent again (go-redis sends a pipeline again after a network error) finds
// its hold made, or settled since (its marker), and holds nothing more.
//
// KEYS[1] spend hash; KEYS[2] the hold's settled marker
// ARGV[1] amount (nano-USD); ARGV[2] daily cap (0: none); ARGV[3] monthly
// cap (0: none); ARGV[4] hold ID
// returns {1, day, month} when held (now or before); {0, window ("day" or
// "month"), spent, held, cap} when a cap would be exceeded.
var reserveScript = luascript.New(windows + `
local day, month = windows()
local made = redis.call('HGET', KEYS[1], 'h:' .. ARGV[4])
if made or redis.call('EXISTS', KEYS[2]) == 1 then
  local _, hd, hm = string.match(made or '', '^(%d+) (%d+) (%d+)$')
  return {1, tonumber(hd) or day, tonumber(hm) or month}
end
local amount = tonumber(ARGV[1])
local d, m = 'd:' .. day, 'm:' .. month
local f = redis.call('HMGET', KEYS[1], d .. ':spent', d .. ':held', m .. ':spent', m .. ':held')
local ds, dh, ms, mh = tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '0'), tonumber(f[4] or '0')
local dcap, mcap = tonumber(ARGV[2]), tonumber(ARGV[3])
if dcap > 0 and ds + dh + amount > dcap then return {0, 'day', ds, dh, dcap} end
if mcap > 0 and ms + mh + amount > mcap then return {0, 'month', ms, mh, mcap} end
-- Forget, once a day, the windows that are over and the holds whose
-- windows are all over (a lost job's, never settled): a sweep on every
-- reservation would read every hold in flight.
if tonumber(redis.call('HGET', KEYS[1], 'swept') or '0') < day then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    local kind, n = string.match(field, '^(%a):(%d+):')
    local _, _, hm = string.match(value, '^(%d+) (%d+) (%d+)$')
    if (kind == 'd' and tonumber(n) < day) or (kind == 'm' and tonumber(n) < month)
      or (string.sub(field, 1, 2) == 'h:' and hm and tonumber(hm) < month) then
      redis.call('HDEL', KEYS[1], field)
    end
  end
  redis.call('HSET', KEYS[1], 'swept', day)
end
redis.call('HINCRBY', KEYS[1], d .. ':held', amount)
redis.call('HINCRBY', KEYS[1], m .. ':held', amount)
redis.call('HSET', KEYS[1], 'h:' .. ARGV[4], ARGV[1] .. ' ' .. day .. ' ' .. month)
redis.call('EXPIRE', KEYS[1], 40 * 86400)
return {1, day, month}
`)

// settledFor is how long a settled hold's marker lasts: longer than any
// resend of its reservation can come late (go-redis sends again at once,
// within the call's timeout).
const settledFor = 10 * 60 // seconds

// settleScript turns a hold into spend (or drops it), once: a hold already
// settled, or never made, is left alone (at-least-once delivery may settle
// twice). The windows and amount are the hold's own; ARGV's are those of a
// hold an earlier build made, whose field records only its amount. A
// settled hold leaves a marker for a while, so that its reservation, sent
// again late or arriving late, does not make it (see reserveScript).
//
// KEYS[1] spend hash; KEYS[2] the hold's settled marker
// ARGV[1] day; ARGV[2] month (of the hold); ARGV[3] held amount; ARGV[4]
// actual cost (nano-USD; 0 to release); ARGV[5] hold ID; ARGV[6] how long
// the marker lasts, s
// returns 1 when settled, 0 when it already was.
var settleScript = luascript.New(`
-- The marker first: a hold settled before it was made (on a Cluster its
-- reservation and the job's lane entry go to different nodes) is not
-- made after.
redis.call('SET', KEYS[2], '1', 'EX', ARGV[6])
local field = 'h:' .. ARGV[5]
local held = redis.call('HGET', KEYS[1], field)
if not held then return 0 end
redis.call('HDEL', KEYS[1], field)
local amount, day, month = string.match(held, '^(%d+) (%d+) (%d+)$')
if not amount then amount, day, month = ARGV[3], ARGV[1], ARGV[2] end
local d, m = 'd:' .. day, 'm:' .. month
-- 0 - x, not -x: Lua's -0 reaches Redis as "-0", which HINCRBY refuses.
redis.call('HINCRBY', KEYS[1], d .. ':held', 0 - tonumber(amount))
redis.call('HINCRBY', KEYS[1], m .. ':held', 0 - tonumber(amount))
if tonumber(ARGV[4]) > 0 then
  redis.call('HINCRBY', KEYS[1], d .. ':spent', ARGV[4])
  redis.call('HINCRBY', KEYS[1], m .. ':spent', ARGV[4])
end
return 1
`)

// usageScript reads the current windows.
//
// KEYS[1] spend hash
// returns {day, month, day spent, day held, month spent, month held}.
var usageScript = luascript.New(windows + `
local day, month = windows()
local d, m = 'd:' .. day, 'm:' .. month
local f = redis.call('HMGET', KEYS[1], d .. ':spent', d .. ':held', m .. ':spent', m .. ':held')
return {day, month, tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '0'), tonumber(f[4] or '0')}
`)
