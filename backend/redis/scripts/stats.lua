-- stats.lua: reads one queue's counts.
--
--   KEYS[1]  the queue's meta key
--   ARGV[1]  queue prefix
--
-- Returns {paused, pending, scheduled, processing, retrying, completed,
-- failed, canceled, oldest pending ready-at µs or ""}.
local pre = ARGV[1]
local pending, oldest = 0, nil
for _, pr in ipairs(redis.call('ZRANGE', pre .. 'prios', 0, -1)) do
  local list = pre .. 'p:' .. pr
  local n = redis.call('LLEN', list)
  if n > 0 then
    pending = pending + n
    local f = redis.call('HMGET', pre .. 't:' .. redis.call('LINDEX', list, 0), 'c', 'ra')
    local ready = math.max(tonumber(f[1] or '0'), tonumber(f[2] or '0'))
    if ready > 0 and (not oldest or ready < oldest) then oldest = ready end
  end
end
return {redis.call('HGET', KEYS[1], 'paused') or '0', pending,
  redis.call('ZCARD', pre .. 'sched'), redis.call('ZCARD', pre .. 'lease'), redis.call('ZCARD', pre .. 'retry'),
  redis.call('ZCARD', pre .. 'completed'), redis.call('ZCARD', pre .. 'failed'), redis.call('ZCARD', pre .. 'canceled'),
  oldest and string.format('%d', oldest) or ''}
