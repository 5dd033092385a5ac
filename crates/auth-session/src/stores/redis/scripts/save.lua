-- Versioned save. KEYS[1]: the key. ARGV: prefix, member, subject, index TTL, expected
-- version, new version, expiry, data. Returns 1 (saved), 0 (conflict) or -1 (no live record:
-- nothing is written).
local current = redis.call('HGET', KEYS[1], 'v')
if not current then return -1 end
if current ~= ARGV[5] then return 0 end
local old = redis.call('HGET', KEYS[1], 's')
redis.call('HSET', KEYS[1], 'v', ARGV[6], 'e', ARGV[7], 'd', ARGV[8], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[7])
if old and old ~= ARGV[3] then index_remove(ARGV[1], old, ARGV[2]) end
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
return 1
