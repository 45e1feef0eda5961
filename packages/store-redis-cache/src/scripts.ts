/**
 * Lua scripts: each runs atomically on the Redis server. Numbers travel as the strings JavaScript
 * wrote (`String(n)`), so values read back are exact; scripts only compare them.
 */

/**
 * Reserve a refresh lease (the `SET NX` of the fast path, with the lease v2 rules): free when no key,
 * when it is the caller's, when it lapsed by the caller's clock (`now`), or when `replace` names it
 * exactly (owner + beat). A reservation carries a fresh fencing token from `INCR` and `beat = -token`.
 * KEYS: lease hash, token counter. ARGV: owner, now, ttlMs, replaceOwner|"", replaceBeat|"",
 * credentialId, expiresAt, pxMs.
 * Returns `{1, token}` or `{0, HGETALL of the current lease}`.
 */
export const RESERVE_LEASE = `
local cur = redis.call('HMGET', KEYS[1], 'owner', 'expiresAt', 'beat')
if cur[1] then
  local free = cur[1] == ARGV[1] or tonumber(cur[2]) <= tonumber(ARGV[2])
  if (not free) and ARGV[4] ~= '' and cur[1] == ARGV[4] and tonumber(cur[3]) == tonumber(ARGV[5]) then
    free = true
  end
  if not free then return {0, redis.call('HGETALL', KEYS[1])} end
end
local token = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'credentialId', ARGV[6], 'owner', ARGV[1], 'expiresAt', ARGV[7], 'ttlMs', ARGV[3],
  'beat', tostring(-token), 'token', tostring(token), 'pending', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return {1, token}
`;

/**
 * Mirror a lease the durable store granted. With `onlyIfToken` the write happens only while the key
 * still holds that reservation; otherwise unconditionally (the durable store is the source of truth).
 * KEYS: lease hash, token counter. ARGV: onlyIfToken|"", credentialId, owner, expiresAt, ttlMs, beat, pxMs.
 */
export const MIRROR_LEASE = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'credentialId', ARGV[2], 'owner', ARGV[3], 'expiresAt', ARGV[4], 'ttlMs', ARGV[5],
  'beat', ARGV[6], 'token', tostring(token))
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1
`;

/** Compare-and-delete: drop the lease key if `field` equals `value`. KEYS: lease hash. ARGV: field, value. */
export const DELETE_LEASE_IF = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/**
 * KEYS: value key, expiry index. ARGV: entry JSON, pxMs, expiresAt, cache key, forgetBefore.
 * Index members that expired before `forgetBefore` (now minus the grace) name values Redis already
 * dropped by `PX`: trimmed here, so the index stays bounded without anyone calling `cleanExpired`.
 */
export const CACHE_SET = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
return 1
`;

/** KEYS: value key, expiry index. ARGV: cache key. */
export const CACHE_DELETE = `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** Remove entries expired by `now`. KEYS: expiry index. ARGV: now, value-key prefix. Returns the count. */
export const CACHE_CLEAN = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, member in ipairs(expired) do
  redis.call('DEL', ARGV[2] .. member)
  redis.call('ZREM', KEYS[1], member)
end
return #expired
`;

/**
 * Max-merge one block into the mirror: written when missing, when it lifts later, or when the mirrored
 * one already lapsed by `now`. Lapsed blocks of other keys are dropped on the way (they read as no
 * block), so the hash stays bounded. KEYS: blocks hash. ARGV: field, block JSON, blockedUntil, now.
 * Returns 1 when written.
 */
export const BLOCK_MERGE = `
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] and tonumber(cjson.decode(all[i + 1]).blockedUntil) <= tonumber(ARGV[4]) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local until_ = tonumber(cjson.decode(cur).blockedUntil)
  if until_ >= tonumber(ARGV[3]) and until_ > tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * Drop one credential's mirrored blocks (all scopes, or one). KEYS: blocks hash. ARGV: credentialId,
 * scope|"" , "1" when a scope is given.
 */
export const BLOCK_DELETE = `
local all = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #all, 2 do
  local b = cjson.decode(all[i + 1])
  if tostring(b.credentialId) == ARGV[1] and (ARGV[3] ~= '1' or b.scope == ARGV[2]) then
    redis.call('HDEL', KEYS[1], all[i])
    count = count + 1
  end
end
return count
`;

/**
 * Reconcile the mirror with a durable snapshot taken at `snapshotAt`: merge every durable block in;
 * drop mirrored blocks the snapshot lacks unless written after it (a concurrent writer's).
 * KEYS: blocks hash. ARGV: snapshotAt, now, then field/JSON/blockedUntil triples.
 */
export const BLOCK_RECONCILE = `
local keep = {}
for i = 3, #ARGV, 3 do
  keep[ARGV[i]] = true
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local write = true
  if cur then
    local until_ = tonumber(cjson.decode(cur).blockedUntil)
    if until_ >= tonumber(ARGV[i + 2]) and until_ > tonumber(ARGV[2]) then write = false end
  end
  if write then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not keep[all[i]] then
    local b = cjson.decode(all[i + 1])
    if tonumber(b.updatedAt) < tonumber(ARGV[1]) or tonumber(b.blockedUntil) <= tonumber(ARGV[2]) then
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
return 1
`;
