local release = require "ferry.release"
local M = release.component("neutron")

--- A host probe: neutron-server is stopped here (the contract migrations need every server stopped).
function M.preflight.server_stopped(host, ctx)
  local unit = host.vars.neutron_server_unit or "neutron-server"
  if host:service(unit):active() then return false, unit .. " still runs on " .. host.name end
  return true
end

--- Inside a step: whether contract (offline) migrations are pending (Mitaka on).
function M.has_offline_migrations(host)
  if type(host) ~= "table" then error("neutron.has_offline_migrations(host): expected the host to run neutron-db-manage on", 2) end
  local r = host:run("neutron-db-manage has_offline_migrations", { check = false })
  if r.code == 0 then return false end
  if r.code == 1 then return true end
  error("neutron-db-manage has_offline_migrations on " .. host.name .. " exited " .. r.code .. ": " .. (r.stderr or ""), 2)
end

--- The Networking API answers behind the neutron VIP.
M.health = release.http_health("neutron", "/")

return M
