-- Revoke one session if it still belongs to the principal, leaving a tombstone (after
-- principal.lua, for issuer_is). KEYS[1]: the key. ARGV: subject, tombstone TTL, '1' with an
-- issuer or '0' for a local login, the issuer (or ''). Returns 1 when deleted.
local stored = redis.call('HMGET', KEYS[1], 'v', 's', 'd')
if not stored[1] or stored[2] ~= ARGV[1] then return 0 end
if not issuer_is(stored[3], ARGV[3], ARGV[4]) then return 0 end
redis.call('HDEL', KEYS[1], 'v', 'e', 'd', 's', 'i')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
