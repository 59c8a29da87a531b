-- The compute nodes' move to a new Nova: the new release's nova.conf sections shipped with
-- the virtualenv, hypervisor versions checked before anything changes, a canary wave first.
-- See docs/library.md.
local common = require "lib.common"
local nova = require "ferry.nova"
local release = require "ferry.release"

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

return M
