-- heartbeat.lua: registers or refreshes a worker.
--
--   KEYS[1]  the workers zset (score: heartbeat expiry µs)
--   KEYS[2]  the worker's hash: info (JSON, without last_heartbeat),
--            hb (last heartbeat µs), stop ("1" once a stop is asked)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  heartbeat ttl µs: the worker is live until now plus this
--   ARGV[3]  how long to keep the hash, ms (longer than the heartbeat,
--            so that the expiry event can still name the worker)
--   ARGV[4]  worker info JSON, ARGV[5] events channel, ARGV[6] worker id
--
-- A worker_update event is published when the worker is new or its info
-- changed; a heartbeat that changes nothing but the time sends none.
--
-- Returns "1" when a stop was requested, else "".
local now = clockNow(ARGV[1])
local f = redis.call('HMGET', KEYS[2], 'info', 'stop')
local live = redis.call('ZSCORE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[2], 'info', ARGV[4], 'hb', now)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], clockAdd(now, ARGV[2]), ARGV[6])
local stop = f[2] or ''
if f[1] ~= ARGV[4] or not live then
  redis.call('PUBLISH', ARGV[5], cjson.encode({now, {{'w', ARGV[4], stop, now}}}))
end
return stop
