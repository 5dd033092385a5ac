-- Delete. KEYS[1]: the key. ARGV: prefix, member.
local subject = redis.call('HGET', KEYS[1], 's')
redis.call('DEL', KEYS[1])
index_remove(ARGV[1], subject, ARGV[2])
return 1
