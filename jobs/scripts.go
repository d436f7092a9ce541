package jobs

import (
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
)

// createScript inserts a job unless one with that ID exists. A record
// with the same task ID is this create's own, sent again (go-redis sends a
// pipeline again after a network error; every submission makes a fresh
// task ID), and reads as created.
//
// KEYS[1] job hash
// ARGV[1] retention in seconds; ARGV[2..] field, value pairs
// returns {1, created_at_ms} when created, {0, HGETALL} when the job exists.
var createScript = luascript.New(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  local f = redis.call('HMGET', KEYS[1], 'task_id', 'created_at')
  for i = 2, #ARGV - 1, 2 do
    if ARGV[i] == 'task_id' then
      if f[1] == ARGV[i + 1] and f[2] then return {1, tonumber(f[2])} end
      break
    end
  end
  return {0, redis.call('HGETALL', KEYS[1])}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', 0, 'created_at', now, unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {1, now}
`)

// StartLua is Lua shared by the scripts that start a job: startScript, and
// the wake-up lane's push, which starts a job it hands to a waiting worker
// (package lane). start(key, task, claim, lease, now) claims the job at key
// for a delivery of task under token claim for lease ms: a queued job, or
// a running one whose last claim's lease has lapsed (its worker stopped
// renewing it: it died, or Redis lost a lease renewal). It returns true
// when the job runs under claim now — claimed now, or already (the same
// start sent again after its answer was lost, or a lane entry's start
// confirmed: the lease is renewed) — false when not: the job ended,
// belongs to another task (a stale task of an earlier job with the same
// ID), is held by another live claim, or is still queued past its
// deadline (then the caller expires it); nil when the job is gone.
const StartLua = `
local function start(key, task, claim, lease, now)
  local f = redis.call('HMGET', key, 'status', 'task_id', 'started_at', 'deadline', 'claim_until', 'claim', 'attempts')
  if not f[1] then return nil end
  if f[1] == 'running' and f[2] == task and claim ~= '' and f[6] == claim then
    redis.call('HSET', key, 'claim_until', now + lease)
    return true
  end
  if f[1] == 'queued' and f[4] and now > tonumber(f[4]) then
    -- Past its deadline: left queued for the caller to expire.
    return false
  end
  local lapsed = not f[5] or now >= tonumber(f[5])
  if f[2] ~= task or not (f[1] == 'queued' or f[1] == 'running' and lapsed) then
    return false
  end
  redis.call('HSET', key, 'status', 'running', 'claim', claim, 'claim_until', now + lease,
    'attempts', (tonumber(f[7]) or 0) + 1, 'started_at', f[3] or now)
  return true
end
`

// startScript claims a job for a delivery of the task that carries it (see
// StartLua). The record is read after it, by a plain HGETALL in the same
// pipeline (see startIn): returned through Lua, each of its strings would
// cost the script one in and one out, five times what the HGETALL costs.
//
// KEYS[1] job hash
// ARGV[1] asynq task ID of the delivery; ARGV[2] claim token; ARGV[3]
// lease ms
// returns 1 when this delivery holds the job, 0 when it does not
// (claim_until says until when another claim holds it), -1 when the job is
// gone.
var startScript = luascript.New(StartLua + `
local t = redis.call('TIME')
local claimed = start(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if claimed == nil then return -1 end
return claimed and 1 or 0
`)

// renewScript extends a claim's lease while its delivery runs the job.
//
// KEYS[1] job hash
// ARGV[1] claim token; ARGV[2] lease ms
// returns 1 when renewed, 0 when the job is no longer running under that
// claim (it ended, was canceled, or another delivery took it over).
var renewScript = luascript.New(`
local f = redis.call('HMGET', KEYS[1], 'status', 'claim')
if f[1] ~= 'running' or f[2] ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'claim_until', now + tonumber(ARGV[2]))
return 1
`)

// PackLua is Lua shared by the scripts that send a job's record along
// (announce, and the wake-up lane's push): pack_record(key) returns its
// HGETALL packed with cmsgpack (see unpackStrings), or encoded as JSON
// with cjson where Redis has no cmsgpack (miniredis, the embedded Redis of
// reliapi dev). jobFromRecord reads either.
const PackLua = `
local cmsgpack_if_any = rawget(_G, 'cmsgpack')
local function pack_record(key)
  local record = redis.call('HGETALL', key)
  if cmsgpack_if_any then return cmsgpack_if_any.pack(record) end
  return cjson.encode(record)
end
`

// announce is Lua shared by the scripts that end a job (with PackLua).
// announce(key, channel, id, anyway) publishes the job's end where a caller
// waits for it: on each of the record's watchers (the channels of the api
// replicas with a caller waiting, Waiter.Channel), or, when the record names
// none, on the shared done channel if anyway is true (a cancel, an expiry,
// a sync job created by an api that names no watchers: an earlier build).
// Nothing is published for a job nobody waits on (most async jobs), and no
// replica receives the ends of other replicas' calls. The message is the
// job's ID, followed by a newline and the whole record (its HGETALL, see
// PackLua) when it is small enough to send, so that waiters need not read
// it back. It returns the packed record when it packed one, for a caller
// that wants the record too (nil otherwise).
const announce = `
local function announce(key, channel, id, anyway)
  local watchers = redis.call('HGET', key, 'watchers')
  if not watchers and not anyway then return nil end
  local msg, packed = id, nil
  if redis.call('HSTRLEN', key, 'result') <= 65536 then
    packed = pack_record(key)
    msg = msg .. '\n' .. packed
  end
  for ch in string.gmatch(watchers or channel, '%S+') do
    redis.call('PUBLISH', ch, msg)
  end
  return packed
end
`

// watchScript reads a tenant's job for a caller that will wait for its
// end, and names the caller's replica among its watchers first (see
// announce) when it has not ended: the end, however soon, is announced to
// the waiter.
//
// KEYS[1] job hash
// ARGV[1] tenant; ARGV[2] the replica's done channel
// returns the job's HGETALL; an empty list when it does not exist for that
// tenant.
var watchScript = luascript.New(`
local f = redis.call('HMGET', KEYS[1], 'tenant', 'status', 'watchers')
if f[1] ~= ARGV[1] then return {} end
if f[2] == 'queued' or f[2] == 'running' then
  local w = f[3] or ''
  if not string.find(' ' .. w .. ' ', ' ' .. ARGV[2] .. ' ', 1, true) then
    redis.call('HSET', KEYS[1], 'watchers', w == '' and ARGV[2] or w .. ' ' .. ARGV[2])
  end
end
return redis.call('HGETALL', KEYS[1])
`)

// owns is Lua shared by the scripts a delivery runs once it has started
// its job (finish, requeue). owns(key, f, task, claim) takes the job's
// HMGET of status, task_id, started_at, claim and the delivery's task ID
// and claim token, and returns whether the job is the delivery's to end or
// hand over: running under its task and claim (a delivery whose claim
// another took over after its lease lapsed owns nothing), or still queued
// under its task. The latter is a start that Redis acknowledged and then
// lost (it restarted from an append-only file that lacked its last writes)
// while the task survived and ran; owns redoes that start (attempts,
// started_at), so the job's outcome is not dropped and the job does not
// stay queued with no task left to run it.
const owns = `
local function owns(key, f, task, claim)
  if f[2] ~= task then return false end
  if f[1] == 'running' then return not f[4] or f[4] == claim end
  if f[1] ~= 'queued' then return false end
  redis.call('HINCRBY', key, 'attempts', 1)
  if not f[3] then
    local t = redis.call('TIME')
    redis.call('HSET', key, 'started_at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  end
  return true
end
`

// finishScript records the outcome of a running job and announces it; a
// job still queued under the delivery's task had its start lost, and is
// recorded too (see owns).
//
// KEYS[1] job hash
// ARGV[1] terminal status; ARGV[2] result JSON; ARGV[3] retention in seconds;
// ARGV[4] the shared done channel; ARGV[5] job ID; ARGV[6] asynq task ID
// of the delivery; ARGV[7] its claim token; ARGV[8] "1" when a caller
// likely waits though the record names no watchers (a sync job); ARGV[9]
// "1" to have the ended record back
// returns 1 when recorded (now, or already by this claim; the record
// packed, see PackLua, when it was asked for and recorded now), 0 when the job
// was not the delivery's (canceled meanwhile, handed to another task or
// claim, or gone).
var finishScript = luascript.New(PackLua + announce + owns + `
local f = redis.call('HMGET', KEYS[1], 'status', 'task_id', 'started_at', 'claim')
if not owns(KEYS[1], f, ARGV[6], ARGV[7]) then
  -- The delivery's own finish sent again, its answer lost (go-redis sends
  -- a pipeline again after a network error; Finish retries a failure):
  -- recorded, by this claim.
  if f[1] == ARGV[1] and f[2] == ARGV[6] and ARGV[7] ~= '' and f[4] == ARGV[7] then return 1 end
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'result', ARGV[2], 'completed_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[3])
local packed = announce(KEYS[1], ARGV[4], ARGV[5], ARGV[8] == '1')
if ARGV[9] == '1' then return packed or pack_record(KEYS[1]) end
return 1
`)

// cancelScript cancels a job that has not finished.
//
// KEYS[1] job hash
// ARGV[1] tenant; ARGV[2] retention in seconds; ARGV[3] done channel; ARGV[4] job ID;
// ARGV[5] the channel of canceled running jobs (their workers stop them)
// returns {previous status, HGETALL}; an empty list when the job does not
// exist for that tenant.
var cancelScript = redis.NewScript(PackLua + announce + `
local f = redis.call('HMGET', KEYS[1], 'status', 'tenant')
if not f[1] or f[2] ~= ARGV[1] then return {} end
if f[1] == 'queued' or f[1] == 'running' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'status', 'canceled', 'completed_at', now)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  announce(KEYS[1], ARGV[3], ARGV[4], true)
  if f[1] == 'running' then redis.call('PUBLISH', ARGV[5], ARGV[4]) end
end
return {f[1], redis.call('HGETALL', KEYS[1])}
`)

// expireScript ends a job still queued past its deadline.
//
// KEYS[1] job hash
// ARGV[1] retention in seconds; ARGV[2] done channel; ARGV[3] job ID;
// ARGV[4] asynq task ID of the delivery
// returns 1 when expired, 0 when the job was not queued under that task
// past its deadline.
var expireScript = redis.NewScript(PackLua + announce + `
local f = redis.call('HMGET', KEYS[1], 'status', 'task_id', 'deadline')
if f[1] ~= 'queued' or f[2] ~= ARGV[4] or not f[3] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now <= tonumber(f[3]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'expired', 'completed_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[1])
announce(KEYS[1], ARGV[2], ARGV[3], true)
return 1
`)

// requeueScript hands a running job over to a new task that runs later (a
// job waiting for its rate-limit slot); a job still queued under the
// current task had its start lost, and is handed over too (see owns).
//
// KEYS[1] job hash
// ARGV[1] the current task ID; ARGV[2] the new task ID; ARGV[3] the
// delivery's claim token
// returns 1 when the job was handed over (now, or already: this requeue
// sent again, its answer lost — new task IDs are fresh), 0 when it was not
// the delivery's (canceled meanwhile, taken over, or gone).
var requeueScript = redis.NewScript(owns + `
local f = redis.call('HMGET', KEYS[1], 'status', 'task_id', 'started_at', 'claim')
if f[1] == 'queued' and f[2] == ARGV[2] then return 1 end
if not owns(KEYS[1], f, ARGV[1], ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'task_id', ARGV[2])
redis.call('HDEL', KEYS[1], 'claim', 'claim_until')
return 1
`)

// recordDeliveryScript appends a webhook delivery attempt to the job's
// list of them and sets the webhook's status.
//
// KEYS[1] job hash
// ARGV[1] the attempt, JSON; ARGV[2] the webhook's status
// returns 1, or 0 when the job is gone.
var recordDeliveryScript = luascript.New(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local list = redis.call('HGET', KEYS[1], 'webhook_deliveries')
local attempts = list and cjson.decode(list) or {}
table.insert(attempts, cjson.decode(ARGV[1]))
redis.call('HSET', KEYS[1], 'webhook_deliveries', cjson.encode(attempts), 'webhook_status', ARGV[2])
return 1
`)

// skipWebhookScript marks the webhook of a job that ended with the given
// status skipped, while it is pending.
//
// KEYS[1] job hash
// ARGV[1] the status the job's end recorded
// returns 1 when marked, else 0.
var skipWebhookScript = luascript.New(`
local f = redis.call('HMGET', KEYS[1], 'status', 'webhook_status')
if f[1] ~= ARGV[1] or f[2] ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'webhook_status', 'skipped')
return 1
`)

// setWebhookStatusScript sets the webhook's status of a job that exists.
//
// KEYS[1] job hash
// ARGV[1] the status
var setWebhookStatusScript = luascript.New(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'webhook_status', ARGV[1])
return 1
`)

// failLostScript fails a job whose asynq task no longer exists (Redis lost
// it, or lost the job's end, in a restart that replayed an append-only file
// without its last writes), and announces it. It acts only while the job
// is still in the status the caller read, under the task the caller found
// missing, and older than the caller's bound by Redis TIME, so a worker
// that finishes or hands over the job meanwhile wins.
//
// KEYS[1] job hash
// ARGV[1] the missing task's ID; ARGV[2] the status the caller read (queued
// or running; FailLost checks); ARGV[3] how long after created_at, in milliseconds, a job
// may be failed; ARGV[4] result JSON; ARGV[5] retention in seconds;
// ARGV[6] done channel; ARGV[7] job ID
// returns {1, HGETALL} when failed, {0, HGETALL} when left alone; an empty
// list when the job is gone.
var failLostScript = redis.NewScript(PackLua + announce + `
local f = redis.call('HMGET', KEYS[1], 'status', 'task_id', 'created_at')
if not f[1] then return {} end
if f[1] ~= ARGV[2] or f[2] ~= ARGV[1] or not f[3] then
  return {0, redis.call('HGETALL', KEYS[1])}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now <= tonumber(f[3]) + tonumber(ARGV[3]) then
  return {0, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'status', 'failed', 'result', ARGV[4], 'completed_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[5])
announce(KEYS[1], ARGV[6], ARGV[7], true)
return {1, redis.call('HGETALL', KEYS[1])}
`)
