-- The claims of one performance, one atomic step per call.
--
-- KEYS[1] is the performance's prefix `{p:<ns>}`; every key below starts with it, so the hash
-- tag puts all of them in one Redis Cluster slot. ARGV[1] names the step, ARGV[2] is how long
-- an ended hold is remembered (ms), the rest are the step's arguments. Each step but the reads
-- of orders first ends the holds that are due by the server's clock, then validates
-- everything, then writes:
-- a script is atomic but does not roll back what it already wrote.
--
-- Keys: <P>:seats:<session> hash seat -> owner (hold or order id); <P>:taken hash pool ->
-- units claimed; <P>:hold:<id> hash; <P>:expiry zset hold -> due ms; <P>:paying set of holds
-- being paid; <P>:ended:<id> tombstone with an expiry; <P>:buyer hash buyer -> tickets held or
-- bought; <P>:mine:<buyer> hash pool -> units of a pool with a per-buyer limit held or
-- bought; <P>:addr:<session> hash address -> unpaid items; <P>:key:<buyer>:<key>
-- "<fingerprint>|<hold>"; <P>:confirmed hash hold -> order; <P>:order:<id> hash;
-- <P>:orders zset order -> created; <P>:orders:<buyer> zset; <P>:live set of confirmed orders;
-- <P>:sold hash pool -> units in confirmed orders; <P>:closed; <P>:entries:<order> hash
-- ticket -> "<ms> <door>" (live entries at the door); <P>:entered set of orders with one;
-- <P>:gross and <P>:refunded hash session -> minor units paid and paid back.
--
-- An order's hash keeps what it still claims (`seats`, `units`, `tickets`: a refund of some
-- tickets gives theirs back), what was paid (`amount`) and the seller's `refunds` (JSON).

local P = KEYS[1]
local op = ARGV[1]
local tomb = tonumber(ARGV[2])

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Adds `n` to a hash field. Never sends a delta of 0: Lua makes `-0` of it, which HINCRBY
-- refuses, and a refused write midway through a step would leave that step half done.
local function add(key, field, n)
  n = tonumber(n)
  if n ~= 0 then redis.call('HINCRBY', key, field, string.format('%d', n)) end
end

local function fields(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end

-- Gives back what a hold or an order claimed; a seat is freed only from its owner.
local function free(owner, session, seats, units)
  local seat_key = P .. ':seats:' .. session
  for _, seat in ipairs(cjson.decode(seats)) do
    if redis.call('HGET', seat_key, seat) == owner then redis.call('HDEL', seat_key, seat) end
  end
  for _, u in ipairs(cjson.decode(units)) do add(P .. ':taken', u[1], -u[2]) end
end

-- A unit is `[pool, quantity, capacity, per-buyer limit]` (older ones have no limit): the
-- buyer's own count of a limited pool moves by `sign` times the quantity.
local function mine(buyer, units, sign)
  for _, u in ipairs(cjson.decode(units)) do
    if tonumber(u[4] or 0) > 0 then add(P .. ':mine:' .. buyer, u[1], sign * u[2]) end
  end
end

-- Items a hold counts toward its address's cap (older holds counted tickets only).
local function unpaid(h)
  return tonumber(h.unpaid or h.tickets)
end

local function end_hold(id, h)
  free(id, h.session, h.seats, h.units)
  mine(h.buyer, h.units, -1)
  add(P .. ':buyer', h.buyer, -tonumber(h.tickets))
  if h.address ~= '' then add(P .. ':addr:' .. h.session, h.address, -unpaid(h)) end
  redis.call('DEL', P .. ':hold:' .. id)
  redis.call('ZREM', P .. ':expiry', id)
  redis.call('SREM', P .. ':paying', id)
  redis.call('SET', P .. ':ended:' .. id, '1', 'PX', tomb)
end

-- Steps that read or write orders and their entries only: ending holds changes nothing they
-- answer, so they leave holds to the next step that needs them ended.
local ORDER_READS = { order = true, orders_of = true, orders_after = true, live = true, check_in = true, undo = true, entries = true, money = true,
  restore = true, restore_entry = true }

local now = now_ms()
if not ORDER_READS[op] then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':expiry', '-inf', now, 'LIMIT', 0, 256)) do
    local h = fields(P .. ':hold:' .. id)
    if h then end_hold(id, h) else redis.call('ZREM', P .. ':expiry', id) end
  end
end

local function gone(id)
  if redis.call('EXISTS', P .. ':ended:' .. id) == 1 then return 'expired' end
  return 'not_found'
end

local function order_reply(tag, id)
  local o = fields(P .. ':order:' .. id)
  return { tag, id, o.buyer, o.record, o.status, o.refunds or '[]' }
end

-- A JSON array (cjson writes an empty table as an object).
local function array(t)
  if #t == 0 then return '[]' end
  return cjson.encode(t)
end

-- What an order paid (older orders keep it only in their record), and what the seller's
-- refunds paid back of it.
local function paid(o)
  return tonumber(o.amount or cjson.decode(o.record).amount)
end

local function paid_back(o)
  local sum = 0
  for _, r in ipairs(cjson.decode(o.refunds or '[]')) do sum = sum + r.amount end
  return sum
end

local function is_refunded(o, ticket)
  for _, r in ipairs(cjson.decode(o.refunds or '[]')) do
    for _, t in ipairs(r.tickets) do if t == ticket then return true end end
  end
  return false
end

-- Gives back what an order sold: its claims, its pools' sold counts, its buyer's tickets.
local function unsell(id, o, seats, units, tickets)
  free(id, o.session, seats, units)
  for _, u in ipairs(cjson.decode(units)) do add(P .. ':sold', u[1], -u[2]) end
  mine(o.buyer, units, -1)
  add(P .. ':buyer', o.buyer, -tonumber(tickets))
end

if op == 'hold' then
  local session, id, buyer, address = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local seats, units = ARGV[7], ARGV[8]
  local tickets, limit, cap, ttl = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
  local amount, key, fingerprint, payload, key_ttl = ARGV[13], ARGV[14], ARGV[15], ARGV[16], tonumber(ARGV[17])
  local items = tonumber(ARGV[18])
  if redis.call('EXISTS', P .. ':closed') == 1 then return { 'closed' } end
  local key_name = P .. ':key:' .. buyer .. ':' .. key
  if key ~= '' then
    local first = redis.call('GET', key_name)
    if first then
      local fp, hold = string.match(first, '^([^|]*)|(.*)$')
      if fp ~= fingerprint then return { 'key_reused' } end
      local h = fields(P .. ':hold:' .. hold)
      if h then return { 'existing', hold, h.expires, h.payload } end
      if redis.call('HEXISTS', P .. ':confirmed', hold) == 1 then return { 'key_confirmed' } end
      return { 'expired' }
    end
  end
  local owned = tonumber(redis.call('HGET', P .. ':buyer', buyer) or '0')
  if tickets > 0 and owned + tickets > limit then return { 'over_limit' } end
  local seat_list, unit_list = cjson.decode(seats), cjson.decode(units)
  for _, u in ipairs(unit_list) do
    local own = tonumber(u[4] or 0)
    if own > 0 and tonumber(redis.call('HGET', P .. ':mine:' .. buyer, u[1]) or '0') + u[2] > own then
      return { 'over_limit' }
    end
  end
  if cap > 0 and address ~= '' and items > 0 then
    local here = tonumber(redis.call('HGET', P .. ':addr:' .. session, address) or '0')
    if here + items > cap then return { 'address_limit' } end
  end
  local seat_key = P .. ':seats:' .. session
  local unavailable = {}
  for _, seat in ipairs(seat_list) do
    if redis.call('HEXISTS', seat_key, seat) == 1 then table.insert(unavailable, seat) end
  end
  for _, u in ipairs(unit_list) do
    local taken = tonumber(redis.call('HGET', P .. ':taken', u[1]) or '0')
    if taken + u[2] > u[3] then table.insert(unavailable, u[1]) end
  end
  if #unavailable > 0 then return { 'unavailable', unpack(unavailable) } end
  for _, seat in ipairs(seat_list) do redis.call('HSET', seat_key, seat, id) end
  for _, u in ipairs(unit_list) do add(P .. ':taken', u[1], u[2]) end
  mine(buyer, units, 1)
  add(P .. ':buyer', buyer, tickets)
  if address ~= '' then add(P .. ':addr:' .. session, address, items) end
  local expires = now + ttl
  redis.call('HSET', P .. ':hold:' .. id, 'session', session, 'buyer', buyer, 'address', address,
    'seats', seats, 'units', units, 'tickets', tickets, 'unpaid', items, 'amount', amount, 'expires', expires,
    'payload', payload)
  redis.call('ZADD', P .. ':expiry', expires, id)
  if key ~= '' then redis.call('SET', key_name, fingerprint .. '|' .. id, 'PX', key_ttl) end
  return { 'held', id, tostring(expires), payload }
end

if op == 'release' then
  local id, buyer = ARGV[3], ARGV[4]
  local h = fields(P .. ':hold:' .. id)
  if not h then return { gone(id) } end
  if h.buyer ~= buyer then return { 'forbidden' } end
  if redis.call('SISMEMBER', P .. ':paying', id) == 1 then return { 'busy' } end
  end_hold(id, h)
  return { 'ok' }
end

if op == 'begin_confirm' then
  local id, buyer, lease = ARGV[3], ARGV[4], tonumber(ARGV[5])
  local order = redis.call('HGET', P .. ':confirmed', id)
  if order then
    if redis.call('HGET', P .. ':order:' .. order, 'buyer') ~= buyer then return { 'forbidden' } end
    return order_reply('done', order)
  end
  local h = fields(P .. ':hold:' .. id)
  if not h then return { gone(id) } end
  if h.buyer ~= buyer then return { 'forbidden' } end
  if redis.call('SISMEMBER', P .. ':paying', id) == 1 then return { 'busy' } end
  if redis.call('EXISTS', P .. ':closed') == 1 then return { 'closed' } end
  redis.call('SADD', P .. ':paying', id)
  redis.call('ZADD', P .. ':expiry', now + lease, id)
  return { 'ready', h.session, h.amount, h.payload }
end

if op == 'commit_confirm' then
  local id, order, created, record = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local h = fields(P .. ':hold:' .. id)
  if not h or redis.call('SISMEMBER', P .. ':paying', id) == 0 then return { 'lost' } end
  local seat_key = P .. ':seats:' .. h.session
  for _, seat in ipairs(cjson.decode(h.seats)) do redis.call('HSET', seat_key, seat, order) end
  if h.address ~= '' then add(P .. ':addr:' .. h.session, h.address, -unpaid(h)) end
  redis.call('DEL', P .. ':hold:' .. id)
  redis.call('ZREM', P .. ':expiry', id)
  redis.call('SREM', P .. ':paying', id)
  for _, u in ipairs(cjson.decode(h.units)) do add(P .. ':sold', u[1], u[2]) end
  redis.call('HSET', P .. ':confirmed', id, order)
  redis.call('HSET', P .. ':order:' .. order, 'buyer', h.buyer, 'session', h.session, 'seats', h.seats,
    'units', h.units, 'tickets', h.tickets, 'record', record, 'status', 'confirmed', 'amount', h.amount)
  add(P .. ':gross', h.session, h.amount)
  redis.call('ZADD', P .. ':orders', created, order)
  redis.call('ZADD', P .. ':orders:' .. h.buyer, created, order)
  redis.call('SADD', P .. ':live', order)
  return { 'ok' }
end

if op == 'abort_confirm' then
  local id = ARGV[3]
  local h = fields(P .. ':hold:' .. id)
  if h and redis.call('SREM', P .. ':paying', id) == 1 then
    redis.call('ZADD', P .. ':expiry', h.expires, id)
  end
  return { 'ok' }
end

if op == 'cancel' then
  local id, buyer = ARGV[3], ARGV[4]
  local o = fields(P .. ':order:' .. id)
  if not o then return { 'not_found' } end
  if buyer ~= '' and o.buyer ~= buyer then return { 'forbidden' } end
  local now_cancelled = o.status == 'confirmed'
  if now_cancelled and buyer ~= '' and redis.call('EXISTS', P .. ':entries:' .. id) == 1 then return { 'used' } end
  if now_cancelled then
    unsell(id, o, o.seats, o.units, o.tickets)
    add(P .. ':refunded', o.session, math.max(paid(o) - paid_back(o), 0))
    redis.call('HSET', P .. ':order:' .. id, 'status', 'cancelled')
    redis.call('SREM', P .. ':live', id)
  end
  local reply = order_reply('order', id)
  table.insert(reply, now_cancelled and '1' or '0')
  return reply
end

if op == 'refund' then
  local id, named, seats, units = ARGV[3], cjson.decode(ARGV[4]), cjson.decode(ARGV[5]), cjson.decode(ARGV[6])
  local counted, amount, at = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local o = fields(P .. ':order:' .. id)
  if not o then return { 'not_found' } end
  if o.status ~= 'confirmed' or #named == 0 then return { 'refunded' } end
  for _, t in ipairs(named) do if is_refunded(o, t) then return { 'refunded' } end end
  amount = math.min(amount, math.max(paid(o) - paid_back(o), 0))
  -- Only what the order still claims is given back.
  local own = {}
  for _, seat in ipairs(cjson.decode(o.seats)) do own[seat] = true end
  local freed_seats = {}
  for _, seat in ipairs(seats) do
    if own[seat] then table.insert(freed_seats, seat); own[seat] = nil end
  end
  local rest_seats = {}
  for _, seat in ipairs(cjson.decode(o.seats)) do if own[seat] then table.insert(rest_seats, seat) end end
  local rest = cjson.decode(o.units)
  local freed_units = {}
  for _, u in ipairs(units) do
    for _, r in ipairs(rest) do
      if r[1] == u[1] then
        local quantity = math.min(u[2], r[2])
        r[2] = r[2] - quantity
        table.insert(freed_units, { u[1], quantity, u[3], u[4] })
        break
      end
    end
  end
  local rest_units = {}
  for _, r in ipairs(rest) do if r[2] > 0 then table.insert(rest_units, r) end end
  counted = math.min(counted, tonumber(o.tickets))
  unsell(id, o, array(freed_seats), array(freed_units), counted)
  local refunds = cjson.decode(o.refunds or '[]')
  table.insert(refunds, { tickets = named, amount = amount, at = at })
  local status = 'confirmed'
  if #rest_seats == 0 and #rest_units == 0 then
    status = 'refunded'
    redis.call('SREM', P .. ':live', id)
  end
  redis.call('HSET', P .. ':order:' .. id, 'seats', array(rest_seats), 'units', array(rest_units),
    'tickets', tonumber(o.tickets) - counted, 'refunds', cjson.encode(refunds), 'status', status)
  add(P .. ':refunded', o.session, amount)
  return order_reply('order', id)
end

-- Puts an order back as a backup had it, into a performance restored from it: its record,
-- status and refunds; a standing one claims the seats and units it still claims (the restore
-- refuses a seat that is claimed already); its session's money counts it.
if op == 'restore' then
  local id, buyer, session, created, record = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local status, refunds, amount, hold = ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11]
  local seats, units, tickets = ARGV[12], ARGV[13], tonumber(ARGV[14])
  if redis.call('EXISTS', P .. ':order:' .. id) == 1 then return { 'exists' } end
  if status == 'confirmed' then
    local seat_key = P .. ':seats:' .. session
    for _, seat in ipairs(cjson.decode(seats)) do
      if redis.call('HEXISTS', seat_key, seat) == 1 then return { 'taken', seat } end
    end
    for _, seat in ipairs(cjson.decode(seats)) do redis.call('HSET', seat_key, seat, id) end
    for _, u in ipairs(cjson.decode(units)) do
      add(P .. ':taken', u[1], u[2])
      add(P .. ':sold', u[1], u[2])
    end
    mine(buyer, units, 1)
    add(P .. ':buyer', buyer, tickets)
    redis.call('SADD', P .. ':live', id)
  else
    seats, units, tickets = '[]', '[]', 0
  end
  redis.call('HSET', P .. ':confirmed', hold, id)
  redis.call('HSET', P .. ':order:' .. id, 'buyer', buyer, 'session', session, 'seats', seats, 'units', units,
    'tickets', tickets, 'record', record, 'status', status, 'amount', amount, 'refunds', refunds)
  add(P .. ':gross', session, amount)
  local back = 0
  if status == 'confirmed' then
    for _, r in ipairs(cjson.decode(refunds)) do back = back + r.amount end
  else
    back = amount
  end
  add(P .. ':refunded', session, math.min(back, amount))
  redis.call('ZADD', P .. ':orders', created, id)
  redis.call('ZADD', P .. ':orders:' .. buyer, created, id)
  return { 'ok' }
end

-- Puts a ticket's entry at the door back.
if op == 'restore_entry' then
  local id, ticket, first = ARGV[3], ARGV[4], ARGV[5]
  redis.call('HSET', P .. ':entries:' .. id, ticket, first)
  redis.call('SADD', P .. ':entered', id)
  return { 'ok' }
end

if op == 'money' then
  return { redis.call('HGETALL', P .. ':gross'), redis.call('HGETALL', P .. ':refunded') }
end

if op == 'order' then
  if redis.call('EXISTS', P .. ':order:' .. ARGV[3]) == 0 then return { 'not_found' } end
  return order_reply('order', ARGV[3])
end

if op == 'orders_of' then
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', P .. ':orders:' .. ARGV[3], 0, -1)) do
    table.insert(out, order_reply('order', id))
  end
  return out
end

-- Up to `limit` orders after (created, id), oldest first; of orders confirmed in one
-- millisecond, by id, as the sorted set keeps them.
if op == 'orders_after' then
  local at, after, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
  local out, offset = {}, 0
  while #out < limit do
    local batch = redis.call('ZRANGEBYSCORE', P .. ':orders', at, '+inf', 'WITHSCORES', 'LIMIT', offset, limit)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      local id = batch[i]
      if #out < limit and (tonumber(batch[i + 1]) > tonumber(at) or id > after) then
        table.insert(out, order_reply('order', id))
      end
    end
    offset = offset + #batch / 2
  end
  return out
end

if op == 'live' then
  return redis.call('SMEMBERS', P .. ':live')
end

if op == 'check_in' then
  local id, ticket, at, door = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local status = redis.call('HGET', P .. ':order:' .. id, 'status')
  if not status then return { 'not_found' } end
  if status ~= 'confirmed' then return { 'not_confirmed', status } end
  if is_refunded(fields(P .. ':order:' .. id), ticket) then return { 'not_confirmed', 'refunded' } end
  local first = redis.call('HGET', P .. ':entries:' .. id, ticket)
  if first then return { 'used', first } end
  redis.call('HSET', P .. ':entries:' .. id, ticket, at .. ' ' .. door)
  redis.call('SADD', P .. ':entered', id)
  return { 'admitted' }
end

if op == 'undo' then
  local id, ticket = ARGV[3], ARGV[4]
  local first = redis.call('HGET', P .. ':entries:' .. id, ticket)
  if not first then return { 'none' } end
  redis.call('HDEL', P .. ':entries:' .. id, ticket)
  if redis.call('EXISTS', P .. ':entries:' .. id) == 0 then redis.call('SREM', P .. ':entered', id) end
  return { 'undone', first }
end

if op == 'entries' then
  local out = {}
  for _, id in ipairs(redis.call('SMEMBERS', P .. ':entered')) do
    local flat = redis.call('HGETALL', P .. ':entries:' .. id)
    for i = 1, #flat, 2 do table.insert(out, { id, flat[i], flat[i + 1] }) end
  end
  return out
end

if op == 'taken' then
  local session = ARGV[3]
  local pools = cjson.decode(ARGV[4])
  local counts = {}
  for i, pool in ipairs(pools) do counts[i] = redis.call('HGET', P .. ':taken', pool) or '0' end
  return { redis.call('HKEYS', P .. ':seats:' .. session), counts }
end

if op == 'counts' then
  local out = {}
  for i, pool in ipairs(cjson.decode(ARGV[3])) do
    out[i] = { redis.call('HGET', P .. ':taken', pool) or '0', redis.call('HGET', P .. ':sold', pool) or '0' }
  end
  return out
end

if op == 'close' then
  if ARGV[3] == '1' then redis.call('SET', P .. ':closed', '1') else redis.call('DEL', P .. ':closed') end
  return { 'ok' }
end

if op == 'paying' then
  return { tostring(redis.call('SCARD', P .. ':paying')) }
end

return redis.error_reply('unknown step ' .. op)
