-- pause.lua: pauses or resumes a queue.
--
--   KEYS[1]  the queue's meta key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  wake channel, ARGV[4] queue, ARGV[5] "1" to pause, "0" to resume
redis.call('HSET', KEYS[1], 'paused', ARGV[5])
redis.call('PUBLISH', ARGV[2], cjson.encode({clockNow(ARGV[1]), {{'q', ARGV[4]}}}))
if ARGV[5] == '0' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
