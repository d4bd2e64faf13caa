-- The outbox: every step that reads and writes at once.
--
-- KEYS[1] is the prefix `{out}`. Keys: <P>:m:<id> hash of a message (queue, scope, body,
-- created_at, due_at, attempts, last_error, state); <P>:due:<queue> sorted set of a queue's
-- queued ids by due_at; <P>:scope:<scope> sorted set of a scope's ids by created_at;
-- <P>:settled sorted set of settled ids by when they were settled. ARGV[1] names the step.

local P = KEYS[1]
local op = ARGV[1]

local function due(key)
  return P .. ':due:' .. redis.call('HGET', key, 'queue')
end

if op == 'put' then
  -- ARGV: queue, id, scope, body, now, due_at
  local key = P .. ':m:' .. ARGV[3]
  if redis.call('EXISTS', key) == 1 then return 0 end
  redis.call('HSET', key, 'queue', ARGV[2], 'scope', ARGV[4], 'body', ARGV[5], 'created_at', ARGV[6], 'due_at', ARGV[7], 'attempts', 0, 'state', 'queued')
  redis.call('ZADD', P .. ':due:' .. ARGV[2], ARGV[7], ARGV[3])
  redis.call('ZADD', P .. ':scope:' .. ARGV[4], ARGV[6], ARGV[3])
  return 1
elseif op == 'claim' then
  -- ARGV: queue, now, lease until, limit. Answers each message as its id and hash fields.
  local queue = P .. ':due:' .. ARGV[2]
  local ids = redis.call('ZRANGE', queue, '-inf', ARGV[3], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[5]))
  local out = {}
  for _, id in ipairs(ids) do
    local key = P .. ':m:' .. id
    redis.call('ZADD', queue, ARGV[4], id)
    redis.call('HSET', key, 'due_at', ARGV[4])
    redis.call('HINCRBY', key, 'attempts', 1)
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGETALL', key)
  end
  return out
elseif op == 'settle' then
  -- ARGV: id, state, at
  local key = P .. ':m:' .. ARGV[2]
  if redis.call('EXISTS', key) == 0 then return 0 end
  redis.call('ZREM', due(key), ARGV[2])
  redis.call('ZADD', P .. ':settled', ARGV[4], ARGV[2])
  redis.call('HSET', key, 'state', ARGV[3], 'due_at', ARGV[4])
  return 1
elseif op == 'retry' then
  -- ARGV: id, error, retry at
  local key = P .. ':m:' .. ARGV[2]
  if redis.call('EXISTS', key) == 0 then return 0 end
  redis.call('ZADD', due(key), ARGV[4], ARGV[2])
  redis.call('ZREM', P .. ':settled', ARGV[2])
  redis.call('HSET', key, 'state', 'queued', 'last_error', ARGV[3], 'due_at', ARGV[4])
  return 1
elseif op == 'prune' then
  -- ARGV: before (exclusive), limit
  local ids = redis.call('ZRANGE', P .. ':settled', '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
  for _, id in ipairs(ids) do
    local key = P .. ':m:' .. id
    redis.call('ZREM', P .. ':scope:' .. redis.call('HGET', key, 'scope'), id)
    redis.call('DEL', key)
    redis.call('ZREM', P .. ':settled', id)
  end
  return #ids
elseif op == 'restore' then
  -- ARGV: id, queue, scope, body, created_at, due_at, attempts, last error ('' for none),
  -- state. Puts a message back as a backup had it.
  local id = ARGV[2]
  local key = P .. ':m:' .. id
  redis.call('DEL', key)
  redis.call('HSET', key, 'queue', ARGV[3], 'scope', ARGV[4], 'body', ARGV[5], 'created_at', ARGV[6], 'due_at', ARGV[7], 'attempts', ARGV[8], 'state', ARGV[10])
  if ARGV[9] ~= '' then redis.call('HSET', key, 'last_error', ARGV[9]) end
  redis.call('ZADD', P .. ':scope:' .. ARGV[4], ARGV[6], id)
  if ARGV[10] == 'queued' then
    redis.call('ZADD', P .. ':due:' .. ARGV[3], ARGV[7], id)
  else
    redis.call('ZADD', P .. ':settled', ARGV[7], id)
  end
  return 1
elseif op == 'recent' then
  -- ARGV: scope, limit
  local ids = redis.call('ZRANGE', P .. ':scope:' .. ARGV[2], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, tonumber(ARGV[3]))
  local out = {}
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGETALL', P .. ':m:' .. id)
  end
  return out
end
return redis.error_reply('unknown outbox step ' .. tostring(op))
