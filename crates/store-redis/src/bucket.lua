-- One GCRA token bucket: KEYS[1] holds its theoretical arrival time (µs, by the server's
-- clock). ARGV[1] is the emission interval (period / count) and ARGV[2] the period, in µs.
-- Answers 0 when a token was taken, else the µs until one is free (nothing is taken then).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local early = tat - now - (period - interval)
if early > 0 then return math.ceil(early) end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return 0
