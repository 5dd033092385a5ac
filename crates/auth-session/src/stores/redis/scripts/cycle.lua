-- Cycle. KEYS[1]: the new key, KEYS[2]: the old one. ARGV: prefix, new member, subject, index
-- TTL, version, expiry, data, old member. Returns 1 (created, old deleted), 0 (new ID taken,
-- nothing changed) or -1 (the old session is gone: nothing written, it stays ended).
if redis.call('HEXISTS', KEYS[2], 'v') == 0 then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[5], 'e', ARGV[6], 'd', ARGV[7], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
local old = redis.call('HGET', KEYS[2], 's')
redis.call('DEL', KEYS[2])
index_remove(ARGV[1], old, ARGV[8])
return 1
