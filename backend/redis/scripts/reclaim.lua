-- reclaim.lua: takes back expired leases (expiry <= now). Crash is not
-- failure: the attempt is recorded as "lease_expired" and not spent, the
-- lease losses grow by one, and the task goes to the front of its
-- priority — the one whose lease expired first ends first in line —
-- unless the losses reach the limit: then it fails. It never promotes.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel, ARGV[3] wake channel
--   ARGV[4]  most lease losses in a row (Options.MaxLeaseLosses)
--   ARGV[5]  the leadership hash ("" when the caller checked), ARGV[6] term
--   ARGV[7]  the due index ("" on a cluster; see prelude.lua)
--   ARGV[8]  the keys' prefix ("tm"), ARGV[9] most queues to take from
--            the due index
--   ARGV[10…] queue prefix and queue name, pairs; none: the queues of
--            the due index whose score is at most now
--
-- With a due index, every queue visited gets its score set again.
-- Returns {leases taken back (at most 1000 per queue per call), queues
-- visited}, or -1 when the term is not the leader's (nothing changed).
local now = clockNow(ARGV[1])
if not fenced(ARGV[5], ARGV[6], now) then return -1 end
evInit(ARGV[2])
dueInit(ARGV[7])
local maxLosses = tonumber(ARGV[4])
local qs, first = upkeepQueues(10, ARGV[8], tonumber(ARGV[9]), now)
local n = 0
for qi = first, #qs, 2 do
  local pre, q = qs[qi], qs[qi + 1]
  local r = redis.call('ZRANGEBYSCORE', pre .. 'lease', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  local exp = {}
  for i = 1, #r, 2 do exp[#exp + 1] = {id = r[i], at = tonumber(r[i + 1])} end
  -- Each goes to the front in turn: the latest first, so that the first
  -- to expire ends at the head.
  table.sort(exp, function(a, b)
    if a.at ~= b.at then return a.at > b.at end
    return a.id > b.id
  end)
  for _, x in ipairs(exp) do
    local id = x.id
    local key = pre .. 't:' .. id
    zrem(pre .. 'lease', id)
    local f = redis.call('HMGET', key, 'a', 'w', 'st', 'h', 'pr', 'y', 'll')
    if f[6] then
      local msg = 'lease expired: worker ' .. (f[2] or '') .. ' stopped extending it'
      local h = attemptRow(f[4], f[1], f[2], f[3], now, 'lease_expired', msg)
      local losses = (tonumber(f[7]) or 0) + 1
      redis.call('HDEL', key, 'tk', 'w', 'le', 'pgp', 'pgm', 'pga')
      if losses >= maxLosses then
        local lmsg = 'lease expired ' .. losses .. ' times in a row'
        redis.call('HSET', key, 's', 'f', 'ft', now, 'h', h, 'e', lmsg, 'a', tonumber(f[1]) - 1, 'll', losses)
        toFinal(pre, 'failed', id, now)
      else
        redis.call('HSET', key, 's', 'p', 'h', h, 'e', msg, 'a', tonumber(f[1]) - 1, 'll', losses)
        toFront(pre, q, id, f[5], f[6])
      end
      hist(pre, 'f')
      evTask(pre, q, id)
      n = n + 1
    end
  end
end
flush(now, ARGV[3])
if DUEKEY ~= '' then
  for qi = first, #qs, 2 do redue(qs[qi], qs[qi + 1]) end
end
return {n, (#qs - first + 1) / 2}
