-- pause.lua: pauses or resumes a queue; either counts as a use of it.
--
--   KEYS[1]  the queue's meta key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  wake channel, ARGV[4] queue, ARGV[5] "1" to pause, "0" to resume
--   ARGV[6]  the queue registry set ("" on a cluster: the caller registered it)
local now = clockNow(ARGV[1])
redis.call('HSET', KEYS[1], 'paused', ARGV[5], 'used', now)
if ARGV[6] ~= '' then redis.call('SADD', ARGV[6], ARGV[4]) end
redis.call('PUBLISH', ARGV[2], cjson.encode({now, {{'q', ARGV[4]}}}))
if ARGV[5] == '0' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
