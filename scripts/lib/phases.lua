-- Whole phases of an upgrade, declared from the library's steps (lib.upgrade): one API
-- component moved to its new controllers, Nova and Neutron together with the compute
-- and network nodes upgraded in place. A runbook for any hop (Kilo → Queens,
-- Queens → Rocky, a SLURP hop) calls these with its releases and adds what is special
-- to that hop through the hooks. See docs/library.md.
local lib = require "lib.upgrade"

local M = {}

local function call(hook, ...) if hook then return hook(...) end end

--- An API component moved from `<c>_old` (release `from`) to prebuilt `<c>_new` (release `to`):
--- maintenance (writes blocked), old services stopped, database dumped, schema chain,
--- `after_sync` hook, transport URL on the new controllers, new services started, VIP
--- switched (behind the API check), users let back in.
--- spec: component, from, to, databases (default { component }), roles, file (its config),
--- checks (before stopping: check names), after_sync (function declaring more steps),
--- sync (extra db_sync options), maintenance ("writes" or "all"), transport (false: keep the broker).
function M.api_component(spec)
  validate_spec("phases.api_component", spec, { "component", "from", "to", "databases", "roles", "file", "checks", "after_sync",
                                               "sync", "maintenance", "transport" })
  local c, from, to = spec.component, spec.from, spec.to
  local api = lib.api_check { component = c, name = c .. "-api" }
  local mode = spec.maintenance or "writes"
  lib.maintenance { component = c, mode = mode, before = spec.checks }
  lib.stop_services { component = c, group = c .. "_old", release = from, roles = spec.roles, name = "stop-" .. c .. "-" .. from }
  lib.backup_databases { names = spec.databases or { c }, name = "backup-" .. c, tags = { c, "backup" } }
  local sync = { component = c, from = from, to = to }
  for k, v in pairs(spec.sync or {}) do sync[k] = v end
  lib.db_sync(sync)
  call(spec.after_sync)
  if spec.transport ~= false then lib.set_transport_url { component = c, group = c .. "_new", file = spec.file } end
  lib.start_services { component = c, group = c .. "_new", release = to, roles = spec.roles, name = "start-" .. c .. "-" .. to }
  lib.switch_vip { component = c, after = { api } }
  lib.end_maintenance { component = c, mode = mode }
end

--- Nova and Neutron together: controllers moved to the prebuilt `nova_new` / `neutron_new`,
--- compute and network nodes upgraded in place from a shipped virtualenv, agents restarted
--- in adaptive waves behind the Neutron database's load.
--- spec: from, to, before (checks before the first step), nova_databases, create_databases
--- (e.g. { "nova_api", "nova_cell0" } when the walk crosses Mitaka/Newton), endpoints (what
--- register_endpoints gets), vips (default { "nova", "neutron" }), after_sync (hook),
--- compute_batch (default "10%"), agent_batch (default 50), load_max (default 28),
--- transport (false: the services keep their broker; default: they move to the new one).
function M.nova_neutron(spec)
  validate_spec("phases.nova_neutron", spec, { "from", "to", "before", "nova_databases", "create_databases", "endpoints", "vips",
                                              "after_sync", "compute_batch", "agent_batch", "load_max", "transport", "nova_roles",
                                              "nova_timeout", "max_fail" })
  local from, to = spec.from, spec.to
  local nova_api = lib.api_check { component = "nova", name = "nova-api" }
  local neutron_api = lib.api_check { component = "neutron", name = "neutron-api" }
  local gate = lib.db_load_check { name = "neutron-db-load", max = spec.load_max or 28 }
  local nova = require "ferry.nova"
  -- Inline (not a named check): the drill runs every named check after its rollback too,
  -- where the Kilo controllers rightly fail nova-status.
  local function nova_status(ctx)
    local host = inventory.group("nova_new")[1]
    return nova.status_check(host, ctx)
  end

  lib.maintenance { component = "nova", mode = "writes", before = spec.before }
  lib.maintenance { component = "neutron", mode = "writes" }
  -- Conductor last on the way down, first on the way up; the API first down, last up.
  -- Placement (in nova's packages from Ocata through Stein, served by httpd/apache2) goes
  -- down last and comes up first: its tables are in nova_api, which the sync changes and a
  -- rollback restores, and the scheduler and computes need it. Where that httpd also serves
  -- Keystone or Horizon on the old controllers, leave "placement-api" out of `nova_roles`
  -- and take placement's site out of httpd yourself (docs/library.md, limits).
  local nova_roles = spec.nova_roles or { "api", "novncproxy", "consoleauth", "cert", "scheduler", "conductor", "placement-api" }
  lib.stop_services { component = "nova", group = "nova_old", release = from, roles = nova_roles, name = "stop-nova-" .. from }
  lib.stop_services { component = "neutron", group = "neutron_old", release = from, roles = { "server" }, name = "stop-neutron-" .. from }
  -- Every nova database the region has at `from` (nova_api from Mitaka, nova_cell0 from
  -- Ocata): the rollback restores them all, cell mappings included.
  local release = require "ferry.release"
  local default_dbs = { "nova" }
  if release.index(from) >= release.index("mitaka") then default_dbs[#default_dbs + 1] = "nova_api" end
  if release.index(from) >= release.index("ocata") then default_dbs[#default_dbs + 1] = "nova_cell0" end
  lib.backup_databases { names = spec.nova_databases or default_dbs, name = "backup-nova", tags = { "nova", "backup" } }
  lib.backup_databases { names = { "neutron" }, name = "backup-neutron", tags = { "neutron", "backup" } }
  if spec.create_databases then lib.create_databases { names = spec.create_databases, via = "nova" } end
  lib.db_sync { component = "nova", from = from, to = to, timeout = spec.nova_timeout or "6h" }
  lib.db_sync { component = "neutron", from = from, to = to }
  call(spec.after_sync)
  if spec.endpoints then lib.register_endpoints(spec.endpoints) end
  if spec.transport ~= false then
    lib.set_transport_url { component = "nova", group = "nova_new" }
    lib.set_transport_url { component = "neutron", group = "neutron_new" }
    if release.index(to) >= release.index("pike") then
      step "nova-cells-transport" {
        desc = "point the cell mappings at the new broker (nova-manage cell_v2 update_cell, from nova_new's nova.conf)",
        tags = { "nova", "rabbitmq" },
        run = function(ctx) ctx.state.cells_updated = nova.update_cells(inventory.group("nova_new")[1]) end,
        undo = function(ctx) end, -- the mappings go back with the nova_api database (restored, or dropped when created here)
      }
    end
  end
  -- On the nodes the new broker's URL goes in with the code switch (one restart each way).
  local function transport(component, file)
    if spec.transport == false then return nil end
    return function(host, ctx) return lib.transport_edits(ctx, component, file) end
  end
  lib.start_services { component = "neutron", group = "neutron_new", release = to, roles = { "server" }, name = "start-neutron-" .. to }
  local up = {}
  for i = #nova_roles, 1, -1 do up[#up + 1] = nova_roles[i] end
  lib.start_services { component = "nova", group = "nova_new", release = to, roles = up, name = "start-nova-" .. to,
                       after = { nova_status } }
  for _, v in ipairs(spec.vips or { "nova", "neutron" }) do
    lib.switch_vip { component = v, after = (v == "nova" and { nova_api }) or (v == "neutron" and { neutron_api }) or nil }
  end

  -- The nodes, upgraded in place: the new code unpacked beside the old, then switched.
  lib.ship_venv { release = to, group = "computes", max_fail = spec.max_fail or "1%" }
  lib.ship_venv { release = to, group = "network_nodes" }
  lib.switch_venv {
    name = "switch-nova-compute", component = "nova", release = to, from = from, group = "computes",
    roles = { "compute" }, batch = spec.compute_batch or "10%", parallel = 500, max_fail = spec.max_fail or "1%",
    edits = transport("nova", "/etc/nova/nova.conf"),
  }
  -- The L3/DHCP agents one network node at a time (parallel restarts of HA routers cut traffic).
  lib.switch_venv {
    name = "switch-network-agents", component = "neutron", release = to, from = from, group = "network_nodes",
    roles = { "network", "openvswitch-agent" }, batch = 1, gate = gate,
    edits = transport("neutron", "/etc/neutron/neutron.conf"),
  }
  lib.switch_venv {
    name = "switch-ovs-agents", component = "neutron", release = to, from = from, group = "computes",
    roles = { "openvswitch-agent" }, batch = spec.agent_batch or 50, adaptive = true, gate = gate,
    parallel = 1000, max_fail = spec.max_fail or "1%", after = { neutron_api },
    edits = transport("neutron", "/etc/neutron/neutron.conf"),
  }
  step "nova-discover-hosts" {
    desc = "map the compute nodes to their cell (nova-manage cell_v2 discover_hosts)",
    tags = { "nova" },
    run = function(ctx) nova.discover_hosts(inventory.group("nova_new")[1]) end,
    undo = function(ctx) end, -- host mappings go back with the nova databases
  }
  lib.end_maintenance { component = "neutron" }
  lib.end_maintenance { component = "nova" }
end

return M
