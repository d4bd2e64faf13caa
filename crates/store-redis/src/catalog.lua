-- The control plane's catalog: the steps that must check and write at once.
--
-- KEYS[1] is the prefix `{cat}`: one hash tag, so a step may touch any catalog key on Redis
-- Cluster. ARGV[1] names the step.
--
-- Keys: <P>:perf:<namespace> hash of a live performance's fields; <P>:live set of their
-- namespaces; <P>:archived:<deployment> hash of an archived one (plus archived_at);
-- <P>:archived set of their deployments; <P>:token:<id> hash of a deploy token (revoked 0/1).

local P = KEYS[1]
local op = ARGV[1]

if op == 'insert_performance' then
  -- ARGV[2] the namespace, then the row's field/value pairs.
  local key = P .. ':perf:' .. ARGV[2]
  if redis.call('EXISTS', key) == 1 then return 0 end
  redis.call('HSET', key, unpack(ARGV, 3))
  redis.call('SADD', P .. ':live', ARGV[2])
  return 1
elseif op == 'update_performance' then
  local key = P .. ':perf:' .. ARGV[2]
  if redis.call('EXISTS', key) == 0 then return 0 end
  redis.call('HSET', key, 'params', ARGV[3], 'spec', ARGV[4])
  return 1
elseif op == 'remove_performance' then
  -- ARGV[2] the namespace, ARGV[3] now, ARGV[4] '1' to archive, ARGV[5] the deployment.
  local key = P .. ':perf:' .. ARGV[2]
  if redis.call('HGET', key, 'deployment') ~= ARGV[5] then return 0 end
  local row = redis.call('HGETALL', key)
  if ARGV[4] == '1' then
    local archived = P .. ':archived:' .. ARGV[5]
    redis.call('HSET', archived, unpack(row))
    redis.call('HSET', archived, 'archived_at', ARGV[3])
    redis.call('SADD', P .. ':archived', ARGV[5])
  end
  redis.call('DEL', key)
  redis.call('SREM', P .. ':live', ARGV[2])
  return 1
elseif op == 'revoke_token' then
  -- ARGV[2] the token's id, ARGV[3] the deployment it must belong to.
  local key = P .. ':token:' .. ARGV[2]
  if redis.call('HGET', key, 'deployment') ~= ARGV[3] or redis.call('HGET', key, 'revoked') ~= '0' then return 0 end
  redis.call('HSET', key, 'revoked', '1')
  return 1
end
return redis.error_reply('unknown catalog step ' .. op)
