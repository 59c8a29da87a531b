-- The runbook library: functions that DECLARE steps (each with its undo) from which an
-- upgrade runbook is assembled. Call them at the top level of a runbook file:
--
--   local lib = require "lib.upgrade"
--   lib.maintenance { component = "glance", mode = "writes" }
--   lib.stop_services { component = "glance", group = "glance_old", release = "kilo" }
--   lib.backup_databases { names = { "glance" } }
--
-- Every function returns the name of the step it declared (or a list of names), so a
-- runbook can name them in `before`/`after` or in `--from`. See docs/library.md.
local common = require "lib.common"
local config = require "lib.config"
local nodes = require "lib.nodes"

---@class lib.MaintenanceSpec: table<"component"|"mode"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field component string the VIP
---@field mode? "writes"|"all" (default "writes")
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.EndMaintenanceSpec: table<"component"|"mode"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field component string the VIP
---@field mode? "writes"|"all" what the undo puts back (default "writes")
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.BackupDatabasesSpec: table<"names"|"via"|"force"|"lock_wait"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field names string|string[] the region's database entries
---@field via? string dump through this entry's connection
---@field force? boolean the undo restores past open connections
---@field lock_wait? Duration how long the restore waits for locks
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.CreateDatabasesSpec: table<"names"|"via"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field names string|string[]
---@field via? string the connection to create them through (default "nova")
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.DbSyncSpec: table<DbSyncDeclareKey|"component", any>
---@field component string e.g. "glance" (`on` defaults to "<component>_new")
---@field from? string declaration time: the release the region is at
---@field to? string declaration time: the release to reach
---@field releases? table<string, {host: string, venv?: string}> where each release's tools live (else the region's)
---@field on? Selector fallback: the first host of this selector
---@field venv? string fallback virtualenv, "{release}" replaced: "/opt/venvs/{release}"
---@field prefix? string step names: prefix .. release (default "<component>-db-sync-")
---@field slurp? boolean false: walk every release even on a SLURP-to-SLURP hop (default: skip the one between)
---@field online_migrations? boolean false: leave them to a later step
---@field max_count? integer batch size of the online migrations
---@field max_rounds? integer give up after this many batches
---@field config_files? string[] replaces the commands' --config-file options
---@field transport_url? string|SecretRef for nova's cell_v2 simple_cell_setup
---@field timeout? Duration per command and per declared step

---@class lib.SwitchVipSpec: table<"component"|"to"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field component string the VIP
---@field to? string the group (default "<component>_new")
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.RegisterEndpointsSpec: table<"services"|"remove"|"keystone"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field services? ({component: string, release: string, vip?: string}|{service: string, path: string, vip: string})[]
---@field remove? string[] services whose endpoints are deleted
---@field keystone? string the Keystone release the plan shows paths for
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.RabbitReshapeSpec: table<"vhost"|"locator"|"notifications"|"rpc"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field vhost? string (default "/")
---@field locator? string queue-master-locator (default "min-masters")
---@field notifications? string pattern of the notification queues
---@field rpc? string pattern of the RPC queues
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags

---@class lib.DbLoadCheckSpec: table<"name"|"max"|"database"|"within"|"every"|"phase", any>
---@field name? string the check's name (default "neutron-db-load")
---@field max? integer Threads_running below this (default 28)
---@field database? string (default "neutron")
---@field within? Duration
---@field every? Duration
---@field phase? "before"|"after"|"always" (default "always")

---@class lib.ApiCheckSpec: table<"component"|"name"|"within"|"every"|"phase", any>
---@field component string
---@field name? string the check's name (default "<component>-api")
---@field within? Duration
---@field every? Duration
---@field phase? "before"|"after"|"always" (default "always")

---@class lib.upgrade: lib.common, lib.config, lib.nodes
local M = {}

local concat = table.concat
local list, with_waves, describe_units, check_spec = common.list, common.with_waves, common.describe_units, common.check_spec

-- The helpers and the steps of the other modules, under one name.
for _, mod in ipairs({ common, config, nodes }) do
  for k, v in pairs(mod) do
    if type(v) == "function" and k ~= "list" and k ~= "with_waves" and k ~= "describe_units" and k ~= "check_spec" then
      M[k] = v
    end
  end
end

-- Maintenance: block and unblock user actions ------------------------------------------

--- Puts a VIP in maintenance (`writes`: reads pass, writes get 503; `all`); undo lifts it.
---@param spec lib.MaintenanceSpec
function M.maintenance(spec)
  check_spec("lib.maintenance", spec, { "component", "mode" })
  local c, mode = spec.component, spec.mode or "writes"
  local name = spec.name or ("block-" .. c .. "-" .. mode)
  step(name) (with_waves(spec, {
    desc = "block user actions on " .. c .. " (" .. mode .. " get 503 at the VIP)",
    tags = spec.tags or { c, "maintenance" },
    run = function(ctx) vip.maintenance(c, mode) end,
    undo = function(ctx) vip.maintenance(c, false) end,
  }))
  return name
end

--- Lifts a VIP's maintenance; undo puts `mode` back (the rollback walks back into the window).
---@param spec lib.EndMaintenanceSpec
function M.end_maintenance(spec)
  check_spec("lib.end_maintenance", spec, { "component", "mode" })
  local c, mode = spec.component, spec.mode or "writes"
  local name = spec.name or ("unblock-" .. c)
  step(name) (with_waves(spec, {
    desc = "let users back in to " .. c,
    tags = spec.tags or { c, "maintenance" },
    run = function(ctx) vip.maintenance(c, false) end,
    undo = function(ctx) vip.maintenance(c, mode) end,
  }))
  return name
end

-- Services ------------------------------------------------------------------------------

--- Stops units on a group's hosts; undo starts again those that were running.
---@param spec lib.UnitsSpec
function M.stop_services(spec)
  check_spec("lib.stop_services", spec, common.UNIT_FIELDS)
  local name = spec.name or ("stop-" .. spec.group)
  step(name) (with_waves(spec, {
    desc = "stop " .. describe_units(spec) .. " on " .. spec.group,
    on = spec.group, tags = spec.tags or { spec.component or "services" },
    run = function(host, ctx)
      local stopped = {}
      for _, u in ipairs(M.units(ctx, spec, host)) do
        local svc = host:service(u)
        if svc:active() then svc:stop(); stopped[#stopped + 1] = u end
      end
      host.state.stopped = stopped
    end,
    undo = function(host, ctx)
      -- In flight when Ferry died: nothing was recorded; start every unit (start is idempotent).
      for _, u in ipairs(host.state.stopped or M.units(ctx, spec, host)) do host:service(u):start() end
    end,
  }))
  return name
end

--- Starts units on a group's hosts (enabling them); undo stops them.
---@param spec lib.UnitsSpec
function M.start_services(spec)
  check_spec("lib.start_services", spec, common.UNIT_FIELDS)
  local name = spec.name or ("start-" .. spec.group)
  step(name) (with_waves(spec, {
    desc = "start " .. describe_units(spec) .. " on " .. spec.group,
    on = spec.group, tags = spec.tags or { spec.component or "services" },
    run = function(host, ctx)
      local started = {}
      for _, u in ipairs(M.units(ctx, spec, host)) do
        host:service(u):start()
        started[#started + 1] = u
        host.state.started = started
      end
    end,
    undo = function(host, ctx)
      -- Units this host started (all of them if Ferry died before recording), newest first;
      -- a unit that is not running is left alone.
      local units = host.state.started or M.units(ctx, spec, host)
      for i = #units, 1, -1 do
        local svc = host:service(units[i])
        if svc:active() then svc:stop() end
      end
    end,
  }))
  return name
end

--- Restarts units in waves, optionally behind a gate that adapts the wave size
--- (`batch`, `gate`, `adaptive = true`); undo restarts them the same way.
---@param spec lib.UnitsSpec
function M.rolling_restart(spec)
  check_spec("lib.rolling_restart", spec, common.UNIT_FIELDS)
  local name = spec.name or ("restart-" .. spec.group)
  step(name) (with_waves(spec, {
    desc = "restart " .. describe_units(spec) .. " on " .. spec.group .. " in waves",
    on = spec.group, tags = spec.tags or { spec.component or "services" },
    run = function(host, ctx) for _, u in ipairs(M.units(ctx, spec, host)) do host:service(u):restart() end end,
    undo = function(host, ctx) for _, u in ipairs(M.units(ctx, spec, host)) do host:service(u):restart() end end,
  }))
  return name
end

-- Databases -----------------------------------------------------------------------------

--- Dumps databases (db.backup); undo restores them, newest first. Put it before a schema
--- chain: the chain's steps have no undo, the restore is their rollback. `force = true`
--- restores past connections still open (services that this runbook does not stop).
---@param spec lib.BackupDatabasesSpec
function M.backup_databases(spec)
  check_spec("lib.backup_databases", spec, { "names", "via", "force", "lock_wait" })
  local names = list(spec.names)
  local name = spec.name or ("backup-" .. concat(names, "-"))
  step(name) (with_waves(spec, {
    desc = "dump " .. concat(names, ", ") .. " (the rollback restores them: schema migrations are one-way)",
    tags = spec.tags or { "backup" },
    run = function(ctx)
      ctx.state.backups = ctx.state.backups or {}
      for _, n in ipairs(names) do
        local artifact = db.backup(n, spec.via and { via = spec.via } or nil)
        ctx.state.backups[name .. "/" .. n] = artifact
        if artifact then log.info("backed up", n, artifact.bytes, "bytes") end
      end
    end,
    undo = function(ctx)
      local saved = ctx.state.backups or {}
      for i = #names, 1, -1 do
        local artifact = saved[name .. "/" .. names[i]]
        if artifact then
          db.restore(artifact, { force = spec.force, lock_wait = spec.lock_wait })
        else
          log.warn("no backup of " .. names[i] .. " was recorded by " .. name .. ": nothing to restore")
        end
      end
    end,
  }))
  return name
end

--- Creates databases a later release needs (nova_api, nova_cell0), through the connection
--- of an existing one (`via`, default the first name's component); undo drops the ones it created.
---@param spec lib.CreateDatabasesSpec
function M.create_databases(spec)
  check_spec("lib.create_databases", spec, { "names", "via" })
  local names = list(spec.names)
  local via = spec.via or "nova"
  local name = spec.name or ("create-" .. concat(names, "-"))
  local function q(n) return "`" .. n:gsub("`", "") .. "`" end
  step(name) (with_waves(spec, {
    desc = "create the databases " .. concat(names, ", ") .. " (empty) if they are missing",
    tags = spec.tags or { "databases" },
    run = function(ctx)
      local c = db.connect(via)
      local created = {}
      for _, n in ipairs(names) do
        local database = n
        if ctx.vars and type(ctx.vars.database_names) == "table" and ctx.vars.database_names[n] then
          database = ctx.vars.database_names[n]
        end
        if c:exec("CREATE DATABASE IF NOT EXISTS " .. q(database)) > 0 then created[#created + 1] = database end
      end
      c:close()
      ctx.state.created_databases = ctx.state.created_databases or {}
      ctx.state.created_databases[name] = created
    end,
    undo = function(ctx)
      local created = (ctx.state.created_databases or {})[name] or {}
      if #created == 0 then return end
      local c = db.connect(via)
      for i = #created, 1, -1 do c:exec("DROP DATABASE IF EXISTS " .. q(created[i])) end
      c:close()
    end,
  }))
  return name
end

--- Declares a component's schema chain (from → to), one step per release, where the
--- region's `releases:` puts each release's tools (else the first host of `on`, default
--- `<component>_new`, with `venv`, default `/opt/venvs/{release}`). The chain is one-way:
--- declare `backup_databases` before it.
---@param spec lib.DbSyncSpec
function M.db_sync(spec)
  -- The component's db_sync checks the rest of the spec (its own fields and the step's).
  if type(spec) ~= "table" then validate_spec("lib.db_sync", spec, {}) end
  if type(spec.component) ~= "string" then
    error("lib.db_sync { component = ..., from = ..., to = ... }: the component is missing", 2)
  end
  local mod = M.module(spec.component)
  local opts = {}
  for k, v in pairs(spec) do if k ~= "component" then opts[k] = v end end
  opts.on = spec.on or (spec.component .. "_new")
  opts.venv = spec.venv or "/opt/venvs/{release}"
  return mod.db_sync(opts)
end

-- VIPs ----------------------------------------------------------------------------------

--- Sends a VIP's traffic to `to` (default `<component>_new`); undo puts it back
--- (vip.restore). `after` names checks that must pass once traffic moved.
---@param spec lib.SwitchVipSpec
function M.switch_vip(spec)
  check_spec("lib.switch_vip", spec, { "component", "to" })
  local c = spec.component
  local to = spec.to or (c .. "_new")
  local name = spec.name or ("switch-vip-" .. c)
  step(name) (with_waves(spec, {
    desc = "send " .. c .. "'s VIP traffic to " .. to,
    tags = spec.tags or { c, "vip" },
    run = function(ctx)
      ctx.state.vips = ctx.state.vips or {}
      ctx.state.vips[name] = vip.switch(c, to)
    end,
    undo = function(ctx)
      local previous = (ctx.state.vips or {})[name]
      if previous then vip.restore(previous) else log.warn("no VIP state saved by " .. name) end
    end,
  }))
  return name
end

-- Catalog -------------------------------------------------------------------------------

--- Registers endpoints in Keystone; undo restores the catalog snapshot taken first.
--- `services`: a list of
---   { component = "cinder", release = "queens", vip = "cinder" }   -- what that release needs
---   { service = "cinderv2", path = "/v2/%(project_id)s", vip = "cinder" } -- re-point an existing one
--- `remove`: service names or types whose endpoints go (Queens removes Cinder v1: `volume`).
--- `keystone`: the release of the region's Keystone when `vars.keystone_release` does not say
--- (a runbook that leaves Keystone alone passes its `from`). The project key of every path
--- follows it: `%(tenant_id)s` for Kilo and Liberty, which leave an endpoint naming
--- `%(project_id)s` out of every token's catalog; `%(project_id)s` from Mitaka. Once
--- registered, each endpoint is looked for in a new token's catalog (what nova and the
--- others read), and the step fails naming those Keystone left out.
---@param spec lib.RegisterEndpointsSpec
function M.register_endpoints(spec)
  check_spec("lib.register_endpoints", spec, { "services", "remove", "keystone" })
  local name = spec.name or "register-endpoints"
  local keystone = require "ferry.keystone"
  -- What the plan shows: each path with the project key of the Keystone the runbook names
  -- (vars.keystone_release decides at run time).
  local function planned(path) return spec.keystone and keystone.url_template(path, spec.keystone) or path end
  local what = {}
  for _, s in ipairs(spec.services or {}) do
    if s.service then
      what[#what + 1] = "re-point " .. s.service .. " at the " .. (s.vip or "?") .. " VIP" .. planned(s.path or "")
    else
      for _, e in ipairs((M.module(s.component).step(s.release) or {}).endpoints or {}) do
        what[#what + 1] = "register " .. e.type .. " (" .. e.service .. ") at the " .. (s.vip or s.component) .. " VIP" .. planned(e.path)
      end
    end
  end
  for _, r in ipairs(spec.remove or {}) do what[#what + 1] = "remove " .. r end
  step(name) (with_waves(spec, {
    desc = "catalog: " .. concat(what, ", ") .. " (project key as the region's Keystone"
      .. (spec.keystone and (", " .. spec.keystone .. " unless vars.keystone_release says,") or "")
      .. " substitutes it; checked in a token's catalog; undo restores the snapshot)",
    tags = spec.tags or { "catalog" },
    run = function(ctx)
      local ks_release = keystone.region_release(ctx, spec.keystone)
      local key = keystone.project_key(ks_release)
      ctx.state.catalogs = ctx.state.catalogs or {}
      ctx.state.catalogs[name] = catalog.snapshot()
      local expected = {}   -- { service, interface, url } that a token's catalog must show
      for _, s in ipairs(spec.services or {}) do
        local base = vip.url(s.vip or s.component)
        local interfaces = s.interfaces or { "public", "internal", "admin" }
        if s.service then
          local url = base .. keystone.url_template(s.path or "", ks_release)
          for _, interface in ipairs(interfaces) do
            catalog.ensure_endpoint { service = s.service, interface = interface, url = url }
            expected[#expected + 1] = { service = s.service, interface = interface, url = url }
          end
        else
          local mod = M.module(s.component)
          mod.ensure_endpoints { release = s.release, base_url = base, interfaces = s.interfaces, project_key = key }
          for _, e in ipairs((mod.step(s.release) or {}).endpoints or {}) do
            for _, interface in ipairs(interfaces) do
              local url = base .. keystone.url_template(e.path, ks_release)
              expected[#expected + 1] = { service = e.service, interface = interface, url = url }
            end
          end
        end
      end
      for _, r in ipairs(spec.remove or {}) do
        for _, e in ipairs(catalog.endpoints { service = r }) do catalog.delete_endpoint(e.id) end
      end
      if ctx.dry_run then return end
      local missing, tokens = {}, {}
      for _, x in ipairs(expected) do
        tokens[x.service] = tokens[x.service] or keystone.token_endpoints(x.service)
        if not tokens[x.service][x.interface] then missing[#missing + 1] = x.service .. " " .. x.interface .. " (" .. x.url .. ")" end
      end
      if #missing > 0 then
        fail("a token's catalog lacks " .. concat(missing, ", ") .. ": the region's Keystone (" .. ks_release
          .. ") could not format these URLs, so the services would not find them")
      end
      log.info("a token's catalog carries the " .. #expected .. " endpoint(s) registered (Keystone " .. ks_release .. ", "
        .. key .. ")")
    end,
    undo = function(ctx)
      local snap = (ctx.state.catalogs or {})[name]
      if snap then catalog.restore(snap) end
    end,
  }))
  return name
end

-- RabbitMQ ------------------------------------------------------------------------------

local function restore_policies(vhost, saved)
  local keep = {}
  for _, p in ipairs(saved or {}) do keep[p.name] = true end
  for _, p in ipairs(broker.policies { vhost = vhost }) do
    if not keep[p.name] then broker.delete_policy(vhost, p.name) end
  end
  for _, p in ipairs(saved or {}) do
    broker.policy(vhost, p.name, { pattern = p.pattern, definition = p.definition, apply_to = p.apply_to, priority = p.priority })
  end
end

--- Reshapes the broker's policies: notification queues lazy, the HA (mirroring) policy off
--- for RPC queues, queue masters placed by `locator` (min-masters), and the notification queues
--- that consumers need (billing, audit: vars.notification_queues, or the consumers' own, see
--- lib.notifications) mirrored (`ha_mode`, default "all", synchronised automatically) so a node's
--- loss loses none of their messages. Classic mirroring is what Queens can use: quorum queues need
--- RabbitMQ 3.8 and a queue declared with x-queue-type quorum, which Queens' oslo.messaging
--- (5.35.x) never declares (no policy turns a classic queue into one). Undo puts back every policy
--- of the vhost as it was.
---@param spec lib.RabbitReshapeSpec
function M.rabbit_reshape(spec)
  check_spec("lib.rabbit_reshape", spec, { "vhost", "locator", "notifications", "rpc" })
  local vhost = spec.vhost or "/"
  local locator = spec.locator or "min-masters"
  local notifications = spec.notifications or "^(notifications|versioned_notifications)\\."
  local name = spec.name or "rabbit-policies"
  local rabbitmq = require "ferry.rabbitmq"
  local notifications_lib = require "lib.notifications"
  step(name) (with_waves(spec, {
    desc = "broker policies on " .. vhost .. ": notifications lazy, no HA mirroring for RPC queues, queue-master-locator "
      .. locator .. ", the notification queues consumers need (vars.notification_queues) mirrored (undo restores the policies)",
    tags = spec.tags or { "rabbitmq" },
    run = function(ctx)
      local before = broker.policies { vhost = vhost }
      ctx.state.policies = ctx.state.policies or {}
      ctx.state.policies[name] = before
      -- A queue gets one policy (the highest priority): mirroring policies go, and the
      -- two below cover every queue.
      for _, p in ipairs(before) do
        if type(p.definition) == "table" and p.definition["ha-mode"] ~= nil then
          log.info("removing mirroring policy " .. p.name .. " (" .. p.pattern .. ")")
          broker.delete_policy(vhost, p.name)
        end
      end
      broker.policy(vhost, "rpc-queues", {
        pattern = spec.rpc or ".*", definition = rabbitmq.definition { locator = locator }, apply_to = "queues", priority = 0,
      })
      broker.policy(vhost, "notifications-lazy", {
        pattern = notifications, definition = rabbitmq.definition { lazy = true, locator = locator },
        apply_to = "queues", priority = 1,
      })
      -- The queues billing and audit read stay mirrored (one policy per queue: the highest priority,
      -- so lazy mode and the locator go in its definition too).
      local needed = spec.mirror or notifications_lib.queues(ctx)
      if #needed > 0 then
        broker.policy(vhost, "notifications-mirrored", {
          pattern = notifications_lib.pattern(needed),
          definition = rabbitmq.definition { lazy = true, locator = locator, ha_mode = spec.ha_mode or "all", ha_params = spec.ha_params },
          apply_to = "queues", priority = 2,
        })
        log.info("notification queues mirrored for their consumers: " .. concat(needed, ", "))
      end
    end,
    undo = function(ctx)
      local saved = (ctx.state.policies or {})[name]
      if saved then restore_policies(vhost, saved) end
    end,
  }))
  return name
end

-- Checks --------------------------------------------------------------------------------

--- Declares a check that the neutron database is calm (Threads_running below `max`):
--- the gate of agent restarts. Returns its name and its probe (for a gate that runs it with another).
---@param spec? lib.DbLoadCheckSpec
function M.db_load_check(spec)
  spec = validate_spec("lib.db_load_check", spec or {}, { "name", "max", "database", "within", "every", "phase" })
  local name = spec.name or "neutron-db-load"
  local max = spec.max or 28
  local function probe(ctx)
    local c = db.connect(spec.database or "neutron")
    local threads = tonumber(c:status("Threads_running")) or 0
    c:close()
    return threads < max, "Threads_running " .. threads
  end
  check(name) {
    desc = "the " .. (spec.database or "neutron") .. " database is not overloaded (Threads_running below " .. max .. ")",
    within = spec.within or "15m", every = spec.every or "30s", phase = spec.phase,
    probe = probe,
  }
  return name, probe
end

--- Declares a check that a component's API answers through its VIP.
---@param spec lib.ApiCheckSpec
function M.api_check(spec)
  validate_spec("lib.api_check", spec, { "component", "name", "within", "every", "phase" })
  local c = spec.component
  local name = spec.name or (c .. "-api")
  check(name) {
    desc = c .. " answers through its VIP",
    within = spec.within or "2m", every = spec.every or "10s", phase = spec.phase,
    probe = M.module(c).health,
  }
  return name
end

return M
