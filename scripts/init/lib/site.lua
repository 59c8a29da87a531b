-- Your own helpers, shared by this repository's runbooks: `local site = require "lib.site"`.
-- A module under lib/ is never loaded as a runbook file.
local M = {}

--- Points `component`'s code on `host` at the virtualenv of `release` and restarts `unit`.
---@param host Host
---@param component string   e.g. "neutron"
---@param release string     e.g. "queens"
---@param unit string        e.g. "neutron-openvswitch-agent"
function M.switch(host, component, release, unit)
  host:run("ln -sfn /opt/venvs/" .. release .. " /opt/openstack/" .. component .. " && systemctl restart " .. unit)
end

return M
