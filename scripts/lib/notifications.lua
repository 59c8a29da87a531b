-- Notification consumers (billing, audit: ceilometer's notification agent, a CADF auditor) and the
-- queues they need, when the services move to a new RabbitMQ cluster. Part of the runbook library
-- (docs/library.md, "Notification consumers"). The region declares them in vars:
--
--   notification_queues: [notifications.info, notifications.error]   # what consumers need kept
--   notification_consumers:
--     - { name: ceilometer, group: telemetry, file: /etc/ceilometer/ceilometer.conf,
--         section: oslo_messaging_notifications, option: transport_url,
--         units: { rpm: [openstack-ceilometer-notification], deb: [ceilometer-agent-notification] } }
local common = require "lib.common"
local config = require "lib.config"
local concat = table.concat

---@class lib.notifications.MoveConsumersSpec: table<"within"|"every"|"vhost"|"max_messages"|"tags"|WaveKey|"name", any>
---@field name? string the step's name (default: the helper's)
---@field within? Duration
---@field every? Duration
---@field vhost? string
---@field max_messages? integer
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

---@class lib.notifications
local M = {}

--- The consumers the region declares (vars.notification_consumers), each with its defaults.
function M.consumers(ctx)
  local out = {}
  for i, c in ipairs((ctx.vars and ctx.vars.notification_consumers) or {}) do
    out[#out + 1] = {
      name = c.name or ("consumer " .. i), group = c.group, file = c.file, units = c.units,
      section = c.section or "DEFAULT", option = c.option or "transport_url", queues = c.queues,
    }
  end
  return out
end

--- The queues the consumers need (vars.notification_queues, else every consumer's `queues`, else
--- notifications.info: oslo.messaging's default topic and priority).
function M.queues(ctx)
  local v = ctx.vars or {}
  if type(v.notification_queues) == "table" and #v.notification_queues > 0 then return v.notification_queues end
  local out, seen = {}, {}
  for _, c in ipairs(M.consumers(ctx)) do
    for _, q in ipairs(c.queues or {}) do
      if not seen[q] then seen[q] = true; out[#out + 1] = q end
    end
  end
  if #out == 0 and #M.consumers(ctx) > 0 then out = { "notifications.info" } end
  return out
end

--- A pattern matching exactly `names` (for a broker policy).
function M.pattern(names)
  local parts = {}
  for _, n in ipairs(names) do parts[#parts + 1] = (n:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?|\\{}]", "\\%0")) end
  return "^(" .. concat(parts, "|") .. ")$"
end

-- The units of a consumer on a host: a list, or one per package family ({ rpm = {…}, deb = {…} }).
local function units(c, host, ctx)
  local u = c.units
  if type(u) == "table" and (u.rpm or u.deb) then u = u[common.family(ctx, host)] end
  return common.list(u)
end

-- The consumer of `ctx`'s declarations whose group holds `host`.
local function consumers_of(ctx, host)
  local out = {}
  for _, c in ipairs(M.consumers(ctx)) do
    for _, h in ipairs(inventory.group(c.group)) do
      if h.name == host.name then out[#out + 1] = c end
    end
  end
  return out
end

--- Declares `notification-consumers`: on every host of the consumers' groups, the consumer's `option`
--- (in `section` of `file`) points at the new broker (vars.notification_transport_url_new, else the
--- notification URL or transport URL the library builds for "notifications") and its units restart;
--- then (the step's check) every queue the consumers need has a consumer on the new broker and drains.
--- Undo: the old value back, the units restarted. Declared only when the region names consumers; put
--- it after the broker's policies and before the first service moves (its notifications then land
--- where the consumers read).
---@param spec? lib.notifications.MoveConsumersSpec
function M.move_consumers(spec)
  spec = spec or {}
  common.check_spec("notifications.move_consumers", spec, { "within", "every", "vhost", "max_messages", "tags" })
  local name = spec.name or "notification-consumers"
  local within = spec.within or "10m"
  local function drained(ctx)
    if ctx.dry_run then return true end
    for _, q in ipairs(M.queues(ctx)) do
      local ok, r = pcall(broker.queue, spec.vhost or "/", q)
      if ok then
        if (r.consumers or 0) == 0 then return false, q .. " has no consumer on the new broker" end
        if (r.messages or 0) > (spec.max_messages or 0) then return false, q .. " holds " .. r.messages .. " message(s)" end
      end
    end
    return true
  end
  step(name) (common.with_waves(spec, {
    desc = "notification consumers (vars.notification_consumers) read from the new RabbitMQ cluster; their queues drain",
    on = function(ctx)
      local groups, seen = {}, {}
      for _, c in ipairs(M.consumers(ctx)) do
        if not seen[c.group] then seen[c.group] = true; groups[#groups + 1] = c.group end
      end
      return groups
    end,
    when = function(ctx) return #M.consumers(ctx) > 0 end,
    tags = spec.tags or { "rabbitmq", "notifications" },
    -- Inline (a named check would run after a drill's rollback too, where the consumers rightly read the old broker).
    after = { function(ctx)
      local ok, err = pcall(wait_until, function() return drained(ctx) end, { within = within, every = spec.every or "15s" })
      if not ok then return false, "the consumers' notification queues did not drain on the new broker: " .. tostring(err) end
      return true
    end },
    run = function(host, ctx)
      local edits = {}
      local url = (ctx.vars and ctx.vars.notification_transport_url_new)
        or config.transport_url(ctx, "notifications", "notifications") or config.transport_url(ctx, "notifications")
      for _, c in ipairs(consumers_of(ctx, host)) do
        edits[#edits + 1] = { file = c.file, section = c.section, key = c.option, value = url }
      end
      host.state.ini = config.apply_ini(host, edits)
      for _, c in ipairs(consumers_of(ctx, host)) do
        for _, u in ipairs(units(c, host, ctx)) do host:service(u):restart() end
      end
    end,
    undo = function(host, ctx)
      config.undo_ini(host, host.state.ini)
      for _, c in ipairs(consumers_of(ctx, host)) do
        for _, u in ipairs(units(c, host, ctx)) do host:service(u):restart() end
      end
    end,
  }))
  return name
end

return M
