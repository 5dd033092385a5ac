-- Delete, leaving a tombstone. KEYS[1]: the key. ARGV: tombstone TTL. Returns the deleted
-- session's subject ('' when it had none), or nil when there was no live session.
local stored = redis.call('HMGET', KEYS[1], 'v', 's')
if not stored[1] then return false end
redis.call('HDEL', KEYS[1], 'v', 'e', 'd', 's', 'i')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return stored[2] or ''
