-- Cinder's move to new hosts, for any hop whose cinder-volume (and scheduler, backup)
-- services change host: the volumes re-homed to the new hosts, and the old hosts' service
-- rows removed before the new services start. See docs/library.md.
local cinder = require "ferry.cinder"

---@class lib.cinder.RehomeVolumesSpec: table<"from"|"to"|"name"|"tags", any>
---@field from? string (default "cinder_old")
---@field to? string (default "cinder_new")
---@field name? string
---@field tags? string|string[]

---@class lib.cinder.RemoveOldServicesSpec: table<"from"|"runner"|"name"|"tags"|"versioned", any>
---@field from? string (default "cinder_old")
---@field runner? string (default "cinder_new")
---@field name? string
---@field tags? string|string[]
---@field versioned? boolean

---@class lib.cinder
local M = {}

--- The service rows of `cinder-manage service list` on `host`: { binary =, host = } each.
function M.service_rows(host)
  local out = {}
  local r = host:run("cinder-manage service list", { check = false })
  for line in (r.stdout or ""):gmatch("[^\n]+") do
    local binary, h = line:match("^%s*(cinder%-%a+)%s+(%S+)")
    if binary then out[#out + 1] = { binary = binary, host = h } end
  end
  return out
end

--- Declares `cinder-rehome-volumes`: the volumes of each old cinder-volume host (host@backend,
--- read from `cinder-manage service list` on the first host of `to`) move to the host of `to`
--- at the same position in its group (or where `vars.cinder_rehome` maps them), with
--- `cinder-manage volume update_host`; undo moves them back. spec: from (default
--- "cinder_old"), to (default "cinder_new"), name, tags.
---@param spec? lib.cinder.RehomeVolumesSpec
function M.rehome_volumes(spec)
  spec = validate_spec("lib.cinder.rehome_volumes", spec or {}, { "from", "to", "name", "tags" })
  local from, to = spec.from or "cinder_old", spec.to or "cinder_new"
  local name = spec.name or "cinder-rehome-volumes"
  step(name) {
    desc = "re-home volumes of the " .. from .. " cinder-volume hosts to " .. to .. " (cinder-manage volume update_host)",
    tags = spec.tags or { "cinder" },
    run = function(ctx)
      local new = inventory.group(to)
      local old = inventory.group(from)
      local runner = new[1]
      local moves = {}
      for _, row in ipairs(M.service_rows(runner)) do
        if row.binary == "cinder-volume" then
          local current = row.host
          local host, backend = current:match("^([^@]+)@(.+)$")
          for i, h in ipairs(old) do
            if host == h.name and new[i] then
              local target = new[i].name .. "@" .. backend
              if ctx.vars.cinder_rehome and ctx.vars.cinder_rehome[current] then target = ctx.vars.cinder_rehome[current] end
              cinder.update_host { host = runner, currenthost = current, newhost = target }
              moves[#moves + 1] = { from = current, to = target }
            end
          end
        end
      end
      ctx.state.cinder_moves = moves
      log.info("re-homed " .. #moves .. " cinder-volume host(s)")
    end,
    undo = function(ctx)
      local runner = inventory.group(to)[1]
      local moves = ctx.state.cinder_moves or {}
      for i = #moves, 1, -1 do
        cinder.update_host { host = runner, currenthost = moves[i].to, newhost = moves[i].from }
      end
    end,
  }
  return name
end

--- Declares `cinder-remove-old-services`: `cinder-manage service remove` of every
--- cinder-volume, cinder-scheduler and cinder-backup row of a `from` host (the old services
--- stay down forever: from Newton on they stop the new services starting when Kilo wrote
--- them, `ServiceTooOld`, and otherwise cap the RPC version every service uses at theirs).
--- Then, unless `versioned = false`, no row without an RPC version may be left
--- (`cinder.preflight.unversioned_services`). Undo does nothing: the rows come back with the
--- cinder database, which the rollback restores. Put it after the re-homing and before the
--- new services start. spec: from (default "cinder_old"), runner (default "cinder_new"),
--- name, tags.
---@param spec? lib.cinder.RemoveOldServicesSpec
function M.remove_old_services(spec)
  spec = validate_spec("lib.cinder.remove_old_services", spec or {}, { "from", "runner", "name", "tags", "versioned" })
  local from, runner_group = spec.from or "cinder_old", spec.runner or "cinder_new"
  local name = spec.name or "cinder-remove-old-services"
  step(name) {
    desc = "remove the " .. from .. " hosts' cinder-volume, cinder-scheduler and cinder-backup service rows "
      .. "(cinder-manage service remove): the new services refuse Kilo's rows (ServiceTooOld) and are capped by old ones",
    tags = spec.tags or { "cinder", "cinder-services" },
    run = function(ctx)
      local runner = inventory.group(runner_group)[1]
      local old = {}
      for _, h in ipairs(inventory.group(from)) do old[h.name] = true end
      local removed = {}
      for _, row in ipairs(M.service_rows(runner)) do
        local host = row.host:match("^([^@]+)")
        if old[host] and (row.binary == "cinder-volume" or row.binary == "cinder-scheduler" or row.binary == "cinder-backup") then
          cinder.service_remove { host = runner, binary = row.binary, service_host = row.host }
          removed[#removed + 1] = row.binary .. " " .. row.host
        end
      end
      ctx.state.cinder_removed_services = removed
      log.info("removed " .. #removed .. " old cinder service row(s)" .. (#removed > 0 and (": " .. table.concat(removed, ", ")) or ""))
      if ctx.dry_run or spec.versioned == false then return end
      local ok, why = cinder.preflight.unversioned_services(ctx)
      if not ok then fail(why .. ", on hosts outside " .. from .. ": remove them (cinder-manage service remove)") end
    end,
    undo = function(ctx) end, -- the rows come back with the cinder database (its backup's restore)
  }
  return name
end

return M
