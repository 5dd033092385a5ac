-- Expiry refresh. KEYS[1]: the key. ARGV: expiry, then the subject and horizon its index
-- entry was just raised to (or '' and 0). Returns {1, ''} (touched; `i` records a raised
-- horizon), {0, ''} when there is no live record (none, or a tombstone), or {-2, subject}
-- when that subject's index entry must be raised first. Only {1, ''} writes.
local stored = redis.call('HMGET', KEYS[1], 'v', 's', 'i')
if not stored[1] then return {0, ''} end
local subject = stored[2] or ''
local horizon = stored[3] or '0'
if subject ~= '' then
  if subject == ARGV[2] and tonumber(ARGV[3]) > tonumber(horizon) then horizon = ARGV[3] end
  if tonumber(horizon) < tonumber(ARGV[1]) then return {-2, subject} end
end
redis.call('HSET', KEYS[1], 'e', ARGV[1], 'i', horizon)
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return {1, ''}
