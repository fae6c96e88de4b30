-- unregister.lua: removes a worker.
--
--   KEYS[1]  the workers zset, KEYS[2] the worker's hash
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  worker id
local now = clockNow(ARGV[1])
local f = redis.call('HMGET', KEYS[2], 'info', 'hb')
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[3])
if f[1] then redis.call('PUBLISH', ARGV[2], cjson.encode({now, {{'w', f[1], 'gone', f[2] or ''}}})) end
return 1
