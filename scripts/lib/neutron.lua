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

-- Data plane ------------------------------------------------------------------------------
-- Upstream (docs/openstack-facts.md#neutron-data-plane): a Kilo OVS agent's every start removes the
-- host's flows; the first start of a Liberty-or-later agent over ports a Kilo agent bound re-tags
-- their local VLANs at the end of its first sync (Kilo wrote no other_config net_uuid to restore them
-- from). Either way the host's instances lose traffic until that sync ends, for a time that grows
-- with the host's ports. Traffic between an upgraded host and one not yet upgraded works: local
-- VLANs are host-local, tunnels carry the segmentation id.

local function seconds(d)
  if type(d) == "number" then return d end
  local n, unit = tostring(d):match("^(%d+%.?%d*)(%a*)$")
  n = tonumber(n)
  if not n then error("neutron.dataplane_probe: '" .. tostring(d) .. "' is not a duration (write \"30s\", \"2m\")", 3) end
  return n * (({ ms = 0.001, s = 1, m = 60, h = 3600 })[unit ~= "" and unit or "s"] or 1)
end

-- `count` of `list`, evenly spaced (its first, then every len/count-th).
local function spread(list, count)
  if #list <= count then return list end
  local out = {}
  for i = 0, count - 1 do out[#out + 1] = list[1 + math.floor(i * #list / count)] end
  return out
end

--- Declares the check `neutron-dataplane`: pings a sample of instances' fixed IPs from a network
--- node's DHCP namespace (`ip netns exec qdhcp-<network> ping -c 1 -W 1 <ip>`, from the nodes of
--- `from` in turn until one answers), on the hosts of the wave just done (`restarted`), and on hosts
--- spread over `group` (those restarted earlier and those not yet). An instance that does not answer
--- is pinged again every `every` until it does; one still silent after `max_loss` fails the probe,
--- naming the instances, their hosts and how long, and the probe keeps failing until the next wave.
--- spec: name, group (default "computes"), from (default "network_nodes"), hosts (hosts of each kind
--- sampled, default 3), sample (instances per host, default 2), max_loss (default "1m"), every
--- (default "5s"), vantage ("from", default: any node of `from` may answer; "restarted": every host
--- of the wave just done must, for the waves of the network nodes themselves). Returns { name = the
--- check's name, probe = function(ctx) -> ok, why, restarted = function(host, ctx, phase) } (phase
--- "run" or "undo": pass it as lib.switch_venv's `restarted`).
---@return DataplaneProbe
function M.dataplane_probe(spec)
  validate_spec("neutron.dataplane_probe", spec or {},
    { "name", "group", "from", "hosts", "sample", "max_loss", "every", "vantage" })
  spec = spec or {}
  local name = spec.name or "neutron-dataplane"
  local group, from = spec.group or "computes", spec.from or "network_nodes"
  local per_kind, sample = spec.hosts or 3, spec.sample or 2
  local max_loss, every = seconds(spec.max_loss or "1m"), seconds(spec.every or "5s")
  local vantage = spec.vantage or "from"
  if vantage ~= "from" and vantage ~= "restarted" then
    error("neutron.dataplane_probe: vantage must be \"from\" or \"restarted\", got " .. tostring(vantage), 2)
  end
  -- What the waves did: hosts restarted since the last probe, every host restarted, and a loss
  -- beyond max_loss seen since the last wave (the probe keeps failing with it).
  local st = { recent = {}, done = {}, lost = nil, probed = false }

  local function restarted(host, _, phase)
    if st.probed then st.recent, st.lost, st.probed = {}, nil, false end
    local h = type(host) == "table" and host.name or host
    st.recent[#st.recent + 1] = h
    st.done[h] = phase ~= "undo" or nil
  end

  -- The instances to ping: { ip =, network =, host =, kind = }.
  local function targets()
    local recent, seen = {}, {}
    for _, h in ipairs(st.recent) do if not seen[h] then seen[h] = true; recent[#recent + 1] = h end end
    table.sort(recent)
    local earlier, later = {}, {}
    for _, h in ipairs(inventory.group(group)) do
      if not seen[h.name] then
        if st.done[h.name] then earlier[#earlier + 1] = h.name else later[#later + 1] = h.name end
      end
    end
    local kind, hosts = {}, {}
    for _, pick in ipairs({ { spread(recent, per_kind), "restarted in the wave just done" },
                            { spread(earlier, per_kind), "restarted earlier" },
                            { spread(later, per_kind), "not restarted yet" } }) do
      for _, h in ipairs(pick[1]) do kind[h] = pick[2]; hosts[#hosts + 1] = h end
    end
    if #hosts == 0 then return {} end
    local c = db.connect("neutron")
    local marks = {}
    for _ = 1, #hosts do marks[#marks + 1] = "?" end
    local bindings = c:query("SELECT port_id, host FROM ml2_port_bindings WHERE host IN (" .. table.concat(marks, ", ")
      .. ") AND vif_type = 'ovs' ORDER BY host, port_id", table.unpack(hosts))
    local ports, host_of, taken = {}, {}, {}
    for _, b in ipairs(bindings) do
      taken[b.host] = (taken[b.host] or 0) + 1
      if taken[b.host] <= sample then ports[#ports + 1] = b.port_id; host_of[b.port_id] = b.host end
    end
    local out = {}
    if #ports > 0 then
      marks = {}
      for _ = 1, #ports do marks[#marks + 1] = "?" end
      for _, a in ipairs(c:query("SELECT port_id, ip_address, network_id FROM ipallocations WHERE port_id IN ("
          .. table.concat(marks, ", ") .. ") ORDER BY port_id", table.unpack(ports))) do
        local h = host_of[a.port_id]
        out[#out + 1] = { ip = a.ip_address, network = a.network_id, host = h, kind = kind[h] }
      end
    end
    c:close()
    table.sort(out, function(a, b) return a.host < b.host or (a.host == b.host and a.ip < b.ip) end)
    return out
  end

  local function ping(node, t)
    return node:run("ip netns exec qdhcp-" .. t.network .. " ping -c 1 -W 1 " .. t.ip, { check = false }).code == 0
  end

  -- The instances to ping, each with the node it must answer from (vantage "restarted": one per host
  -- of the wave just done), or any node of `from`.
  local function plan()
    local list = targets()
    if vantage == "from" then return list end
    local recent = {}
    for _, h in ipairs(st.recent) do recent[h] = true end
    local out = {}
    for _, node in ipairs(inventory.group(from)) do
      if recent[node.name] then
        for _, t in ipairs(list) do
          out[#out + 1] = { ip = t.ip, network = t.network, host = t.host, kind = "restarted in the wave just done", node = node }
        end
      end
    end
    return out
  end

  local function answers(t)
    if t.node then return ping(t.node, t) end
    for _, node in ipairs(inventory.group(from)) do
      if ping(node, t) then return true end
    end
    return false
  end

  local function probe(_)
    st.probed = true
    if st.lost then return false, st.lost end
    local down = plan()
    local total, waited = #down, 0
    while true do
      local still = {}
      for _, t in ipairs(down) do if not answers(t) then still[#still + 1] = t end end
      if #still == 0 then
        local late = waited > 0 and (" (the last after " .. waited .. " s)") or ""
        return true, total .. " instance(s) answer" .. late
      end
      if waited >= max_loss then
        local names = {}
        for _, t in ipairs(still) do
          names[#names + 1] = t.ip .. " on " .. t.host .. (t.node and (" from " .. t.node.name) or "") .. " (" .. t.kind .. ")"
        end
        st.lost = #still .. " of " .. total .. " instance(s) unreachable from " .. from .. " for more than " .. waited
          .. " s (max_loss " .. max_loss .. " s): " .. common.first_few(names)
        return false, st.lost
      end
      sleep(every)
      waited = waited + every
      down = still
    end
  end

  check(name) {
    desc = "instances answer ping from " .. from .. "'s DHCP namespaces within " .. max_loss .. " s (" .. sample
      .. " per host, on hosts just restarted, restarted earlier and not yet)",
    within = "0s", probe = probe,
  }
  return { name = name, probe = probe, restarted = restarted }
end

return M
