-- unregister.lua: removes a worker, with a worker_update (stopping).
--
--   KEYS[1]  the workers zset, KEYS[2] the worker's hash
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  worker id, ARGV[4] secret
--
-- Returns 1, or -1 when a live worker of that id has another secret
-- (nothing changed).
local now = clockNow(ARGV[1])
local sc = redis.call('ZSCORE', KEYS[1], ARGV[3])
local f = redis.call('HMGET', KEYS[2], 'info', 'hb', 'sec')
if not sc and not f[1] then return 1 end
if sc and tonumber(sc) > tonumber(now) and (f[3] or '') ~= ARGV[4] then return -1 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[3])
if f[1] then redis.call('PUBLISH', ARGV[2], cjson.encode({now, {{'w', f[1], 'gone', f[2] or ''}}})) end
return 1
