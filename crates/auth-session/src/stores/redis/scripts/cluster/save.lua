-- Versioned save. KEYS[1]: the key. ARGV: expected version, new version, expiry, data,
-- subject, horizon just given to the subject's index entry (or ''), token. Returns 1 (saved),
-- 0 (conflict), -1 (no live record) or -2 (the subject's index entry must be raised first);
-- only 1 writes. A retry of the same call (same token) whose write is among the last 4
-- returns 1 again without writing.
local stored = redis.call('HMGET', KEYS[1], 'v', 's', 'i', 'n')
if not stored[1] then return -1 end
local written = stored[4] or ''
if stored[1] ~= ARGV[1] then
  if string.find(' ' .. written .. ' ', ' ' .. ARGV[2] .. ':' .. ARGV[7] .. ' ', 1, true) then return 1 end
  return 0
end
local horizon = '0'
if ARGV[5] ~= '' then
  if stored[2] == ARGV[5] and stored[3] then horizon = stored[3] end
  if ARGV[6] ~= '' and tonumber(ARGV[6]) > tonumber(horizon) then horizon = ARGV[6] end
  if tonumber(horizon) < tonumber(ARGV[3]) then return -2 end
end
local tokens = {ARGV[2] .. ':' .. ARGV[7]}
for entry in string.gmatch(written, '%S+') do
  if #tokens == 4 then break end
  table.insert(tokens, entry)
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3], 'd', ARGV[4], 's', ARGV[5], 'i', horizon, 'n', table.concat(tokens, ' '))
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 1
