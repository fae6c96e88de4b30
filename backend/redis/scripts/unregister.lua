-- unregister.lua: removes a worker.
--
--   KEYS[1]  the workers zset, KEYS[2] the worker's hash
--   ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] worker id
local info = redis.call('HGET', KEYS[2], 'info')
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[3])
if info then redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], {{'w', info, 'gone'}}})) end
return 1
