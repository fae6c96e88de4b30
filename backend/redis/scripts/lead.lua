-- lead.lua: acquires, renews or reports upkeep leadership.
--
--   KEYS[1]  the leadership hash: h holder, t term, u until µs
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] holder, ARGV[3] ttl µs
--
-- Free or expired (until <= now): the holder takes it with term+1.
-- Held by the holder: renewed, same term. Held by another: reported.
-- Returns {holder, term, until µs, 1 when the caller holds it else 0}.
local now = clockNow(ARGV[1])
local l = redis.call('HMGET', KEYS[1], 'h', 't', 'u')
local h, t, u = l[1] or '', tonumber(l[2] or '0'), l[3] or '0'
local live = h ~= '' and tonumber(now) < tonumber(u)
if live and h ~= ARGV[2] then return {h, string.format('%d', t), u, 0} end
if not live then h, t = ARGV[2], t + 1 end
u = clockAdd(now, ARGV[3])
redis.call('HSET', KEYS[1], 'h', h, 't', string.format('%d', t), 'u', u)
return {h, string.format('%d', t), u, 1}
