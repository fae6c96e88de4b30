-- request_stop.lua: flags a live worker to stop; the first request sends
-- a worker_update, a repeated one nothing.
--
--   KEYS[1]  the workers zset, KEYS[2] the worker's hash
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  worker id
--
-- Returns 1, or 0 when no such worker is alive.
local now = clockNow(ARGV[1])
local sc = redis.call('ZSCORE', KEYS[1], ARGV[3])
local f = redis.call('HMGET', KEYS[2], 'info', 'hb', 'stop')
if not sc or tonumber(sc) <= tonumber(now) or not f[1] then return 0 end
if f[3] ~= '1' then
  redis.call('HSET', KEYS[2], 'stop', '1')
  redis.call('PUBLISH', ARGV[2], cjson.encode({now, {{'w', f[1], '1', f[2] or ''}}}))
end
return 1
