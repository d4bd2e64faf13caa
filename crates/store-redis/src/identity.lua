-- Accounts, refresh-token families and token keys, one atomic step per call.
--
-- KEYS[1] is the prefix `{id}`: one hash tag, so every step may touch any of these keys on
-- Redis Cluster (identity traffic is small). ARGV[1] names the step.
--
-- Keys: <P>:acct:<id> hash; <P>:email:<email> -> id; <P>:accounts count; <P>:rt:<hash> hash
-- family, account, expires, state (0 live, 1 spent, 2 revoked), expiring with the token;
-- <P>:fam:<family> set of token hashes; <P>:families:<account> set of families;
-- <P>:revoked zset family -> when its last token expires; <P>:keys list, newest first.

local P = KEYS[1]
local op = ARGV[1]
-- Where every process hears of a revocation or a new key (see `watch_identity`).
local CHANNEL = 'marquee:identity'

local function account(id)
  local a = redis.call('HGETALL', P .. ':acct:' .. id)
  if #a == 0 then return { 'none' } end
  return { 'account', unpack(a) }
end

-- Revokes a family: every token of it is refused from now on.
local function revoke(family)
  local last = 0
  for _, hash in ipairs(redis.call('SMEMBERS', P .. ':fam:' .. family)) do
    local key = P .. ':rt:' .. hash
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'state', '2')
      last = math.max(last, tonumber(redis.call('HGET', key, 'expires')))
    end
  end
  redis.call('ZADD', P .. ':revoked', last, family)
  redis.call('PUBLISH', CHANNEL, 'revoked:' .. family)
end

if op == 'insert_account' then
  local id, email = ARGV[2], ARGV[3]
  if redis.call('EXISTS', P .. ':email:' .. email) == 1 then return 0 end
  redis.call('SET', P .. ':email:' .. email, id)
  redis.call('HSET', P .. ':acct:' .. id, 'id', id, 'email', email, 'password_hash', ARGV[4], 'role', ARGV[5],
    'must_change_password', ARGV[6], 'created_at', ARGV[7])
  redis.call('INCR', P .. ':accounts')
  return 1
end

if op == 'account_by_id' then
  return account(ARGV[2])
end

if op == 'account_by_email' then
  local id = redis.call('GET', P .. ':email:' .. ARGV[2])
  if not id then return { 'none' } end
  return account(id)
end

if op == 'set_password' then
  local id = ARGV[2]
  redis.call('HSET', P .. ':acct:' .. id, 'password_hash', ARGV[3], 'must_change_password', '0')
  local ended = {}
  for _, family in ipairs(redis.call('SMEMBERS', P .. ':families:' .. id)) do
    if redis.call('ZSCORE', P .. ':revoked', family) == false then
      revoke(family)
      table.insert(ended, family)
    end
  end
  return ended
end

if op == 'insert_refresh' then
  local hash, family, id, expires = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local key = P .. ':rt:' .. hash
  redis.call('HSET', key, 'family', family, 'account', id, 'expires', expires, 'state', '0')
  redis.call('EXPIREAT', key, expires)
  redis.call('SADD', P .. ':fam:' .. family, hash)
  redis.call('EXPIREAT', P .. ':fam:' .. family, expires)
  redis.call('SADD', P .. ':families:' .. id, family)
  return 1
end

-- Puts a refresh token back as a backup had it (spent or revoked ones keep their family
-- refused).
if op == 'put_refresh' then
  local hash, family, id, expires, state = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local key = P .. ':rt:' .. hash
  redis.call('HSET', key, 'family', family, 'account', id, 'expires', expires, 'state', state)
  redis.call('EXPIREAT', key, expires)
  local members = P .. ':fam:' .. family
  redis.call('SADD', members, hash)
  local t = redis.call('TIME')
  if redis.call('TTL', members) < tonumber(expires) - tonumber(t[1]) then redis.call('EXPIREAT', members, expires) end
  redis.call('SADD', P .. ':families:' .. id, family)
  if state == '2' and tonumber(redis.call('ZSCORE', P .. ':revoked', family) or '0') < tonumber(expires) then
    redis.call('ZADD', P .. ':revoked', expires, family)
  end
  return 1
end

if op == 'rotate_refresh' then
  local key = P .. ':rt:' .. ARGV[2]
  local t = redis.call('HMGET', key, 'family', 'account', 'expires', 'state')
  if not t[1] then return { 'unknown' } end
  if t[4] ~= '0' then
    revoke(t[1])
    return { 'reused', t[1] }
  end
  redis.call('HSET', key, 'state', '1')
  return { 'live', t[1], t[2], t[3] }
end

if op == 'revoke_family_of' then
  local family = redis.call('HGET', P .. ':rt:' .. ARGV[2], 'family')
  if not family then return { 'unknown' } end
  revoke(family)
  return { 'revoked', family }
end

if op == 'revoked_families' then
  local t = redis.call('TIME')
  return redis.call('ZRANGEBYSCORE', P .. ':revoked', '(' .. t[1], '+inf')
end

if op == 'token_keys' then
  if ARGV[2] and redis.call('LLEN', P .. ':keys') == 0 then redis.call('RPUSH', P .. ':keys', ARGV[2]) end
  return redis.call('LRANGE', P .. ':keys', 0, -1)
end

if op == 'add_token_key' then
  redis.call('LPUSH', P .. ':keys', ARGV[2])
  redis.call('LTRIM', P .. ':keys', 0, tonumber(ARGV[3]) - 1)
  redis.call('PUBLISH', CHANNEL, 'keys')
  return redis.call('LRANGE', P .. ':keys', 0, -1)
end

if op == 'account_count' then
  return tonumber(redis.call('GET', P .. ':accounts') or '0')
end

return redis.error_reply('unknown step ' .. op)
