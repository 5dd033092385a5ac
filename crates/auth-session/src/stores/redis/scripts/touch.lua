-- Expiry refresh. KEYS[1]: the key. ARGV: prefix, member, index TTL, expiry. Returns 1, or 0
-- when there is no record.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[4])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
index_add(ARGV[1], redis.call('HGET', KEYS[1], 's'), ARGV[2], tonumber(ARGV[3]))
return 1
