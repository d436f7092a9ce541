package ratelimit

import "github.com/reliapi/reliapi/internal/luascript"

// reserveScript reserves the next slot of a GCRA bucket.
//
// KEYS[1] bucket
// ARGV[1] emission interval µs (1e6 / rate); ARGV[2] burst
// returns the wait in µs until the reserved slot (0: now).
var reserveScript = luascript.New(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - interval * burst - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return wait
`)

// cancelScript gives a reserved slot back.
//
// KEYS[1] bucket
// ARGV[1] emission interval µs
// returns 1 when something was given back.
var cancelScript = luascript.New(`
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat == 0 then return 0 end
redis.call('SET', KEYS[1], string.format('%.0f', tat - tonumber(ARGV[1])), 'KEEPTTL')
return 1
`)
