-- Create-if-absent. KEYS[1]: the key. ARGV: version, expiry, data, subject, horizon (0
-- without subject), token. Returns 1, or 0 when the ID is taken (by a session, or by the
-- tombstone of a deleted one). A retry of the same call (same token, after a reconnect) finds
-- its own write, also under later saves or a tombstone, and returns 1 again without writing.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local written = ' ' .. (redis.call('HGET', KEYS[1], 'n') or '') .. ' '
  if string.find(written, ' ' .. ARGV[1] .. ':' .. ARGV[6] .. ' ', 1, true) then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2], 'd', ARGV[3], 's', ARGV[4], 'i', ARGV[5], 'n', ARGV[1] .. ':' .. ARGV[6])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return 1
