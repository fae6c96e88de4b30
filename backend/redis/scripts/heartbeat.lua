-- heartbeat.lua: registers or refreshes a worker.
--
--   KEYS[1]  the workers zset (score: heartbeat expiry µs)
--   KEYS[2]  the worker's hash: info (JSON, without last_heartbeat,
--            secret and stopping), cmp (the info in a canonical form, to
--            compare), gs ("1" when the worker said it is stopping),
--            sec (its secret), hb (last heartbeat µs), stop ("1" once a
--            stop was asked)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  heartbeat ttl µs: the worker is live until now plus this
--   ARGV[3]  how long to keep the hash, ms (longer than the heartbeat,
--            so that the expiry event can still name the worker)
--   ARGV[4]  info JSON, ARGV[5] canonical info, ARGV[6] "1" when stopping,
--   ARGV[7]  events channel, ARGV[8] worker id, ARGV[9] secret
--
-- A live worker (expiry > now) of that id with another secret is another
-- process: nothing changes. A stop asked of a live worker is kept. A
-- worker_update is published when the worker was not live or its info
-- (stopping included) changed; a heartbeat that changes nothing but the
-- time sends none.
--
-- Returns {stop flag "1" or "", 1}, or {"", -1} when the id is taken.
local now = clockNow(ARGV[1])
local f = redis.call('HMGET', KEYS[2], 'cmp', 'stop', 'sec', 'gs')
local sc = redis.call('ZSCORE', KEYS[1], ARGV[8])
local live = sc and tonumber(sc) > tonumber(now)
if live and (f[3] or '') ~= ARGV[9] then return {'', -1} end
local stop = ''
if live then stop = f[2] or '' end
local wasStopping = (f[4] == '1') or (f[2] == '1')
local stopping = (ARGV[6] == '1') or (stop == '1')
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'info', ARGV[4], 'cmp', ARGV[5], 'gs', ARGV[6], 'sec', ARGV[9], 'hb', now)
if stop ~= '' then redis.call('HSET', KEYS[2], 'stop', stop) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], clockAdd(now, ARGV[2]), ARGV[8])
if not live or f[1] ~= ARGV[5] or wasStopping ~= stopping then
  local flag = ''
  if stopping then flag = '1' end
  redis.call('PUBLISH', ARGV[7], cjson.encode({now, {{'w', ARGV[4], flag, now}}}))
end
return {stop, 1}
