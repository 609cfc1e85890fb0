/**
 * Lua scripts of node ownership; each runs atomically in Redis. KEYS are a node's lock, epoch and
 * owner keys (same hash tag).
 */

/**
 * After redlock acquired the lock: if the lock still holds our token, bump the fencing epoch and
 * record the owner. ARGV: token, replica id, ttl ms. Returns the new epoch, or 0 if the lock is not ours.
 */
export const CLAIM = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
local epoch = redis.call("INCR", KEYS[2])
redis.call("SET", KEYS[3], ARGV[2] .. " " .. epoch .. " " .. ARGV[1], "PX", ARGV[3])
return epoch
`;

/**
 * Renewal of one owned node. ARGV: token, replica id, epoch, ttl ms.
 * 1: renewed. 0: someone else holds the lock, or the epoch moved on (we lost the node).
 * 2: the keys were gone (Redis restarted without them) and were put back as they were: the epoch
 *    is restored to ours if missing or lower, so fencing tokens never go backwards.
 */
export const RENEW = `
local current = redis.call("GET", KEYS[1])
if current == ARGV[1] then
  local epoch = tonumber(redis.call("GET", KEYS[2]) or "0")
  if epoch > tonumber(ARGV[3]) then return 0 end
  redis.call("PEXPIRE", KEYS[1], ARGV[4])
  redis.call("SET", KEYS[3], ARGV[2] .. " " .. ARGV[3] .. " " .. ARGV[1], "PX", ARGV[4])
  return 1
end
if current then return 0 end
local epoch = tonumber(redis.call("GET", KEYS[2]) or "0")
if epoch > tonumber(ARGV[3]) then return 0 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[4])
redis.call("SET", KEYS[2], ARGV[3])
redis.call("SET", KEYS[3], ARGV[2] .. " " .. ARGV[3] .. " " .. ARGV[1], "PX", ARGV[4])
return 2
`;

/** Release: delete lock and owner record if the lock is still ours. ARGV: token. Returns 1 if released. */
export const RELEASE = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
redis.call("DEL", KEYS[3])
return 1
`;

/**
 * Takeover from a dead owner: delete the lock and owner record only if the lock still holds the
 * token we saw (the dead owner's). ARGV: that token. Returns 1 if cleared.
 */
export const CLEAR_STALE = RELEASE;
