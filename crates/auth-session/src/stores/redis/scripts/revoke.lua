-- Revocation. ARGV: prefix, subject, member to keep (or ''), '1' with an issuer or '0' for a
-- local login, the issuer (or ''). Returns how many sessions were deleted. Members whose
-- session is gone or has another subject are pruned; the subject's other principals' are
-- left alone.
local index = index_key(ARGV[1], ARGV[2])
local count = 0
for _, member in ipairs(redis.call('SMEMBERS', index)) do
  if member ~= ARGV[3] then
    local key = '{' .. ARGV[1] .. ':' .. member .. '}'
    local row = redis.call('HMGET', key, 's', 'd')
    if row[1] == ARGV[2] then
      if issuer_is(row[2], ARGV[4], ARGV[5]) then
        count = count + redis.call('DEL', key)
        redis.call('SREM', index, member)
      end
    else
      redis.call('SREM', index, member)
    end
  end
end
return count
