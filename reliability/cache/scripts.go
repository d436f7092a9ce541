package cache

import "github.com/reliapi/reliapi/internal/luascript"

// lookupScript answers from the cache, or elects the leader for a miss.
//
// KEYS[1] entry; KEYS[2] in-flight marker
// ARGV[1] the caller's job ID; ARGV[2] marker TTL ms; ARGV[3] an ended
// leader's job ID, whose marker is taken over ("": none)
// returns {"hit", entry}, {"lead", the caller's job ID} or
// {"follow", the leader's job ID}. A marker naming the caller's own job is
// its own: the script ran before for this call (a client that sends a
// command again after a network error), and reads as it did then, not as
// a follower of a job that does not exist yet.
var lookupScript = luascript.New(`
local v = redis.call('GET', KEYS[1])
if v then return {'hit', v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lead', ARGV[1]} end
local leader = redis.call('GET', KEYS[2])
if leader == ARGV[1] then return {'lead', ARGV[1]} end
if ARGV[3] ~= '' and leader == ARGV[3] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {'lead', ARGV[1]}
end
return {'follow', leader}
`)

// storeScript stores an answer and clears the marker of the job that made
// it.
//
// KEYS[1] entry; KEYS[2] in-flight marker
// ARGV[1] the answer's JSON; ARGV[2] TTL ms; ARGV[3] job ID
// returns 1. The entry is the Redis TIME in ms, a newline, the answer.
var storeScript = luascript.New(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], now .. '\n' .. ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
`)

// abandonScript clears the marker of a job that produced nothing to cache.
//
// KEYS[1] in-flight marker
// ARGV[1] job ID
// returns 1 when the marker was this job's.
var abandonScript = luascript.New(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
