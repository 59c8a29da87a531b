-- Neutron's automatic failover for the window in which neutron-server and its agents report
-- to different brokers. A Queens neutron-server on the new broker sees every agent still on
-- the old one as dead; with allow_automatic_dhcp_failover (default True) it moves every
-- network of those DHCP agents to the first one that reports to it, which then syncs them
-- all (allow_automatic_l3agent_failover, default False, does the same with routers): the
-- Neutron database overload the reference team rolled back for. See docs/library.md.
local common = require "lib.common"

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

return M
