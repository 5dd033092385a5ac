-- A subject's index members, after pruning entries past their horizon (by the server's
-- clock, minus the skew). KEYS[1]: the index. ARGV: clock skew.
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))
return redis.call('ZRANGE', KEYS[1], 0, -1)
