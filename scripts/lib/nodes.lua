-- Compute and network nodes upgraded in place: a release's packed virtualenv shipped
-- beside the running one, then each component switched to it (with its configuration)
-- in waves. Part of the runbook library (lib.upgrade re-exports these).
local common = require "lib.common"
local concat = table.concat
local list, with_waves, describe_units, check_spec = common.list, common.with_waves, common.describe_units, common.check_spec
local config = require "lib.config"

---@class lib.ShipVenvSpec: table<"release"|"group"|"fetch_timeout"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field release string
---@field group string
---@field fetch_timeout? Duration the curl download
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

---@alias lib.SwitchVenvSpecKey
---| "release"
---| "from"
---| "component"
---| "components"
---| "group"
---| "on"
---| "link_root"
---| "edits"
---| "roles"
---| "units"
---| WaveKey
---| "name"
---| "restarted"

---@class lib.SwitchVenvSpec: table<lib.SwitchVenvSpecKey, any>
---@field name? string the step's name (default: the helper's)
---@field release string the release to switch to
---@field from string the release the undo links back to
---@field component? string
---@field components? string[]
---@field group string
---@field on? Selector|function a subset of group (a canary wave: lib.compute.canary)
---@field link_root? string (default "/opt/openstack")
---@field edits? IniEdit[]|function INI edits, or a function(host, ctx) returning them
---@field roles? string|string[]
---@field units? string|string[]|fun(ctx: Ctx, host: Host): string[]
---@field restarted? fun(host: Host, ctx: Ctx, phase: "run"|"undo") called once a host's units restarted (neutron.dataplane_probe's)
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

---@class lib.nodes
local M = {}

-- Virtualenvs on compute nodes ----------------------------------------------------------

local function venv_dir(ctx, release) return ((ctx.vars and ctx.vars.venv_root) or "/opt/venvs") .. "/" .. release end

--- Unpacks a release's packed virtualenv on a group's hosts, beside the running one:
--- from ctx.vars.venv_url ("…/openstack-{release}.tgz", fetched with curl on each host),
--- else ctx.vars.venv_cache (a directory already on the hosts). Undo removes it.
---@param spec lib.ShipVenvSpec
function M.ship_venv(spec)
  check_spec("lib.ship_venv", spec, { "release", "group", "fetch_timeout" })
  local r = spec.release
  local name = spec.name or ("ship-venv-" .. r .. "-" .. spec.group)
  step(name) (with_waves(spec, {
    desc = "unpack the " .. r .. " virtualenv on " .. spec.group .. " (beside the running one)",
    on = spec.group, parallel = spec.parallel or 200, tags = spec.tags or { "venv" },
    run = function(host, ctx)
      local dir = venv_dir(ctx, r)
      local v = ctx.vars or {}
      if v.venv_url then
        local url = v.venv_url:gsub("{release}", r)
        local tmp = "/tmp/ferry-venv-" .. r .. ".tgz"
        host:run("mkdir -p " .. dir .. " && curl -fsS -o " .. tmp .. " " .. url .. " && tar -xzf " .. tmp .. " -C " .. dir
          .. " && rm -f " .. tmp, { timeout = spec.fetch_timeout or "15m" })
      else
        local cache = v.venv_cache or "/var/cache/ferry"
        host:run("mkdir -p " .. dir .. " && tar -xzf " .. cache .. "/openstack-" .. r .. ".tgz -C " .. dir)
      end
    end,
    undo = function(host, ctx) host:run("rm -rf " .. venv_dir(ctx, r)) end,
  }))
  return name
end

--- Switches components' code on a group to `release`'s virtualenv (the link
--- /opt/openstack/<component>), applies INI `edits` (e.g. the transport URL), and restarts
--- `units`, in waves (`batch`, `gate`, `adaptive`, `max_fail` as for any step; `on`: a selector or
--- function for a subset of `group`, a canary wave). Undo links
--- back to `from`, puts the configuration back, and restarts the units again. `restarted`: a
--- function(host, ctx, phase) called once a host's units restarted (phase "run" or "undo"), e.g.
--- neutron.dataplane_probe's, so a gate knows the wave just done.
---@param spec lib.SwitchVenvSpec
function M.switch_venv(spec)
  check_spec("lib.switch_venv", spec,
    { "release", "from", "component", "components", "group", "on", "link_root", "edits", "roles", "units", "restarted" })
  local r, from = spec.release, spec.from
  local components = list(spec.components or spec.component)
  local name = spec.name or ("switch-" .. concat(components, "-") .. "-" .. spec.group)
  local root = spec.link_root or "/opt/openstack"
  local function relink(host, ctx, release)
    local cmds = {}
    for _, c in ipairs(components) do cmds[#cmds + 1] = "ln -sfn " .. venv_dir(ctx, release) .. " " .. root .. "/" .. c end
    host:run(concat(cmds, " && "))
  end
  step(name) (with_waves(spec, {
    desc = "switch " .. concat(components, ", ") .. " on " .. spec.group .. " to the " .. r .. " virtualenv and restart "
      .. describe_units(spec),
    on = spec.on or spec.group, tags = spec.tags or { components[1], "venv" },
    run = function(host, ctx)
      relink(host, ctx, r)
      if spec.edits then
        local edits = type(spec.edits) == "function" and spec.edits(host, ctx) or spec.edits
        host.state.ini = config.apply_ini(host, edits)
      end
      for _, u in ipairs(common.units(ctx, spec, host)) do host:service(u):restart() end
      if spec.restarted then spec.restarted(host, ctx, "run") end
    end,
    undo = function(host, ctx)
      relink(host, ctx, from)
      config.undo_ini(host, host.state.ini)
      for _, u in ipairs(common.units(ctx, spec, host)) do host:service(u):restart() end
      if spec.restarted then spec.restarted(host, ctx, "undo") end
    end,
  }))
  return name
end

return M
