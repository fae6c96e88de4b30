-- heartbeat.lua: registers or refreshes a worker.
--
--   KEYS[1]  the workers zset, KEYS[2] the worker's hash
--   ARGV[1]  heartbeat expiry µs (the zset score)
--   ARGV[2]  how long to keep the hash, ms (longer than the heartbeat,
--            so that the expiry event can still name the worker)
--   ARGV[3]  worker info JSON, ARGV[4] events channel, ARGV[5] worker id,
--   ARGV[6]  now µs
--
-- Returns "1" when a stop was requested, else "".
redis.call('HSET', KEYS[2], 'info', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
local stop = redis.call('HGET', KEYS[2], 'stop') or ''
redis.call('PUBLISH', ARGV[4], cjson.encode({ARGV[6], {{'w', ARGV[3], stop}}}))
return stop
