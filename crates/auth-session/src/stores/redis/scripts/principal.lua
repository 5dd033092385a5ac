-- Prepended to the scripts that list or revoke a principal's sessions (list.lua, revoke.lua,
-- cluster/revoke.lua). A principal is an issuer and a subject: the index is keyed on the
-- subject alone, so these scripts also compare the issuer of each indexed session, read from
-- its record JSON (`d`, field `iss`; absent or `null` for a local login). has_issuer is '1'
-- with an issuer, '0' for a local login.
local function issuer_is(data, has_issuer, issuer)
  if not data then return false end
  local ok, record = pcall(cjson.decode, data)
  if not ok or type(record) ~= 'table' then return false end
  local iss = record['iss']
  if iss == nil or iss == cjson.null then return has_issuer == '0' end
  return has_issuer == '1' and iss == issuer
end
