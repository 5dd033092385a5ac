-- Raise a subject's index entry. KEYS[1]: the index. ARGV: member, horizon, clock skew.
-- Prunes the entries whose horizon is past (by the server's clock, minus the skew), adds or
-- raises the entry, and sets the index to expire at its highest horizon plus the skew.
local now = tonumber(redis.call('TIME')[1])
local skew = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - skew))
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], tonumber(top[2]) + skew)
return 1
