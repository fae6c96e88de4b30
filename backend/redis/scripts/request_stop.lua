-- request_stop.lua: flags a live worker to stop.
--
--   KEYS[1]  the workers zset, KEYS[2] the worker's hash
--   ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] worker id
--
-- Returns 1, or 0 when no such worker is alive.
local sc = redis.call('ZSCORE', KEYS[1], ARGV[3])
local info = redis.call('HGET', KEYS[2], 'info')
if not sc or tonumber(sc) <= tonumber(ARGV[1]) or not info then return 0 end
redis.call('HSET', KEYS[2], 'stop', '1')
redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], {{'w', info, '1'}}}))
return 1
