local release = require "ferry.release"
local M = release.component("keystone")

--- A host probe: the token provider is Fernet (Rocky removes uuid and the sql token driver).
function M.preflight.fernet_tokens(host, ctx)
  local provider = host:ini("/etc/keystone/keystone.conf"):get("token", "provider")
  if provider == nil or provider == "fernet" then
    if provider == nil then log.warn("keystone on " .. host.name .. ": [token]/provider unset (the release's default applies)") end
    return true
  end
  return false, "[token]/provider is " .. tostring(provider) .. " on " .. host.name .. ": switch to fernet before Rocky"
end

--- Before Queens: no identity endpoint still points at /v2.0.
function M.preflight.no_v2_endpoints(ctx)
  local old = {}
  for _, e in ipairs(catalog.endpoints { service = "identity" }) do
    if e.url:find("/v2.0", 1, true) then old[#old + 1] = e.interface .. " " .. e.url end
  end
  if #old == 0 then return true end
  return false, "identity endpoint(s) on /v2.0, removed in Queens: " .. table.concat(old, ", ")
end

--- The Identity API answers its version document behind the keystone VIP.
M.health = release.http_health("keystone", "/v3")

return M
