-- Neutron's automatic failover for the window in which neutron-server and its agents report
-- to different brokers. A Queens neutron-server on the new broker sees every agent still on
-- the old one as dead; with allow_automatic_dhcp_failover (default True) it moves every
-- network of those DHCP agents to the first one that reports to it, which then syncs them
-- all (allow_automatic_l3agent_failover, default False, does the same with routers): the
-- Neutron database overload the reference team rolled back for. See docs/library.md.
local common = require "lib.common"

---@class lib.neutron.FailoverOffSpec: table<"group"|"name"|"tags", any>
---@field group? string (default "neutron_new")
---@field name? string
---@field tags? string|string[]

---@class lib.neutron.FailoverRestoreSpec: table<"group"|"name"|"release"|"tags", any>
---@field group? string (default "neutron_new")
---@field name? string
---@field release? string of the server units
---@field tags? string|string[]

---@class lib.neutron.AgentsCheckSpec: table<"name"|"down_time"|"within"|"every", any>
---@field name? string
---@field down_time? integer seconds (default 75)
---@field within? Duration
---@field every? Duration

---@class lib.neutron.RemoveStaleAgentsSpec: table<"name"|"down_time"|"before"|"after", any>
---@field name? string
---@field down_time? integer seconds (default 75)
---@field before? CheckRef|CheckRef[]
---@field after? CheckRef|CheckRef[]

---@class lib.neutron
local M = {}

M.CONF = "/etc/neutron/neutron.conf"
M.OPTIONS = { "allow_automatic_dhcp_failover", "allow_automatic_l3agent_failover" }

local function put_back(host, previous)
  local ini = host:ini(M.CONF)
  for _, option in ipairs(M.OPTIONS) do
    local value = previous and previous[option]
    if value then ini:set("DEFAULT", option, value) else ini:delete("DEFAULT", option) end
  end
end

local function turn_off(host)
  local ini = host:ini(M.CONF)
  for _, option in ipairs(M.OPTIONS) do ini:set("DEFAULT", option, "False") end
end

--- Declares `neutron-failover-off`: both failover options set to False in the neutron.conf of
--- every host of `group` (default "neutron_new"), their previous values kept in
--- ctx.state.neutron_failover; neutron-server reads them when it starts, so declare it before
--- the step that starts it. Undo puts the previous values back.
---@param spec? lib.neutron.FailoverOffSpec
function M.failover_off(spec)
  spec = spec or {}
  validate_spec("neutron.failover_off", spec, { "group", "name", "tags" })
  local group = spec.group or "neutron_new"
  local name = spec.name or "neutron-failover-off"
  step(name) {
    desc = "turn off " .. table.concat(M.OPTIONS, " and ") .. " in " .. M.CONF .. " on " .. group
      .. " while agents report to another broker (they would look dead and their networks move)",
    tags = spec.tags or { "neutron", "config" },
    run = function(ctx)
      ctx.state.neutron_failover = ctx.state.neutron_failover or {}
      for _, host in ipairs(inventory.group(group)) do
        local ini, previous = host:ini(M.CONF), {}
        for _, option in ipairs(M.OPTIONS) do previous[option] = ini:get("DEFAULT", option) or false end
        -- A resumed run keeps what the first attempt read (the file then holds its False).
        ctx.state.neutron_failover[host.name] = ctx.state.neutron_failover[host.name] or previous
        turn_off(host)
      end
    end,
    undo = function(ctx)
      for _, host in ipairs(inventory.group(group)) do put_back(host, (ctx.state.neutron_failover or {})[host.name]) end
      ctx.state.neutron_failover = nil
    end,
  }
  return name
end

--- Declares `neutron-failover-restore`: once every agent reports to neutron-server's broker,
--- the failover options go back to what `failover_off` found, and neutron-server restarts on
--- each host of `group`, one at a time (the options are read at start). Undo turns them off
--- again and restarts. spec: group, release (of the server units), name, tags.
---@param spec? lib.neutron.FailoverRestoreSpec
function M.failover_restore(spec)
  spec = spec or {}
  validate_spec("neutron.failover_restore", spec, { "group", "name", "release", "tags" })
  local group = spec.group or "neutron_new"
  local name = spec.name or "neutron-failover-restore"
  local units = { component = "neutron", roles = { "server" }, release = spec.release }
  local function restart(host, ctx)
    for _, u in ipairs(common.units(ctx, units, host)) do host:service(u):restart() end
  end
  step(name) {
    desc = "put " .. table.concat(M.OPTIONS, " and ") .. " back on " .. group .. " and restart neutron-server",
    tags = spec.tags or { "neutron", "config" },
    run = function(ctx)
      for _, host in ipairs(inventory.group(group)) do
        put_back(host, (ctx.state.neutron_failover or {})[host.name])
        restart(host, ctx)
      end
    end,
    undo = function(ctx)
      for _, host in ipairs(inventory.group(group)) do
        turn_off(host)
        restart(host, ctx)
      end
    end,
  }
  return name
end

-- After the agents' move: every agent of the region's hosts alive, and the agents of hosts the
-- region no longer has (retired computes, never `neutron agent-delete`d) removed.

local function region_hosts()
  local set = {}
  for _, h in ipairs(inventory.hosts("all")) do set[h.name] = true end
  return set
end

--- The agents whose last report is older than `down_time` seconds (default 75, neutron's
--- agent_down_time), { host =, binary =, agent_type =, heartbeat_timestamp = }.
function M.dead_agents(down_time)
  local c = db.connect("neutron")
  local rows = c:query("SELECT id, host, `binary`, agent_type, heartbeat_timestamp FROM agents WHERE admin_state_up = 1 "
    .. "AND heartbeat_timestamp < UTC_TIMESTAMP() - INTERVAL " .. math.tointeger(down_time or 75) .. " SECOND ORDER BY host")
  c:close()
  return rows
end

--- Declares the check `neutron-agents` (phase "after"): no agent of the region's hosts is dead
--- (its last report older than `down_time`, default 75 s: neutron-server would not schedule on
--- it), and no agent is left of a host the region no longer has. Returns its name.
---@param spec? lib.neutron.AgentsCheckSpec
function M.agents_check(spec)
  validate_spec("neutron.agents_check", spec or {}, { "name", "down_time", "within", "every" })
  spec = spec or {}
  local name = spec.name or "neutron-agents"
  check(name) {
    desc = "every neutron agent of the region's hosts reports, and none is left of a host the region no longer has",
    phase = "after", within = spec.within or "5m", every = spec.every or "15s",
    probe = function(ctx)
      local hosts = region_hosts()
      local dead, stale = {}, {}
      for _, a in ipairs(M.dead_agents(spec.down_time)) do
        local label = a.host .. " " .. a.binary .. " (last report " .. tostring(a.heartbeat_timestamp) .. ")"
        if hosts[a.host] then dead[#dead + 1] = label else stale[#stale + 1] = label end
      end
      if #dead == 0 and #stale == 0 then return true end
      local why = {}
      if #dead > 0 then why[#why + 1] = #dead .. " agent(s) of the region's hosts are down: " .. common.first_few(dead) end
      if #stale > 0 then
        why[#why + 1] = #stale .. " agent(s) of hosts not in the region (neutron.remove_stale_agents): " .. common.first_few(stale)
      end
      return false, table.concat(why, "; ")
    end,
  }
  return name
end

--- Declares the step `neutron-remove-stale-agents`: deletes (as `neutron agent-delete` does, its
--- bindings going with it) every dead agent of a host not in the region's inventory (`after`:
--- checks run once it is done, e.g. `agents_check`'s). The undo
--- puts the rows back (their DHCP and L3 bindings come back only with the database's restore).
---@param spec? lib.neutron.RemoveStaleAgentsSpec
function M.remove_stale_agents(spec)
  validate_spec("neutron.remove_stale_agents", spec or {}, { "name", "down_time", "before", "after" })
  spec = spec or {}
  local name = spec.name or "neutron-remove-stale-agents"
  step(name) {
    desc = "delete the agents of hosts not in the region (dead for more than " .. (spec.down_time or 75) .. " s)",
    tags = { "neutron" }, before = spec.before, after = spec.after,
    run = function(ctx)
      local hosts = region_hosts()
      local stale, names = {}, {}
      for _, a in ipairs(M.dead_agents(spec.down_time)) do
        if not hosts[a.host] then
          stale[#stale + 1] = { id = a.id, host = a.host, binary = a.binary, agent_type = a.agent_type,
                                heartbeat = tostring(a.heartbeat_timestamp) }
          names[#names + 1] = a.host .. " " .. a.binary
        end
      end
      if #stale == 0 then log.info("no agent of a host outside the region"); return end
      if ctx.dry_run then log.info("[dry run] would delete " .. #stale .. " agent(s): " .. table.concat(names, ", ")); return end
      ctx.state.stale_agents = stale
      local c = db.connect("neutron")
      for _, a in ipairs(stale) do c:exec("DELETE FROM agents WHERE id = ?", a.id) end
      c:close()
      log.info("deleted " .. #stale .. " agent(s) of hosts not in the region: " .. table.concat(names, ", "))
    end,
    undo = function(ctx)
      local stale = ctx.state.stale_agents
      if not stale then return end
      local c = db.connect("neutron")
      for _, a in ipairs(stale) do
        local topic = ({ ["neutron-dhcp-agent"] = "dhcp_agent", ["neutron-l3-agent"] = "l3_agent" })[a.binary] or "N/A"
        c:exec("INSERT INTO agents (id, agent_type, `binary`, topic, host, admin_state_up, created_at, started_at, "
          .. "heartbeat_timestamp, configurations, `load`) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, '{}', 0)",
          a.id, a.agent_type, a.binary, topic, a.host, a.heartbeat, a.heartbeat, a.heartbeat)
      end
      c:close()
    end,
  }
  return name
end

return M
