package lane

import (
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/jobs"
)

// pushScript adds an entry to a shard's lane: handed to a waiting worker
// when more wait than have been handed entries, else to its tenant's list
// of its priority, making the tenant ready if it was not — at the lane's
// virtual time (the start of the first ready tenant, or, none ready, of
// the last pop), or where the tenant had reached if that is later, so
// that running dry and coming back gains nothing. An entry handed off
// with a start (see Start) starts its job first (jobs.StartLua) and goes
// with the job's record and the start's read. An entry queued while
// workers wait (each with an entry handed to it already) leaves a token
// on the shard's recheck list, unless there are as many as workers wait:
// the waiting worker it wakes runs the pop script (see Popper.Pop), which
// takes as many entries as that worker has free slots.
//
// KEYS[1] ready; KEYS[2] tags; KEYS[3] clock; KEYS[4] tiers; KEYS[5] the
// tenant's list of the priority; KEYS[6] the kind's hand-off list;
// KEYS[7] the shard's waiters; KEYS[8], KEYS[9] its hand-off lists;
// KEYS[10] its recheck list; with a start, KEYS[11] the job's record,
// KEYS[12] the hash to read.
// ARGV[1] tenant; ARGV[2] weight; ARGV[3] tier; ARGV[4] the entry;
// ARGV[5] how long a token lasts, ms; with a start, ARGV[6] the task ID,
// ARGV[7] the claim token, ARGV[8] its lease ms, ARGV[9..] the fields to
// read.
// Returns 1 when handed off (now, or by this push sent before), 0 when
// queued.
var pushScript = luascript.New(jobs.StartLua + jobs.PackLua + `
if #KEYS >= 12 and redis.call('HGET', KEYS[11], 'claim') == ARGV[7] then
  -- This push sent again (go-redis sends a pipeline again after a network
  -- error): it started the job and handed it off already. Tokens are
  -- fresh per push.
  return 1
end
local waiting = 0
if redis.call('ZCARD', KEYS[7]) > 0 then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  waiting = redis.call('ZCOUNT', KEYS[7], ms, '+inf')
  if waiting > 0 and waiting > redis.call('LLEN', KEYS[8]) + redis.call('LLEN', KEYS[9]) then
    local entry = ARGV[4]
    if #KEYS >= 12 and start(KEYS[11], ARGV[6], ARGV[7], tonumber(ARGV[8]), ms) then
      local read = '[]'
      if #ARGV >= 9 then read = cjson.encode(redis.call('HMGET', KEYS[12], unpack(ARGV, 9))) end
      local record = pack_record(KEYS[11])
      entry = '+' .. ARGV[7] .. '\n' .. #record .. '\n' .. record .. read .. '\n' .. entry
    end
    redis.call('RPUSH', KEYS[6], entry)
    return 1
  end
end
if waiting > 0 and redis.call('LLEN', KEYS[10]) < waiting then
  redis.call('RPUSH', KEYS[10], '1')
  redis.call('PEXPIRE', KEYS[10], ARGV[5])
end
redis.call('RPUSH', KEYS[5], ARGV[2] .. ' ' .. ARGV[4])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local v = tonumber(head[2] or redis.call('GET', KEYS[3]) or '0')
  local f = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
  redis.call('ZADD', KEYS[1], string.format('%.17g', math.max(v, f)), ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
end
return 0
`)

// popScript ends the popper's registration as waiting, if any, and takes
// up to a number of a shard's entries: for sync, then
// async, handed-off entries, then, one at a time, the ready tenant with
// the lowest virtual start's first job of its highest priority, moving the
// tenant on by 1/weight; while its start stays at or below the next
// tenant's, its following jobs come in one LPOP per priority. A tenant that runs dry leaves the ready set; the
// start it reached is kept in tags (until the lane's clock passes it) and
// becomes the clock. A ready tenant whose lists were lost is dropped.
// Finding nothing, it registers the popper as waiting.
//
// KEYS[1..5] sync's handoff, ready, tags, clock, tiers; KEYS[6..10]
// async's; KEYS[11] the shard's waiters; KEYS[12] the popper's own list,
// woken when entries are returned (the BLPOP that follows in the same
// pipeline then returns at once).
// ARGV[1] popper ID; ARGV[2] how long its registration lasts, ms;
// ARGV[3], ARGV[4] the prefixes of sync's and async's tenant lists;
// ARGV[5] how many entries at most.
// Returns the entries, or nil (registered).
var popScript = redis.NewScript(`
redis.call('ZREM', KEYS[11], ARGV[1])
local out, want = {}, tonumber(ARGV[5])
for k = 0, 1 do
  local handoff, ready, tags, clock, tiers = KEYS[k*5+1], KEYS[k*5+2], KEYS[k*5+3], KEYS[k*5+4], KEYS[k*5+5]
  local handed = #out < want and redis.call('LPOP', handoff, want - #out)
  if handed then
    for _, e in ipairs(handed) do out[#out+1] = e end
  end
  local lost = 0
  while #out < want and lost < 16 do
    local head = redis.call('ZRANGE', ready, 0, 1, 'WITHSCORES')
    if not head[1] then break end
    local tenant, start = head[1], tonumber(head[2])
    local lists = ARGV[3+k] .. tenant .. ':'
    local item, rank
    for r = 0, 2 do
      item, rank = redis.call('LPOP', lists .. r), r
      if item then break end
    end
    if item then
      -- The tenant keeps its turn while its start stays at or below the
      -- runner-up's: take those entries with one LPOP per priority.
      local items = {item}
      local room = want - #out - 1
      if head[3] then
        local w = tonumber(string.sub(item, 1, string.find(item, ' ', 1, true) - 1))
        room = math.min(room, math.floor((tonumber(head[4]) - start) * w))
      end
      while room > 0 and rank <= 2 do
        local more = redis.call('LPOP', lists .. rank, room)
        if more then
          for _, m in ipairs(more) do items[#items+1] = m end
          room = room - #more
        end
        rank = rank + 1
      end
      local last, reached = start, start
      for _, it in ipairs(items) do
        local sep = string.find(it, ' ', 1, true)
        out[#out+1] = string.sub(it, sep + 1)
        last, reached = reached, reached + 1 / tonumber(string.sub(it, 1, sep - 1))
      end
      local nextStart = string.format('%.17g', reached)
      if redis.call('EXISTS', lists .. '0', lists .. '1', lists .. '2') > 0 then
        redis.call('ZADD', ready, nextStart, tenant)
      else
        redis.call('ZREM', ready, tenant)
        redis.call('HDEL', tiers, tenant)
        last = string.format('%.17g', last)
        redis.call('SET', clock, last)
        redis.call('ZREMRANGEBYSCORE', tags, '-inf', last)
        redis.call('ZADD', tags, nextStart, tenant)
      end
    else
      redis.call('ZREM', ready, tenant)
      redis.call('HDEL', tiers, tenant)
      lost = lost + 1
    end
  end
end
if #out > 0 then
  redis.call('RPUSH', KEYS[12], '1')
  return out
end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[11], '-inf', ms)
redis.call('ZADD', KEYS[11], ms + tonumber(ARGV[2]), ARGV[1])
return false
`)
