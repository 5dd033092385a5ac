-- Create-if-absent. KEYS[1]: the key. ARGV: prefix, member, subject, index TTL, version,
-- expiry, data. Returns 1, or 0 when the ID is taken.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[5], 'e', ARGV[6], 'd', ARGV[7], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
return 1
