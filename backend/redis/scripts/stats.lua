-- stats.lua: reads one queue's counts.
--
--   KEYS[1]  the queue's meta key
--   ARGV[1]  queue prefix
--
-- Returns {paused, pending, scheduled, processing, retrying, completed,
-- failed, canceled, oldest pending ready-at µs or ""}. The oldest is the
-- earliest max(created, run-at) over the pending tasks: exact up to 1000
-- pending tasks, beyond that read from the head of each list.
local pre = ARGV[1]
local pending, oldest = 0, nil
local lists = {}
for _, ty in ipairs(redis.call('SMEMBERS', pre .. 'ptypes')) do
  for _, pr in ipairs(redis.call('ZRANGE', pre .. 'pp:' .. ty, 0, -1)) do
    local key = pre .. 'p:' .. ty .. ':' .. pr
    lists[#lists + 1] = key
    pending = pending + redis.call('LLEN', key)
  end
end
local span = -1
if pending > 1000 then span = 0 end
for _, key in ipairs(lists) do
  for _, id in ipairs(redis.call('LRANGE', key, 0, span)) do
    local f = redis.call('HMGET', pre .. 't:' .. id, 'c', 'ra')
    local ready = math.max(tonumber(f[1] or '0'), tonumber(f[2] or '0'))
    if ready > 0 and (not oldest or ready < oldest) then oldest = ready end
  end
end
return {redis.call('HGET', KEYS[1], 'paused') or '0', pending,
  redis.call('ZCARD', pre .. 'sched'), redis.call('ZCOUNT', pre .. 'lease', '-inf', '(+inf'), redis.call('ZCARD', pre .. 'retry'),
  redis.call('ZCARD', pre .. 'completed'), redis.call('ZCARD', pre .. 'failed'), redis.call('ZCARD', pre .. 'canceled'),
  oldest and string.format('%d', oldest) or ''}
