-- A principal's live sessions. ARGV: prefix, subject, '1' with an issuer or '0' for a local
-- login, the issuer (or ''). Returns member, version, expiry, data for each, and prunes
-- members whose session is gone or has another subject (the sessions of the subject's other
-- principals stay indexed).
local index = index_key(ARGV[1], ARGV[2])
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', index)) do
  local row = redis.call('HMGET', '{' .. ARGV[1] .. ':' .. member .. '}', 'v', 'e', 'd', 's')
  if row[1] and row[4] == ARGV[2] then
    if issuer_is(row[3], ARGV[3], ARGV[4]) then
      table.insert(out, member)
      table.insert(out, row[1])
      table.insert(out, row[2])
      table.insert(out, row[3])
    end
  else
    redis.call('SREM', index, member)
  end
end
return out
