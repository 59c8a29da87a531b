-- Whole phases of an upgrade, declared from the library's steps (lib.upgrade): one API
-- component moved to its new controllers, Nova and Neutron together with the compute
-- and network nodes upgraded in place. A runbook for any hop (Kilo → Queens,
-- Queens → Rocky, a SLURP hop) calls these with its releases and adds what is special
-- to that hop through the hooks. See docs/library.md.
local lib = require "lib.upgrade"

---@alias lib.phases.ApiComponentSpecKey
---| "component"
---| "from"
---| "to"
---| "databases"
---| "roles"
---| "file"
---| "checks"
---| "after_sync"
---| "sync"
---| "maintenance"
---| "transport"

---@class lib.phases.ApiComponentSpec: table<lib.phases.ApiComponentSpecKey, any>
---@field component string
---@field from string
---@field to string
---@field databases? string[] (default { component })
---@field roles? string|string[]
---@field file? string its configuration file
---@field checks? string[] check names, before stopping
---@field after_sync? function declares more steps after the schema sync
---@field sync? table extra db_sync options
---@field maintenance? "writes"|"all"
---@field transport? boolean false: keep the broker

---@alias lib.phases.NovaNeutronSpecKey
---| "from"
---| "to"
---| "before"
---| "nova_databases"
---| "create_databases"
---| "endpoints"
---| "vips"
---| "after_sync"
---| "compute_batch"
---| "agent_batch"
---| "load_max"
---| "transport"
---| "nova_roles"
---| "nova_timeout"
---| "max_fail"
---| "compute_canary"
---| "dataplane"
---| "network_max_loss"

---@class lib.phases.NovaNeutronSpec: table<lib.phases.NovaNeutronSpecKey, any>
---@field from string
---@field to string
---@field before? CheckRef|CheckRef[]
---@field nova_databases? string[]
---@field create_databases? string[]
---@field endpoints? table
---@field vips? table
---@field after_sync? function
---@field compute_batch? HostAmount
---@field agent_batch? HostAmount
---@field load_max? integer
---@field transport? boolean
---@field nova_roles? string[]
---@field nova_timeout? Duration
---@field max_fail? HostAmount
---@field compute_canary? integer computes in the canary wave (default 2)
---@field dataplane? false|table false: no data-plane probe; else neutron.dataplane_probe's spec for the OVS agents' waves
---@field network_max_loss? Duration how long a network node's first Queens start may cut instances off (default "15m")

---@class lib.phases
local M = {}

local function call(hook, ...) if hook then return hook(...) end end

--- An API component moved from `<c>_old` (release `from`) to prebuilt `<c>_new` (release `to`):
--- maintenance (writes blocked), old services stopped, database dumped, schema chain,
--- `after_sync` hook, transport URL on the new controllers, new services started, VIP
--- switched (behind the API check), users let back in.
--- spec: component, from, to, databases (default { component }), roles, file (its config),
--- checks (before stopping: check names), after_sync (function declaring more steps),
--- sync (extra db_sync options), maintenance ("writes" or "all"), transport (false: keep the broker).
---@param spec lib.phases.ApiComponentSpec
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
--- register_endpoints gets), vips (default { "nova", "neutron" }; "metadata" and "placement" move to
--- nova_new), after_sync (hook),
--- compute_batch (default "10%"), agent_batch (default 50), load_max (default 28),
--- transport (false: the services keep their broker; default: they move to the new one),
--- archive (false: no nova-archive-deleted-rows; archive_batch, default 10000),
--- failover (false: leave neutron-server's automatic DHCP/L3 failover on through the window;
--- default: off from before neutron-server starts until every agent reports to its broker),
--- dataplane (false: no data-plane probe; or neutron.dataplane_probe's spec: the OVS agents' waves
--- are gated on the database's load and on instances answering ping within max_loss, default "1m";
--- the network nodes', one at a time, on each reaching instances again within network_max_loss,
--- default "15m").
---@param spec lib.phases.NovaNeutronSpec
function M.nova_neutron(spec)
  validate_spec("phases.nova_neutron", spec, { "from", "to", "before", "nova_databases", "create_databases", "endpoints", "vips",
                                              "after_sync", "compute_batch", "agent_batch", "load_max", "transport", "nova_roles",
                                              "nova_timeout", "max_fail", "compute_canary", "dataplane",
                                              "network_max_loss" })
  local from, to = spec.from, spec.to
  local nova_api = lib.api_check { component = "nova", name = "nova-api" }
  local neutron_api = lib.api_check { component = "neutron", name = "neutron-api" }
  local gate, load = lib.db_load_check { name = "neutron-db-load", max = spec.load_max or 28 }
  local nova = require "ferry.nova"
  local neutron = require "lib.neutron"
  -- The OVS agents' waves: the database calm, and the instances of the hosts restarted (the wave just
  -- done, earlier ones) and of those not yet answering within max_loss (the first Queens start re-tags
  -- the local VLANs of ports a Kilo agent bound: lib.neutron).
  -- The network nodes' own agents re-tag their DHCP and router ports the same way, for longer (they
  -- bind many more): each node must reach instances again (network_max_loss, default "15m") before the next.
  local dp = type(spec.dataplane) == "table" and spec.dataplane or {}
  local dataplane = spec.dataplane ~= false and neutron.dataplane_probe(dp)
  local network_dataplane = spec.dataplane ~= false and neutron.dataplane_probe {
    name = "neutron-dataplane-network-nodes", vantage = "restarted", sample = dp.sample, hosts = dp.hosts, every = dp.every,
    max_loss = spec.network_max_loss or "15m",
  }
  local function gated(name, probe)
    if not probe then return gate end
    check(name) {
      desc = "the neutron database is not overloaded, and instances answer ping within their allowed loss",
      within = "15m", every = "30s",
      probe = function(ctx)
        local ok, why = load(ctx)
        if not ok then return false, why end
        return probe.probe(ctx)
      end,
    }
    return name
  end
  local agents_gate = gated("neutron-agents-gate", dataplane)
  local network_gate = gated("neutron-network-agents-gate", network_dataplane)
  local compute = require "lib.compute"
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
  -- Soft-deleted rows out of the way before the schema walk (every migration and online
  -- migration of the walk would carry them), after the dump (a rollback gets them back as
  -- they were): archive_deleted_rows with `from`'s tools.
  if spec.archive ~= false then
    local batch = spec.archive_batch or 10000
    step "nova-archive-deleted-rows" {
      desc = "move soft-deleted rows to the shadow tables before the schema walk (nova-manage db archive_deleted_rows "
        .. "--max_rows " .. batch .. " with " .. from .. "'s tools, until no deleted instance is left)",
      tags = { "nova", "archive" },
      run = function(ctx)
        if ctx.dry_run then log.info("[dry run] would archive the deleted rows of nova"); return end
        local where = release.tools(ctx, from, { on = "nova_new", venv = "/opt/venvs/{release}" })
        local line = release.command_line(where, { argv = { "nova-manage", "db", "archive_deleted_rows", "--max_rows", tostring(batch) } })
        local c = db.connect("nova")
        local function left() return tonumber(c:scalar("SELECT COUNT(*) FROM instances WHERE deleted != 0")) or 0 end
        local first = left()
        local n, rounds = first, 0
        while n > 0 do
          local r = where.host:run(line, { check = false, timeout = spec.archive_timeout or "2h" })
          -- From Ocata exit 1 means rows were archived (0: nothing was); before, 0 is success.
          local archived_code = release.index(from) >= release.index("ocata") and 1 or 0
          if r.code ~= 0 and r.code ~= archived_code then
            c:close()
            fail(line .. " on " .. where.host.name .. " exited " .. r.code .. ": " .. (r.stderr or ""))
          end
          local now = left()
          if now >= n then
            c:close()
            fail("archive_deleted_rows moved nothing: " .. now .. " deleted instance row(s) remain (rows referencing them "
              .. "keep them; archive or purge those by hand)")
          end
          n, rounds = now, rounds + 1
        end
        c:close()
        log.info("archived " .. first .. " deleted instance row(s) in " .. rounds .. " batch(es) of " .. batch)
      end,
      undo = function(ctx) end, -- the rows come back with the dump's restore
    }
  end
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
  -- Until the agents report to neutron-server's broker they look dead to it: its automatic
  -- failover would move every network (router) to the first agent that does (lib.neutron).
  local failover = spec.failover ~= false and spec.transport ~= false
  if failover then neutron.failover_off { group = "neutron_new" } end
  lib.start_services { component = "neutron", group = "neutron_new", release = to, roles = { "server" }, name = "start-neutron-" .. to }
  local up = {}
  for i = #nova_roles, 1, -1 do up[#up + 1] = nova_roles[i] end
  lib.start_services { component = "nova", group = "nova_new", release = to, roles = up, name = "start-nova-" .. to,
                       after = { nova_status } }
  -- The metadata API (8775, nova-api's `metadata` in enabled_apis) has its own VIP where the
  -- region gives it one: it moves with Nova's, or instances lose their metadata.
  local function metadata_api(ctx)
    local url = vip.url("metadata")
    local r = http.get(url .. "/", { timeout = "10s" })
    if r.status >= 400 then return false, "the metadata API (" .. url .. ") answered HTTP " .. tostring(r.status) end
    return true
  end
  local checks = { nova = { nova_api }, neutron = { neutron_api }, metadata = { metadata_api } }
  for _, v in ipairs(spec.vips or { "nova", "neutron" }) do
    local served_by_nova = v == "metadata" or v == "placement"
    lib.switch_vip { component = v, to = served_by_nova and "nova_new" or nil, after = checks[v] }
  end

  -- The nodes, upgraded in place: the new code unpacked beside the old, then switched.
  lib.ship_venv { release = to, group = "computes", max_fail = spec.max_fail or "1%" }
  lib.ship_venv { release = to, group = "network_nodes" }
  -- nova-compute switches with `to`'s configuration: [placement] and [neutron] from the new
  -- controllers' nova.conf, Kilo's [neutron] admin_* out (lib.compute), and the new broker.
  -- A canary wave first: the rest only once it runs.
  local function compute_edits(host, ctx)
    local edits = compute.config_edits(ctx, to)
    for _, e in ipairs(transport("nova", "/etc/nova/nova.conf") and lib.transport_edits(ctx, "nova", "/etc/nova/nova.conf") or {}) do
      edits[#edits + 1] = e
    end
    return edits
  end
  -- Queens computes write their instances' placement allocations only while a nova-compute row
  -- older than Pike remains: a guard row keeps them doing so until the allocations are checked.
  local pike = release.index(to) >= release.index("pike")
  if pike and release.index(from) < release.index("pike") then compute.heal_guard() end
  local canary, rest = compute.canary("computes", spec.compute_canary or 2)
  lib.switch_venv {
    name = "switch-nova-compute-canary", component = "nova", release = to, from = from, group = "computes", on = canary,
    roles = { "compute" }, max_fail = 0, edits = compute_edits,
  }
  lib.switch_venv {
    name = "switch-nova-compute", component = "nova", release = to, from = from, group = "computes", on = rest,
    roles = { "compute" }, batch = spec.compute_batch or "10%", parallel = 500, max_fail = spec.max_fail or "1%",
    edits = compute_edits,
  }
  -- The L3/DHCP agents one network node at a time (parallel restarts of HA routers cut traffic).
  lib.switch_venv {
    name = "switch-network-agents", component = "neutron", release = to, from = from, group = "network_nodes",
    roles = { "network", "openvswitch-agent" }, batch = 1, gate = network_gate,
    after = network_dataplane and { network_dataplane.name } or nil,
    edits = transport("neutron", "/etc/neutron/neutron.conf"), restarted = network_dataplane and network_dataplane.restarted or nil,
  }
  lib.switch_venv {
    name = "switch-ovs-agents", component = "neutron", release = to, from = from, group = "computes",
    roles = { "openvswitch-agent" }, batch = spec.agent_batch or 50, adaptive = true, gate = agents_gate,
    parallel = 1000, max_fail = spec.max_fail or "1%", after = { neutron_api, dataplane and dataplane.name or nil },
    edits = transport("neutron", "/etc/neutron/neutron.conf"), restarted = dataplane and dataplane.restarted or nil,
  }
  if failover then neutron.failover_restore { group = "neutron_new", release = to } end
  -- Every agent of the region reports to the new servers; those of hosts the region no longer
  -- has (retired computes) go.
  neutron.remove_stale_agents { after = { neutron.agents_check() } }
  step "nova-discover-hosts" {
    desc = "map the compute nodes to their cell (nova-manage cell_v2 discover_hosts)",
    tags = { "nova" },
    run = function(ctx) nova.discover_hosts(inventory.group("nova_new")[1]) end,
    undo = function(ctx) end, -- host mappings go back with the nova databases
  }
  -- The allocations checked while the guard (or a retired compute's old row) still makes the
  -- computes write them; then the rows of hosts the region no longer has go (they cap the compute
  -- RPC API and block multiattach), and the services, which cache the minimum version, restart.
  if pike then
    local allocations = compute.allocations_check()
    compute.remove_stale_services { before = { allocations } }
    local versions = compute.service_versions_check { to = to }
    lib.rolling_restart { name = "restart-nova-controllers", component = "nova", group = "nova_new", release = to,
                          roles = { "api", "scheduler", "conductor" }, batch = 1, after = { nova_api } }
    lib.rolling_restart { name = "restart-nova-computes", component = "nova", group = "computes", release = to,
                          roles = { "compute" }, batch = spec.compute_batch or "10%", parallel = 500,
                          max_fail = spec.max_fail or "1%", after = { versions } }
  end
  lib.end_maintenance { component = "neutron" }
  lib.end_maintenance { component = "nova" }
end

return M
