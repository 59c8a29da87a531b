-- The schema walk Ocata → Pike → Queens of every component's databases, with each
-- release's own tools (the region's `releases:`), as the library runs it: the databases
-- dumped first, then per release Nova (api_db sync, db sync, online data migrations to
-- completion, cell_v2 discover_hosts), Cinder (db sync, online data migrations), Glance,
-- Neutron (expand, contract) and Keystone; after each release the schema versions are
-- read back and recorded (ctx.state.walk). `undo` restores the dumps. Only databases
-- change: no service is stopped or started.
--
--   ferry plan  scripts/runbooks/ocata-to-queens-walk -r sim-ocata
--   ferry drill scripts/runbooks/ocata-to-queens-walk -r sim-ocata --times 2 --fresh
--   ferry drill scripts/runbooks/ocata-to-queens-walk -r .testenv/region.yaml --times 2 --yes
--     (the lab: scripts/testenv/up mariadb releases, RELEASES="ocata pike queens")
--
-- What the walk skips, everywhere (the same runbook runs on the simulated region and on real
-- code; scripts/testenv/services/releases.sh says what the registry has):
--   * Glance Queens: glance 16.x is not on the registry; Glance walks Ocata → Pike.
--   * Keystone Queens on a MariaDB 10.3 or later: its db_sync fails half-way (migration 035's
--     unquoted `system` column); the step runs only where keystone.preflight.database_server
--     passes (MariaDB before 10.3), and says so when it skips.
--   * Ocata's Glance and Keystone (14.x, 11.x: not on the registry): on a fresh lab Pike's
--     sync creates their schemas (the seed step below leaves them empty).
--
-- Starting point: databases at Ocata with rows in them. A simulated region at Ocata has them.
-- On a lab whose nova database was never synced, the first step (seed-ocata) makes them with
-- Ocata's own commands and inserts rows by SQL the Ocata schema accepts; it runs only then,
-- and its undo leaves them (they are where the walk starts and its rollback returns to).
local lib = require "lib.upgrade"
local release = require "ferry.release"
local keystone = require "ferry.keystone"

runbook {
  name = "ocata-to-queens-walk",
  from = "ocata", to = "queens",
  description = "the schema walk Ocata → Pike → Queens of Nova, Cinder, Glance, Neutron and Keystone with each release's tools",
}

-- Every database the walk touches: the dump before it, the restore that undoes it.
local DATABASES = { "nova_api", "nova", "nova_cell0", "cinder", "glance", "neutron", "keystone" }
-- Nova's migrate_version after Ocata's sync (ferry.nova knows every release's: NovaKnowledge.lastVersion).
local OCATA_NOVA = 347

--- One manage command of release `r` where the region's releases: puts its tools; recorded as
--- the library records its own (release.record: `ran R WORDS: exit N | key lines`). Raises on a non-zero exit unless `ok` accepts it.
local function tool(ctx, r, argv, ok)
  local where = release.tools(ctx, r)
  local line = release.command_line(where, { argv = argv }, {}, ctx)
  local res = where.host:run(line, { check = false, timeout = "30m" })
  local words = table.concat(argv, " ")
  if not res.dry_run then release.record(r, line, res) end
  if res.code ~= 0 and not (ok and ok(res)) then
    fail(r .. " " .. words .. " on " .. where.host.name .. " exited " .. tostring(res.code) .. ": "
      .. ((res.stderr ~= "" and res.stderr) or res.stdout or ""):sub(-600))
  end
  return res
end

--- The schema versions of the walk's databases: migrate_version (repository:version) or
--- alembic_version heads, "-" where neither table is there.
local function versions()
  local out = {}
  for _, name in ipairs(DATABASES) do
    local c = db.connect(name)
    local parts = {}
    local ok, rows = pcall(c.query, c, "SELECT repository_id, version FROM migrate_version ORDER BY repository_id")
    if ok then
      for _, row in ipairs(rows) do parts[#parts + 1] = tostring(row.repository_id) .. ":" .. tostring(row.version) end
    end
    local ok2, heads = pcall(c.query, c, "SELECT version_num FROM alembic_version ORDER BY version_num")
    if ok2 then
      for _, row in ipairs(heads) do parts[#parts + 1] = tostring(row.version_num) end
    end
    c:close()
    out[name] = #parts > 0 and table.concat(parts, ",") or "-"
  end
  return out
end

--- The nova database's migrate_version, or nil when it has none (never synced).
local function nova_version()
  local c = db.connect("nova")
  local ok, v = pcall(c.scalar, c, "SELECT version FROM migrate_version")
  c:close()
  return ok and tonumber(v) or nil
end

-- Rows the Ocata schema accepts, so the later releases' migrations (schema and data) have
-- work: instances and their compute service, quotas and quota classes (Queens moves them to
-- the API database: migrate_quota_limits_to_api_db, migrate_quota_classes_to_api_db), Cinder
-- volumes, Neutron networks.
local SEED = {
  nova = {
    "INSERT INTO services (created_at, host, `binary`, topic, report_count, disabled, forced_down, deleted, version) "
      .. "VALUES (NOW(), 'walk-cmp1', 'nova-compute', 'compute', 0, 0, 0, 0, 16)",
    "INSERT INTO compute_nodes (created_at, service_id, host, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, "
      .. "local_gb_used, hypervisor_type, hypervisor_version, cpu_info, hypervisor_hostname, deleted, uuid) "
      .. "VALUES (NOW(), 1, 'walk-cmp1', 8, 16384, 100, 0, 0, 0, 'QEMU', 2009000, '{}', 'walk-cmp1', 0, "
      .. "'5b1f0a6e-6c4d-4a59-9d55-0c5a1e3b7a01')",
    "INSERT INTO quotas (created_at, project_id, resource, hard_limit, deleted) VALUES (NOW(), 'walk-project', 'instances', 20, 0)",
    "INSERT INTO quota_classes (created_at, class_name, resource, hard_limit, deleted) VALUES (NOW(), 'walk', 'cores', 40, 0)",
  },
  -- No cinder-volume service row: Queens' shared_targets_online_data_migration asks each volume service for its
  -- capabilities over RPC (cinder 12.0.10 waits for the broker with none up: seen hanging in the lab's drill).
  cinder = {},
  neutron = {},
}
-- Flavor 1.1 as Ocata's nova/objects/flavor.py serializes it (instance_extra.flavor: cur, old, new).
local FLAVOR = '{"cur": {"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.1", '
  .. '"nova_object.data": {"id": 1, "name": "m1.tiny", "memory_mb": 512, "vcpus": 1, "root_gb": 1, "ephemeral_gb": 0, '
  .. '"flavorid": "1", "swap": 0, "rxtx_factor": 1.0, "vcpu_weight": 0, "disabled": false, "is_public": true, '
  .. '"extra_specs": {}}}, "old": null, "new": null}'
for i = 1, 5 do
  local uuid = string.format("0c4e9c52-5a7e-4b8e-8d1c-00000000000%d", i)
  table.insert(SEED.nova, "INSERT INTO instances (created_at, uuid, project_id, user_id, host, node, vm_state, power_state, "
    .. "memory_mb, vcpus, root_gb, availability_zone, deleted, cleaned, locked) VALUES (NOW(), '" .. uuid .. "', 'walk-project', "
    .. "'walk-user', 'walk-cmp1', 'walk-cmp1', 'active', 1, 512, 1, 1, 'nova', 0, 0, 0)")
  -- The flavor lives in instance_extra (since Liberty); without it Ocata's migrate_instances_add_request_spec
  -- cannot lazy-load instance.flavor and prints "Error attempting to run" (seen on nova 15.1.5).
  table.insert(SEED.nova, "INSERT INTO instance_extra (created_at, instance_uuid, flavor, deleted) VALUES (NOW(), '" .. uuid
    .. "', '" .. FLAVOR .. "', 0)")
  table.insert(SEED.cinder, "INSERT INTO volumes (created_at, id, project_id, user_id, host, size, status, attach_status, "
    .. "availability_zone, deleted, bootable, multiattach) VALUES (NOW(), '" .. uuid:gsub("0c4e", "7d1a") .. "', 'walk-project', "
    .. "'walk-user', 'walk-vol1@lvm#lvm', 1, 'available', 'detached', 'nova', 0, 0, 0)")
  -- Every Neutron resource has its standard attributes row (Ocata: networks.standard_attr_id NOT NULL).
  table.insert(SEED.neutron, "INSERT INTO standardattributes (id, resource_type, created_at, revision_number) "
    .. "VALUES (" .. (9000 + i) .. ", 'networks', NOW(), 0)")
  table.insert(SEED.neutron, "INSERT INTO networks (id, project_id, name, status, admin_state_up, standard_attr_id) "
    .. "VALUES ('" .. uuid:gsub("0c4e", "9e2b") .. "', 'walk-project', 'walk-net" .. i .. "', 'ACTIVE', 1, " .. (9000 + i) .. ")")
end

step "seed-ocata" {
  desc = "only where the nova database was never synced (a fresh lab): Ocata's first install with Ocata's tools "
    .. "(api_db sync, cell_v2 map_cell0, db sync, cell_v2 create_cell, online data migrations; cinder db sync; "
    .. "neutron-db-manage upgrade heads), then instances, quotas, volumes and networks inserted by SQL. Glance and "
    .. "Keystone stay empty: Ocata's (14.x, 11.x) are not on the registry, Pike's sync creates them. Left in place by undo",
  tags = { "seed" },
  when = function(ctx) return (nova_version() or 0) < OCATA_NOVA end,
  run = function(ctx)
    tool(ctx, "ocata", { "nova-manage", "api_db", "sync" })
    tool(ctx, "ocata", { "nova-manage", "cell_v2", "map_cell0" })
    tool(ctx, "ocata", { "nova-manage", "db", "sync" })
    tool(ctx, "ocata", { "nova-manage", "cell_v2", "create_cell", "--name", "cell1", "--verbose" })
    tool(ctx, "ocata", { "cinder-manage", "db", "sync" })
    tool(ctx, "ocata", { "neutron-db-manage", "upgrade", "heads" })
    for _, component in ipairs({ "nova", "cinder", "neutron" }) do
      local c = db.connect(component)
      for _, sql in ipairs(SEED[component]) do c:exec(sql) end
      c:close()
    end
    -- An Ocata that finished its own online migrations (Pike's cinder migration 097 requires it).
    require("ferry.nova").online_migrations { release = "ocata", ctx = ctx }
    require("ferry.cinder").online_migrations { release = "ocata", ctx = ctx }
    ctx.state.seeded = versions()
    log.info("seeded at Ocata: " .. table.concat((function()
      local t = {}
      for _, n in ipairs(DATABASES) do t[#t + 1] = n .. "=" .. ctx.state.seeded[n] end
      return t
    end)(), " "))
  end,
  undo = function(ctx) end, -- the starting point stays: the walk's rollback returns to it
}

step "record-start" {
  desc = "record the schema versions the walk starts from",
  tags = { "versions" },
  run = function(ctx) ctx.state.walk = { ocata = versions() } end,
  undo = function(ctx) ctx.state.walk = nil end,
}

-- force: the walk stops no service (it moves schemas only; a whole-region runbook such as
-- kilo-to-queens stops them first), so the restore goes past their connections.
lib.backup_databases { names = DATABASES, name = "backup-walk", force = true }

--- One release of the walk: each component's step of `to` (from `from`), then the versions.
local function walk(from, to)
  lib.db_sync { component = "nova", from = from, to = to, timeout = "2h" }
  step("nova-discover-hosts-" .. to) {
    desc = "nova-manage cell_v2 discover_hosts with " .. to .. "'s tools (maps the computes that registered since)",
    tags = { "nova", "cells", to },
    run = function(ctx) tool(ctx, to, { "nova-manage", "cell_v2", "discover_hosts", "--verbose" }) end,
    undo = function(ctx) end, -- host mappings come back with nova_api's restore
  }
  lib.db_sync { component = "cinder", from = from, to = to, timeout = "1h" }
  if to ~= "queens" then
    lib.db_sync { component = "glance", from = from, to = to }
  else
    step "glance-queens-not-installable" {
      desc = "Glance stops at Pike: glance 16.x (Queens) is not on the package registry (scripts/testenv/services/releases.sh)",
      tags = { "glance", "queens" },
      run = function(ctx) log.warn("glance queens skipped: 16.x is not on the registry; Glance walks Ocata → Pike") end,
      undo = function(ctx) end,
    }
  end
  -- The releases' wrappers name their own configs (a production region passes its files here).
  lib.db_sync { component = "neutron", from = from, to = to, config_files = {} }
  if to == "queens" then
    step "keystone-db-sync-queens" {
      desc = "keystone queens: keystone-manage db_sync, only where keystone.preflight.database_server passes (MariaDB "
        .. "before 10.3): on 10.3 and later Queens' migration 035 fails half-way (column `system`)",
      tags = { "keystone", "db-sync", "queens" },
      when = function(ctx)
        local ok, why = keystone.preflight.database_server(ctx)
        if not ok then log.warn("skipped: " .. why) end
        return ok
      end,
      run = function(ctx) keystone.db_sync { release = "queens", ctx = ctx } end,
      undo = function(ctx) end, -- the keystone database comes back with its restore
    }
  else
    lib.db_sync { component = "keystone", from = from, to = to }
  end
  step("versions-" .. to) {
    desc = "record the schema versions after " .. to,
    tags = { "versions", to },
    run = function(ctx)
      local v = versions()
      ctx.state.walk = ctx.state.walk or {}
      ctx.state.walk[to] = v
      local t = {}
      for _, n in ipairs(DATABASES) do t[#t + 1] = n .. "=" .. v[n] end
      log.info("schema after " .. to .. ": " .. table.concat(t, " "))
    end,
    undo = function(ctx) if ctx.state.walk then ctx.state.walk[to] = nil end end,
  }
end

walk("ocata", "pike")
walk("pike", "queens")
