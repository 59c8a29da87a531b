-- Configuration steps: INI edits with their undo, and the transport URL of each component
-- on the new broker. Part of the runbook library (lib.upgrade re-exports these).
local common = require "lib.common"
local concat = table.concat
local list, with_waves, check_spec = common.list, common.with_waves, common.check_spec

---An INI edit: `value` set (a secret reference is resolved on the host), or the key removed.
---@class IniEdit
---@field file string
---@field section string
---@field key string
---@field value? string|number|boolean|SecretRef
---@field delete? boolean

---@class lib.EditConfigSpec: table<"group"|"edits"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field group string the hosts
---@field edits IniEdit[]|function INI edits, or a function(host, ctx) returning them
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

---@class lib.SetTransportUrlSpec: table<"component"|"group"|"file"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field component string
---@field group string
---@field file? string its configuration file
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

---@class lib.config
local M = {}
M.reveal = common.reveal

-- Configuration -------------------------------------------------------------------------

--- Applies INI edits on a host; returns what undo_ini needs ({ file, section, key, previous, created }).
--- An edit with `delete = true` removes the key (undo puts its value back).
function M.apply_ini(host, edits)
  local done = {}
  for _, e in ipairs(edits) do
    local created = host:run("test -e " .. e.file, { check = false }).code ~= 0
    local previous
    if e.delete then
      previous = host:ini(e.file):get(e.section, e.key)
      if previous ~= nil then host:ini(e.file):delete(e.section, e.key) end
    else
      previous = host:ini(e.file):set(e.section, e.key, M.reveal(e.value))
    end
    done[#done + 1] = { file = e.file, section = e.section, key = e.key, previous = previous or false,
                        created = created and not e.delete }
  end
  return done
end

--- Puts back what apply_ini changed, newest first (a file it created is removed).
function M.undo_ini(host, done)
  for i = #(done or {}), 1, -1 do
    local d = done[i]
    if d.created then
      host:run("rm -f " .. d.file)
    elseif d.previous then
      host:ini(d.file):set(d.section, d.key, d.previous)
    else
      host:ini(d.file):delete(d.section, d.key)
    end
  end
end

--- Declares a per-host step that edits INI files (`edits`: list of { file, section, key,
--- value } or a function(host, ctx) returning one); undo puts each key back (the values are
--- never journaled: they may be secrets).
---@param spec lib.EditConfigSpec
function M.edit_config(spec)
  check_spec("lib.edit_config", spec, { "group", "edits" })
  local name = spec.name or ("config-" .. spec.group)
  step(name) (with_waves(spec, {
    desc = spec.desc or ("edit configuration on " .. spec.group),
    on = spec.group, tags = spec.tags or { "config" },
    run = function(host, ctx)
      local edits = type(spec.edits) == "function" and spec.edits(host, ctx) or spec.edits
      host.state.ini = M.apply_ini(host, edits)
    end,
    undo = function(host, ctx) M.undo_ini(host, host.state.ini) end,
  }))
  return name
end

--- The transport URL of a component on the new broker: ctx.vars.transport_urls[component],
--- else ctx.vars.transport_url_new, else built from the `rabbit_new` group (no password:
--- put real URLs in vars as secret references).
function M.transport_url(ctx, component, kind)
  local v = ctx.vars or {}
  if kind == "notifications" then
    local n = v.notification_transport_urls and v.notification_transport_urls[component] or v.notification_transport_url_new
    return M.reveal(n)
  end
  local u = v.transport_urls and v.transport_urls[component] or v.transport_url_new
  if u ~= nil then return M.reveal(u) end
  local parts = {}
  for _, h in ipairs(inventory.group(v.rabbit_group or "rabbit_new")) do
    parts[#parts + 1] = (v.rabbit_user or component) .. "@" .. h.address .. ":" .. tostring(v.rabbit_port or 5672)
  end
  return "rabbit://" .. concat(parts, ",") .. "/" .. (v.rabbit_vhost or "")
end

--- The INI edits that point `file` at the new broker: [DEFAULT]/transport_url, and
--- [oslo_messaging_notifications]/transport_url when the region gives notifications their own.
function M.transport_edits(ctx, component, file)
  local edits = { { file = file, section = "DEFAULT", key = "transport_url", value = M.transport_url(ctx, component) } }
  local n = M.transport_url(ctx, component, "notifications")
  if n ~= nil then
    edits[#edits + 1] = { file = file, section = "oslo_messaging_notifications", key = "transport_url", value = n }
  end
  return edits
end

--- Points a component's configuration on a group at the new broker (as its turn comes);
--- undo puts the old URLs back.
---@param spec lib.SetTransportUrlSpec
function M.set_transport_url(spec)
  check_spec("lib.set_transport_url", spec, { "component", "group", "file" })
  local c = spec.component
  local files = list(spec.file or ("/etc/" .. c .. "/" .. c .. ".conf"))
  return M.edit_config(with_waves(spec, {
    name = spec.name or ("transport-" .. spec.group),
    desc = c .. " on " .. spec.group .. " talks to the new RabbitMQ cluster (" .. concat(files, ", ") .. ")",
    group = spec.group, tags = spec.tags or { c, "rabbitmq", "config" },
    edits = function(host, ctx)
      local edits = {}
      for _, f in ipairs(files) do
        for _, e in ipairs(M.transport_edits(ctx, c, f)) do edits[#edits + 1] = e end
      end
      return edits
    end,
  }))
end

return M
