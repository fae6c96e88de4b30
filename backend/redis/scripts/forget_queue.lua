-- forget_queue.lua: forgets queues that hold no tasks: DeleteQueue (one
-- queue, whatever its use) and ForgetQueues (those not paused and unused
-- since a time). A forgotten queue's keys go, its history stays.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel
--   ARGV[3]  the leadership hash ("" when the caller checked or for
--            DeleteQueue), ARGV[4] term ("0" unfenced)
--   ARGV[5]  unused-for µs, or "" to forget whatever its use and pause
--   ARGV[6]  the queue registry set ("" on a cluster: the caller
--            removes the names)
--   ARGV[7]  the set of forgotten queues with history ("" on a cluster)
--   ARGV[8…] queue prefix and queue name, pairs
--
-- Returns -1 when the term is not the leader's, else per queue 1 when
-- forgotten, 0 when not (it holds tasks, or is paused or in use), -2
-- when it holds tasks.
local now = clockNow(ARGV[1])
if not fenced(ARGV[3], ARGV[4], now) then return -1 end
evInit(ARGV[2])
local unused = ARGV[5]
local out = {}
for qi = 8, #ARGV, 2 do
  local pre, q = ARGV[qi], ARGV[qi + 1]
  -- The lease set may hold only its pin (LEASE_PIN): no lease.
  local busy = redis.call('EXISTS', pre .. 'ptypes', pre .. 'sched', pre .. 'retry',
    pre .. 'completed', pre .. 'failed', pre .. 'canceled') > 0 or
    redis.call('ZCOUNT', pre .. 'lease', '-inf', '(+inf') > 0
  local m = redis.call('HMGET', pre .. 'meta', 'paused', 'used')
  local r = 1
  if busy then
    r = -2
  elseif unused ~= '' and (m[1] == '1' or tonumber(m[2] or '0') > tonumber(now) - tonumber(unused)) then
    r = 0
  end
  if r == 1 then
    -- The counters stay: a queue made again keeps handing out larger
    -- lease tokens.
    redis.call('HDEL', pre .. 'meta', 'paused', 'used')
    redis.call('DEL', pre .. 'fin:completed', pre .. 'fin:failed', pre .. 'fin:canceled', pre .. 'lease')
    if ARGV[6] ~= '' then redis.call('SREM', ARGV[6], q) end
    if ARGV[7] ~= '' and redis.call('EXISTS', pre .. 'hist') == 1 then redis.call('SADD', ARGV[7], q) end
    ev('q', q)
  end
  out[#out + 1] = r
end
flush(now)
return out
