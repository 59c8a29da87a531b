-- Preflight checks for an upgrade, and the step that holds the run until they pass.
-- Each function declares one check (named as returned); `preflight.step` declares the
-- step that runs them all before anything changes. They describe the region before the
-- upgrade (phase "before", unless the spec gives another): a drill runs them after each
-- rollback, not after the upgrade.
local common = require "lib.common"

---@class lib.preflight.CheckSpec: table<"within"|"every"|"phase", any>
---@field within? Duration
---@field every? Duration
---@field phase? "before"|"after"|"always" (default "before")

---@class lib.preflight.OnlineMigrationsDoneSpec: table<"from"|"nova_group"|"phase", any>
---@field from string the release the region is at
---@field nova_group? string
---@field phase? "before"|"after"|"always"

---@class lib.preflight.DatabasesReachableSpec: table<"names"|"phase", any>
---@field names string[]
---@field phase? "before"|"after"|"always"

---@class lib.preflight.BackupSpaceSpec: table<"phase", any>
---@field phase? "before"|"after"|"always"

---@class lib.preflight.NewControllersSpec: table<"groups"|"to"|"roles"|"phase", any>
---@field groups string[]
---@field to string
---@field roles? table<string, string[]>
---@field phase? "before"|"after"|"always"

---@class lib.preflight.NewtonNovaVersionSpec: table<"min"|"on"|"venv"|"phase", any>
---@field min? string (default nova.newton_cell_setup_minimum)
---@field on? Selector
---@field venv? string
---@field phase? "before"|"after"|"always"

---@class lib.preflight.StepSpec: table<"name", any>
---@field name? string (default "preflight")

---@class lib.preflight
local M = {}

-- Declares check `name` around a plugin's probe, waiting `within` (spec, else the default)
-- and asking `every`; returns the name.
local function probe_check(name, desc, probe, spec, within, every)
  spec = validate_spec("preflight." .. name:gsub("-", "_"), spec or {}, { "within", "every", "phase" })
  check(name) {
    desc = desc, within = spec.within or within, every = spec.every or every, probe = probe, phase = spec.phase or "before",
  }
  return name
end

--- No volume attaching, creating, deleting, detaching, migrating, uploading (to an image),
--- downloading (from one), backing-up, restoring-backup, extending or retyping.
---@param spec lib.preflight.CheckSpec
function M.no_busy_volumes(spec)
  return probe_check("no-busy-volumes", "no volume in a transitional state (attaching, creating, deleting, detaching, migrating, "
    .. "uploading, downloading, backing-up, restoring-backup, extending, retyping)",
    require("ferry.cinder").preflight.busy_volumes, spec, "0s", "30s")
end

--- No image upload in progress (Glance images in status `saving`).
---@param spec lib.preflight.CheckSpec
function M.no_image_uploads(spec)
  return probe_check("no-image-uploads", "no image upload in progress (status saving)",
    require("ferry.glance").preflight.uploads_in_progress, spec, "30m", "1m")
end

--- No instance building, migrating or resizing.
---@param spec lib.preflight.CheckSpec
function M.no_instances_in_flight(spec)
  return probe_check("no-instances-in-flight", "no instance building, migrating or resizing",
    require("ferry.nova").preflight.instances_in_flight, spec, "0s", "30s")
end

--- Before a walk from Kilo: no instance that Kilo's flavor migration would skip (a task_state,
--- or vm_state resized or rescued): it exits 0 past them and Liberty's migration 291 aborts.
---@param spec lib.preflight.CheckSpec
function M.no_flavor_migration_blockers(spec)
  return probe_check("no-flavor-migration-blockers",
    "no instance with a task_state, or resized or rescued (Kilo's migrate_flavor_data skips them; Liberty's 291 aborts)",
    require("ferry.nova").preflight.flavor_migration_blockers, spec, "0s", "30s")
end

--- The online data migrations of the release the region runs are complete: from Ocata
--- on, Cinder's (consistency groups moved to groups, which Pike's 097 enforces); from
--- Mitaka on, Nova's (`nova-manage db online_data_migrations --max-count 1` with the
--- running release's tools, read by that release's contract: done when the batch found
--- nothing to migrate; a batch that migrated its row means rows were left, as the real
--- command does; "Error attempting to run" fails).
--- Before Mitaka there is nothing to check: Kilo's flavor migration is a step of the
--- schema chain itself (`nova.db_sync`), and Kilo's consistency groups are ordinary data
--- that Ocata's migrations move later in the chain. Asked for such a release, it says so.
---@param spec lib.preflight.OnlineMigrationsDoneSpec
function M.online_migrations_done(spec)
  validate_spec("preflight.online_migrations_done", spec, { "from", "nova_group", "phase" })
  local from = spec.from
  local cinder = require "ferry.cinder"
  local nova = require "ferry.nova"
  local release = require "ferry.release"
  local cinder_odm = release.index(from) >= release.index("ocata")
  local nova_has_odm = release.index(from) >= release.index("mitaka")
  if not nova_has_odm then
    error("preflight.online_migrations_done { from = \"" .. from .. "\" }: " .. from
      .. " has no online data migrations to check (its flavor migration is a step of nova.db_sync)", 2)
  end
  local parts = {}
  if cinder_odm then parts[#parts + 1] = "cinder" end
  parts[#parts + 1] = "nova"
  check "online-migrations-done" {
    phase = spec.phase or "before",
    desc = "the online data migrations of " .. from .. " are complete (" .. table.concat(parts, ", ") .. ")",
    probe = function(ctx)
      if cinder_odm then
        local ok, why = cinder.preflight.ocata_migrations_done(ctx)
        if not ok then return false, "cinder: " .. why end
      end
      -- One batch of one row with the running release's tools, read as that release's
      -- contract says (Mitaka exits 0 whatever is left; Newton … Rocky print "Error attempting
      -- to run" and exit 0 or 1; NovaKnowledge.onlineMigrations cites them).
      local host = inventory.group(spec.nova_group or "nova_old")[1]
      local cmd
      for _, c in ipairs((nova.step(from) or {}).commands or {}) do
        if c.online_migrations then cmd = c end
      end
      local ok, state = pcall(release.online_migrations_batch, { host = host, release = from }, cmd, {}, ctx, 1)
      if not ok then return false, "nova: online data migrations of " .. from .. " fail: " .. tostring(state) end
      if state ~= "done" then
        return false, "nova: online data migrations of " .. from .. " not complete (a batch of one still migrated a row): "
          .. "run them until done"
      end
      return true
    end,
  }
  return "online-migrations-done"
end

--- Every database the runbook touches answers (SELECT 1).
---@param spec lib.preflight.DatabasesReachableSpec
function M.databases_reachable(spec)
  validate_spec("preflight.databases_reachable", spec, { "names", "phase" })
  local names = spec.names
  check "databases-reachable" {
    phase = spec.phase or "before",
    desc = "the databases answer: " .. table.concat(names, ", "),
    probe = function(ctx)
      local bad = {}
      for _, n in ipairs(names) do
        local ok, err = pcall(function()
          local c = db.connect(n)
          c:scalar("SELECT 1")
          c:close()
        end)
        if not ok then bad[#bad + 1] = tostring(err) end
      end
      if #bad == 0 then return true end
      return false, table.concat(bad, "; ")
    end,
  }
  return "databases-reachable"
end

--- Enough free space where the dumps go: ctx.vars.backup_space = { host =, path =, min_free_gb = }
--- (the host that writes them: the machine that runs Ferry, reached as a host of the region).
--- Without that setting the check warns and passes.
---@param spec? lib.preflight.BackupSpaceSpec
function M.backup_space(spec)
  spec = validate_spec("preflight.backup_space", spec or {}, { "phase" })
  check "backup-space" {
    phase = spec.phase or "before",
    desc = "the backup disk has room for the dumps (vars.backup_space)",
    probe = function(ctx)
      local b = ctx.vars and ctx.vars.backup_space
      if type(b) ~= "table" then
        log.warn("vars.backup_space is not set: the free space for database dumps is not checked")
        return true
      end
      local r = inventory.host(b.host):run("df -Pk " .. (b.path or ".ferry") .. " | awk 'NR==2 {print $4}'", { check = false })
      local free_kb = tonumber((r.stdout or ""):match("%d+"))
      if not free_kb then return false, "cannot read the free space of " .. tostring(b.path) .. " on " .. b.host end
      local need = (b.min_free_gb or 100) * 1024 * 1024
      if free_kb >= need then return true end
      return false, string.format("%.1f GB free in %s on %s, %d GB needed", free_kb / 1048576, b.path, b.host, b.min_free_gb or 100)
    end,
  }
  return "backup-space"
end

--- The new controllers answer (a command runs on each) and, given `to`, have the services
--- of their component at that release installed (`systemctl cat` finds each unit; the
--- component is the group's name before `_new`, the package family the host's: `host.family`).
--- `roles = { cinder = { "api", "scheduler", "volume" } }` limits a component to the roles
--- the runbook starts (default: every controller service of the release).
---@param spec lib.preflight.NewControllersSpec
function M.new_controllers(spec)
  validate_spec("preflight.new_controllers", spec, { "groups", "to", "roles", "phase" })
  local groups = spec.groups
  local to = spec.to
  local roles = spec.roles or {}
  -- The component of each `<component>_new` group, known now (an unknown one is an error here).
  local aliases = { rabbit = "rabbitmq" }
  local modules = {}
  for _, g in ipairs(groups) do
    local component = g:match("^(.-)_new$")
    if to and component then
      component = aliases[component] or component
      local ok, module = pcall(require, "ferry." .. component)
      if not ok then
        error("preflight.new_controllers: group " .. g .. " names component '" .. component .. "', which has no plugin (ferry."
          .. component .. ")", 2)
      end
      modules[g] = { name = component, module = module }
    end
  end
  -- Every unit a host must have: of each component whose `_new` group it is in.
  local function units_for(host, ctx)
    local family = host.family or (ctx.vars and ctx.vars.family) or "rpm"   -- the host's own (Ubuntu controllers, RDO computes)
    local units, seen = {}, {}
    for g, m in pairs(modules) do
      for _, h in ipairs(inventory.group(g)) do
        if h.name == host.name then
          local wanted = roles[m.name] or { "controller" }
          for _, role in ipairs(wanted) do
            for _, u in ipairs(m.module.services(family, role, to)) do
              if not seen[u] then seen[u] = true; units[#units + 1] = u end
            end
          end
        end
      end
    end
    table.sort(units)
    return units
  end
  check "new-controllers-answer" {
    phase = spec.phase or "before",
    desc = "the new controllers answer" .. (to and (" and have their " .. to .. " services installed") or "") .. ": "
      .. table.concat(groups, ", "),
    on = groups,
    probe = function(host, ctx)
      local r = host:run("true", { check = false, timeout = "30s" })
      if r.code ~= 0 then return false, "exit " .. tostring(r.code) end
      local missing = {}
      for _, unit in ipairs(units_for(host, ctx)) do
        if host:run("systemctl cat " .. unit, { check = false, timeout = "30s" }).code ~= 0 then
          missing[#missing + 1] = unit
        end
      end
      if #missing > 0 then return false, "not installed: " .. table.concat(missing, ", ") end
      return true
    end,
  }
  return "new-controllers-answer"
end

local older = common.older

--- Before a walk through Newton: the Newton tools (where the region's releases: puts them,
--- else `on`, default the first of nova_new, with `venv`, default /opt/venvs/newton) are
--- `min` (default nova.newton_cell_setup_minimum, 14.0.7) or later. 14.0.0…14.0.3 require
--- `simple_cell_setup --transport-url`; before 14.0.7 cell0's database is named after the
--- API database (nova_api_cell0), not nova_cell0, which the library creates.
---@param spec? lib.preflight.NewtonNovaVersionSpec
function M.newton_nova_version(spec)
  spec = validate_spec("preflight.newton_nova_version", spec or {}, { "min", "on", "venv", "phase" })
  local nova = require "ferry.nova"
  local release = require "ferry.release"
  local min = spec.min or nova.newton_cell_setup_minimum
  check "newton-nova-version" {
    phase = spec.phase or "before",
    desc = "Newton's nova-manage is " .. min .. " or later (its cell setup: --transport-url optional, cell0 named nova_cell0)",
    probe = function(ctx)
      local where = release.tools(ctx, "newton", { on = spec.on or "nova_new", venv = spec.venv or "/opt/venvs/{release}" })
      local line = release.command_line(where, { argv = { "nova-manage", "--version" } })
      local r = where.host:run(line, { check = false })
      local version = ((r.stdout or "") .. " " .. (r.stderr or "")):match("(%d+%.%d+%.%d+)")
      if not version then return false, line .. " on " .. where.host.name .. " printed no version (exit " .. tostring(r.code) .. ")" end
      if older(version, min) then
        return false, "Newton's nova-manage on " .. where.host.name .. " is " .. version .. ", older than " .. min
          .. ": 14.0.0…14.0.3 need simple_cell_setup --transport-url, and before 14.0.7 cell0's database is "
          .. "named after the API database (nova_api_cell0); ship Newton " .. min .. " or later (newton-eol is 14.1.0)"
      end
      return true
    end,
  }
  return "newton-nova-version"
end

--- Before Nova moves to Queens or later: a volumev3 endpoint is registered. Returns an
--- inline check (a function) for a step's `before`: a named check would also run after the
--- drill's rollback, where a Kilo catalog rightly has no volumev3.
function M.volumev3_endpoint()
  local nova = require "ferry.nova"
  return nova.preflight.volumev3_endpoint
end

--- The step that runs the checks `names` before anything changes (nothing to undo).
---@param names string[] the checks
---@param spec? lib.preflight.StepSpec
function M.step(names, spec)
  spec = validate_spec("preflight.step", spec or {}, { "name" })
  step(spec.name or "preflight") {
    desc = "preflight: " .. table.concat(names, ", "),
    tags = { "preflight" },
    before = names,
    run = function(ctx) ctx.state.preflight_passed = true end,
    undo = function(ctx) ctx.state.preflight_passed = nil end,
  }
  return spec.name or "preflight"
end

return M
