-- Prepended to every standalone script: the per-user index. A subject's index is the set
-- {<prefix>:user:<subject>} of its sessions' members (IDs or their hashes); its TTL is kept at
-- least as long as its longest-lived session, and members whose session is gone are pruned
-- when the index is read (list.lua, revoke.lua).
local function index_key(prefix, subject)
  return '{' .. prefix .. ':user:' .. subject .. '}'
end
local function index_add(prefix, subject, member, ttl)
  if not subject or subject == '' then return end
  local index = index_key(prefix, subject)
  redis.call('SADD', index, member)
  if redis.call('TTL', index) < ttl then redis.call('EXPIRE', index, ttl) end
end
local function index_remove(prefix, subject, member)
  if not subject or subject == '' then return end
  redis.call('SREM', index_key(prefix, subject), member)
end
