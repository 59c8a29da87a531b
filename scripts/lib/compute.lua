-- The compute nodes' move to a new Nova: the new release's nova.conf sections shipped with
-- the virtualenv, hypervisor versions checked before anything changes, a canary wave first.
-- See docs/library.md.
local common = require "lib.common"
local nova = require "ferry.nova"
local release = require "ferry.release"

---@class lib.compute.HypervisorVersionsSpec: table<"to"|"group", any>
---@field to string the release
---@field group? string (default "computes")

---@class lib.compute.HealGuardSpec: table<"name"|"database", any>
---@field name? string
---@field database? string

---@class lib.compute.AllocationsCheckSpec: table<"name"|"group"|"placement_database"|"within"|"every", any>
---@field name? string
---@field group? string (default "computes")
---@field placement_database? string (default "nova_api")
---@field within? Duration (default "15m")
---@field every? Duration

---@class lib.compute.RemoveStaleServicesSpec: table<"name"|"group"|"before"|"database", any>
---@field name? string
---@field group? string (default "computes")
---@field before? CheckRef|CheckRef[]
---@field database? string

---@class lib.compute.ServiceVersionsCheckSpec: table<"name"|"to"|"group"|"database", any>
---@field name? string
---@field to string the release
---@field group? string (default "computes")
---@field database? string

---@class lib.compute
local M = {}

M.CONF = "/etc/nova/nova.conf"
--- The sections a compute takes from a new controller's nova.conf (keystoneauth options).
M.SECTIONS = {
  placement = { "os_region_name", "region_name", "auth_type", "auth_url", "project_name", "project_domain_name", "username",
                "user_domain_name", "password", "valid_interfaces" },
  neutron = { "url", "region_name", "auth_type", "auth_url", "project_name", "project_domain_name", "username",
              "user_domain_name", "password", "valid_interfaces", "service_metadata_proxy", "metadata_proxy_shared_secret" },
}
--- Kilo's [neutron] credentials, gone from Ocata (openstack/nova@15.0.0 nova/conf/neutron.py has only the
--- keystoneauth options; @2015.1.0 nova/network/neutronv2/api.py defines admin_*).
M.KILO_NEUTRON = { "admin_username", "admin_password", "admin_tenant_name", "admin_tenant_id", "admin_user_id",
                   "admin_auth_url", "auth_strategy" }

--- The INI edits that give a compute `to`'s [placement] and [neutron] (read from `source`'s
--- nova.conf, default the first host of nova_new, once per run) and take Kilo's [neutron] admin_* out.
--- Before Ocata nothing is needed.
local cache = {}
function M.config_edits(ctx, to, source)
  if release.index(to) < release.index("ocata") then return {} end
  local from = inventory.hosts(source or "nova_new")[1]
  local values = cache[from.name]
  if values == nil then
    values = {}
    local ini = from:ini(M.CONF)
    for section, keys in pairs(M.SECTIONS) do
      for _, key in ipairs(keys) do
        local v = ini:get(section, key)
        if v ~= nil then values[#values + 1] = { section = section, key = key, value = v } end
      end
    end
    table.sort(values, function(a, b) return a.section .. a.key < b.section .. b.key end)
    if not ctx.dry_run then cache[from.name] = values end
  end
  local has_region = false
  for _, v in ipairs(values) do if v.section == "placement" and v.key == "os_region_name" then has_region = true end end
  if not has_region and not ctx.dry_run then
    error(from.name .. ":" .. M.CONF .. " has no [placement] os_region_name: a " .. to .. " nova-compute would refuse to start "
      .. "(PlacementNotConfigured); configure the new controllers first", 0)
  end
  local edits = {}
  for _, v in ipairs(values) do edits[#edits + 1] = { file = M.CONF, section = v.section, key = v.key, value = v.value } end
  for _, key in ipairs(M.KILO_NEUTRON) do edits[#edits + 1] = { file = M.CONF, section = "neutron", key = key, delete = true } end
  return edits
end

local older = common.older

--- Declares the check `hypervisor-versions`: on every host of `group` (default "computes"),
--- `virsh version` reports a libvirt and a QEMU at least `to`'s minimum
--- (nova.hypervisor_minimum; a libvirt driver older than it refuses to start). Returns its name.
---@param spec lib.compute.HypervisorVersionsSpec
function M.hypervisor_versions(spec)
  validate_spec("compute.hypervisor_versions", spec, { "to", "group" })
  local to, group = spec.to, spec.group or "computes"
  local min = nova.hypervisor_minimum[to]
  if min == nil then error("compute.hypervisor_versions: no known hypervisor minimum for release '" .. tostring(to) .. "'", 2) end
  check "hypervisor-versions" {
    desc = "libvirt " .. min.libvirt .. (min.qemu and (" and QEMU " .. min.qemu) or "") .. " or later on " .. group
      .. " (" .. to .. "'s nova-compute refuses older)",
    on = group,
    probe = function(host, ctx)
      local r = host:run("virsh version", { check = false, timeout = "30s" })
      if r.code ~= 0 then return false, "virsh version exited " .. tostring(r.code) end
      local libvirt = (r.stdout or ""):match("Using library: libvirt (%d+%.%d+%.?%d*)")
      local qemu = (r.stdout or ""):match("Running hypervisor: QEMU (%d+%.%d+%.?%d*)")
      if not libvirt then return false, "virsh version printed no library version" end
      if older(libvirt, min.libvirt) then
        return false, "libvirt " .. libvirt .. " is older than " .. min.libvirt .. ", which " .. to .. "'s nova-compute requires"
      end
      if min.qemu and (not qemu or older(qemu, min.qemu)) then
        return false, "QEMU " .. tostring(qemu) .. " is older than " .. min.qemu .. ", which " .. to .. "'s nova-compute requires"
      end
      return true
    end,
  }
  return "hypervisor-versions"
end

--- The hosts of `group` split for a canary wave: the first `count` (default 2) and the rest,
--- as two functions for a step's `on`.
function M.canary(group, count)
  count = count or 2
  local function first()
    local out = {}
    for i, h in ipairs(inventory.group(group)) do if i <= count then out[#out + 1] = h end end
    return out
  end
  local function rest()
    local out = {}
    for i, h in ipairs(inventory.group(group)) do if i > count then out[#out + 1] = h end end
    return out
  end
  return first, rest
end

-- After the computes' move: their instances' allocations in placement, the service rows of
-- computes the region no longer has, and the services' cached minimum version (docs/library.md).

--- The host name of the row `heal_guard` adds.
M.HEAL_GUARD = "ferry-allocation-heal-guard"

local function names_of(group)
  local set = {}
  for _, h in ipairs(inventory.group(group)) do set[h.name] = true end
  return set
end

--- Declares the step `nova-allocation-heal-guard` (before the computes switch to a release from Pike on):
--- a disabled nova-compute service row at version 21 (`nova.heal_marker` - 1). Queens computes write
--- their instances' placement allocations only while such a row exists, and Queens has no
--- heal_allocations: without it the last computes to switch, once every other row is new, leave
--- their instances out of placement (the scheduler then sees them empty). `remove_stale_services`
--- takes it out again once the allocations are checked; its undo deletes it. Returns its name.
---@param spec? lib.compute.HealGuardSpec
function M.heal_guard(spec)
  validate_spec("compute.heal_guard", spec or {}, { "name", "database" })
  spec = spec or {}
  local name = spec.name or "nova-allocation-heal-guard"
  step(name) {
    desc = "keep the computes writing their instances' allocations to placement while they switch (a disabled "
      .. "nova-compute row at version " .. (nova.heal_marker - 1) .. ", host " .. M.HEAL_GUARD .. ")",
    tags = { "nova", "placement" },
    run = function(ctx)
      if ctx.dry_run then log.info("[dry run] would add the nova-compute row " .. M.HEAL_GUARD); return end
      local c = db.connect(spec.database or "nova")
      local n = c:scalar("SELECT COUNT(*) FROM services WHERE host = ? AND `binary` = 'nova-compute' AND deleted = 0", M.HEAL_GUARD)
      if tonumber(n) == 0 then
        c:exec("INSERT INTO services (host, `binary`, topic, report_count, disabled, disabled_reason, deleted, version, forced_down) "
          .. "VALUES (?, 'nova-compute', 'compute', 0, 1, ?, 0, ?, 0)", M.HEAL_GUARD,
          "ferry: keeps the computes healing allocations until the upgrade checks them", nova.heal_marker - 1)
      end
      c:close()
    end,
    undo = function(ctx)
      local c = db.connect(spec.database or "nova")
      c:exec("DELETE FROM services WHERE host = ? AND `binary` = 'nova-compute'", M.HEAL_GUARD)
      c:close()
    end,
  }
  return name
end

--- Declares the check `compute-allocations` (phase "after"): on every compute node of `group`
--- (default "computes") the instances the resource tracker counts (compute_nodes.running_vms) all
--- have allocations in placement (`placement_database`, default "nova_api"). Within `within`
--- (default "15m"; the trackers write them every minute). Returns its name.
---@param spec? lib.compute.AllocationsCheckSpec
function M.allocations_check(spec)
  validate_spec("compute.allocations_check", spec or {}, { "name", "group", "placement_database", "within", "every" })
  spec = spec or {}
  local name = spec.name or "compute-allocations"
  check(name) {
    desc = "every compute's instances have their allocations in placement",
    phase = "after", within = spec.within or "15m", every = spec.every or "1m",
    probe = function(ctx)
      local gaps, looked = nova.allocation_gaps(names_of(spec.group or "computes"), spec.placement_database)
      local hosts = {}
      for h in pairs(gaps) do hosts[#hosts + 1] = h end
      if #hosts == 0 then return true end
      table.sort(hosts)
      local shown = {}
      for i, h in ipairs(hosts) do
        local g = gaps[h]
        shown[i] = g.host .. " (" .. g.running_vms .. " instances, " .. g.allocated .. " allocated"
          .. (g.provider and "" or ", no resource provider") .. ")"
      end
      return false, #hosts .. " of " .. looked .. " compute nodes have instances without allocations in placement: "
        .. common.first_few(shown) .. ". Queens computes write them only while a "
        .. "nova-compute row older than Pike exists (compute.heal_guard); restart nova-compute there while one does"
    end,
  }
  return name
end

--- Declares the step `nova-remove-stale-compute-services`: soft-deletes (as `nova service-delete`
--- does: the service row and its compute node) every nova-compute row whose host is not in
--- `group` (default "computes") — computes retired without their rows, and the heal guard. Such
--- rows cap the compute RPC API (a Kilo row: Mitaka's 4.11) and block multiattach (27) for as long
--- as they stay (openstack/nova@17.0.0 nova/compute/rpcapi.py, nova/compute/api.py). `before` runs
--- first (the allocations check: the guard must outlive the healing). The undo puts them back.
---@param spec? lib.compute.RemoveStaleServicesSpec
function M.remove_stale_services(spec)
  validate_spec("compute.remove_stale_services", spec or {}, { "name", "group", "before", "database" })
  spec = spec or {}
  local name = spec.name or "nova-remove-stale-compute-services"
  step(name) {
    desc = "soft-delete the nova-compute service rows (and compute nodes) of hosts not in " .. (spec.group or "computes")
      .. ": retired computes and the heal guard",
    tags = { "nova" }, before = spec.before,
    run = function(ctx)
      local hosts = names_of(spec.group or "computes")
      local stale, ids, names = {}, {}, {}
      -- Without `version`: a dry run reads the schema as it is before the walk (Kilo's has none).
      local c = db.connect(spec.database or "nova")
      local rows = c:query("SELECT id, host FROM services WHERE `binary` = 'nova-compute' AND deleted = 0 ORDER BY id")
      c:close()
      for _, row in ipairs(rows) do
        if not hosts[row.host] then
          stale[#stale + 1] = { id = row.id, host = row.host }
          ids[#ids + 1] = tostring(math.tointeger(tonumber(row.id)))
          names[#names + 1] = row.host
        end
      end
      if #stale == 0 then log.info("no nova-compute row outside " .. (spec.group or "computes")); return end
      if ctx.dry_run then
        log.info("[dry run] would soft-delete " .. #stale .. " nova-compute row(s): " .. table.concat(names, ", "))
        return
      end
      ctx.state.stale_compute_services = stale
      -- Each statement may run again on a resume: a soft delete of a deleted row changes nothing.
      c = db.connect(spec.database or "nova")
      c:exec("UPDATE services SET deleted = id, deleted_at = UTC_TIMESTAMP() WHERE id IN (" .. table.concat(ids, ", ")
        .. ") AND deleted = 0")
      for _, s in ipairs(stale) do
        c:exec("UPDATE compute_nodes SET deleted = id, deleted_at = UTC_TIMESTAMP() WHERE host = ? AND deleted = 0", s.host)
      end
      c:close()
      log.info("soft-deleted " .. #stale .. " nova-compute row(s): " .. table.concat(names, ", "))
    end,
    undo = function(ctx)
      local stale = ctx.state.stale_compute_services
      if not stale then return end
      local c = db.connect(spec.database or "nova")
      for _, s in ipairs(stale) do
        c:exec("UPDATE services SET deleted = 0, deleted_at = NULL WHERE id = ?", s.id)
        c:exec("UPDATE compute_nodes SET deleted = 0, deleted_at = NULL WHERE host = ? AND deleted != 0", s.host)
      end
      c:close()
    end,
  }
  return name
end

--- Declares the check `nova-service-versions` (phase "after"): every nova-compute row not deleted
--- belongs to a host of `group` (default "computes") and is at `to`'s version or later
--- (nova.service_version), so nothing caps the compute RPC API. Returns its name.
---@param spec lib.compute.ServiceVersionsCheckSpec
function M.service_versions_check(spec)
  validate_spec("compute.service_versions_check", spec, { "name", "to", "group", "database" })
  local want = nova.service_version[spec.to]
  if want == nil then error("compute.service_versions_check: no service version known for release '" .. tostring(spec.to) .. "'", 2) end
  local name = spec.name or "nova-service-versions"
  check(name) {
    desc = "every nova-compute service row is a compute's, at " .. spec.to .. "'s version (" .. want .. ") or later",
    phase = "after",
    probe = function(ctx)
      local hosts = names_of(spec.group or "computes")
      local stale, old, min = {}, {}, nil
      for _, row in ipairs(nova.compute_services(spec.database)) do
        local v = tonumber(row.version) or 0
        if min == nil or v < min then min = v end
        if not hosts[row.host] then stale[#stale + 1] = row.host .. " (version " .. v .. ")"
        elseif v < want then old[#old + 1] = row.host .. " (version " .. v .. ")" end
      end
      if #stale == 0 and #old == 0 then return true end
      local why = {}
      if #stale > 0 then
        why[#why + 1] = #stale .. " row(s) of hosts not in " .. (spec.group or "computes") .. ": " .. common.first_few(stale)
      end
      if #old > 0 then why[#why + 1] = #old .. " compute(s) below " .. spec.to .. "'s version " .. want .. ": " .. common.first_few(old) end
      return false, table.concat(why, "; ") .. " — the minimum (" .. tostring(min) .. ") caps the compute RPC API"
        .. (min < 27 and " and blocks multiattach" or "")
    end,
  }
  return name
end

return M
