-- Helpers shared by the library's modules (lib.upgrade, lib.config, lib.nodes): unit
-- names from the component modules, secret values, and the step fields passed through.
---@class lib.UnitsSpec: table<"component"|"group"|"release"|"roles"|"units"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field component? string e.g. "nova": its units of `roles` (module.services)
---@field group string the hosts
---@field release? string the release whose unit names to use
---@field roles? string|string[] e.g. { "api", "scheduler" }, or a placement (default "controller")
---@field units? string|string[]|fun(ctx: Ctx, host: Host): string[] the units themselves, instead of roles
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

---@class lib.common
local M = {}

local concat = table.concat

-- Helpers (run time) ------------------------------------------------------------------

--- The package family of a host (rpm: RDO/CentOS units, deb: Ubuntu/Debian): `host.family`, which
--- the region resolves per host (its own vars.family, else its groups' inventory.families, else
--- the region's vars.family). Without a host (a step that runs once), the region's.
function M.family(ctx, host)
  if host and host.family then return host.family end
  return (ctx and ctx.vars and ctx.vars.family) or "rpm"
end

--- The plugin module of a component (`nova`, `glance`, …); `placement` is nova's.
function M.module(component)
  if component == "placement" then return (require "ferry.nova").placement end
  return require("ferry." .. component)
end

function M.list(v)
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { v }
end

--- The fields of a spec that names systemd units (M.units).
M.UNIT_FIELDS = { "component", "group", "release", "roles", "units" }

--- The systemd units a spec names on `host`: `units` as given (a function gets ctx and the host),
--- or the `roles` of `component` (all of its controller units without roles) in `release`, for
--- the host's package family (an RDO compute's openstack-nova-compute, an Ubuntu one's nova-compute).
function M.units(ctx, spec, host)
  if spec.units ~= nil then
    if type(spec.units) == "function" then return spec.units(ctx, host) end
    return M.list(spec.units)
  end
  local mod = M.module(spec.component)
  local out, seen = {}, {}
  for _, role in ipairs(spec.roles and M.list(spec.roles) or { "controller" }) do
    for _, u in ipairs(mod.services(M.family(ctx, host), role, spec.release)) do
      if not seen[u] then seen[u] = true; out[#out + 1] = u end
    end
  end
  return out
end

function M.describe_units(spec)
  if type(spec.units) == "table" then return concat(spec.units, ", ") end
  if type(spec.units) == "string" then return spec.units end
  return spec.component .. " " .. (spec.roles and concat(M.list(spec.roles), "/") or "controller") .. " units"
end

--- A value that may be a secret reference ({ env = NAME } / { file = PATH }).
function M.reveal(v)
  if type(v) == "table" then return secret(v) end
  return v
end

-- The step fields a helper passes on to the step it declares (waves, gates, failures).
local WAVE_FIELDS = { "parallel", "batch", "pause", "gate", "adaptive", "max_fail", "timeout", "retries",
                      "retry_delay", "before", "after", "confirm", "when", "tags", "desc" }

--- Checks the spec of a helper that declares one step: its `own` fields, `name`, and the
--- step fields it passes on (with_waves). An unknown key (`rolse`) raises "did you mean" at
--- the runbook line that called the helper (validate_spec, Ferry's prelude).
function M.check_spec(what, spec, own)
  return validate_spec(what, spec, own, { "name" }, WAVE_FIELDS)
end

--- The first `n` (default 5) strings of `list` joined by ", ", with ", …" when there are more.
function M.first_few(list, n)
  n = n or 5
  return table.concat(list, ", ", 1, math.min(n, #list)) .. (#list > n and ", …" or "")
end

--- Whether version `a` (1.2.3) is older than `b`, number by number (1.2 is 1.2.0).
function M.older(a, b)
  local x, y = {}, {}
  for n in a:gmatch("%d+") do x[#x + 1] = tonumber(n) end
  for n in b:gmatch("%d+") do y[#y + 1] = tonumber(n) end
  for i = 1, math.max(#x, #y) do
    if (x[i] or 0) ~= (y[i] or 0) then return (x[i] or 0) < (y[i] or 0) end
  end
  return false
end

--- Copies the step fields that shape a per-host step (waves, gates, failures) from `spec`.
function M.with_waves(spec, fields)
  for _, k in ipairs(WAVE_FIELDS) do
    if fields[k] == nil and spec[k] ~= nil then fields[k] = spec[k] end
  end
  return fields
end

return M
