-- Cinder: Kilo servers → Queens servers. The schema walks 041 → Liberty → Mitaka (required
-- stop: Newton needs 045) → … → Ocata (required stop: its online migrations before Pike)
-- → Queens. The volumes of the old cinder-volume hosts (NFS backends) are re-homed to the new hosts, volumev3 is
-- registered (nova Queens needs it) and the v2 endpoints follow the VIP.
local lib = require "lib.upgrade"
local phases = require "lib.phases"
local cinder = require "ferry.cinder"

--- The cinder-volume hosts (host@backend) the old servers own, from cinder-manage service list.
local function volume_hosts(host)
  local out = {}
  local r = host:run("cinder-manage service list", { check = false })
  for line in (r.stdout or ""):gmatch("[^\n]+") do
    local binary, h = line:match("^%s*(cinder%-volume)%s+(%S+)")
    if binary then out[#out + 1] = h end
  end
  return out
end

phases.api_component {
  component = "cinder", from = "kilo", to = "queens",
  checks = { "no-busy-volumes" },
  roles = { "api", "scheduler", "volume" },   -- add "backup" where cinder-backup runs
  sync = { timeout = "2h" },
  after_sync = function()
    step "cinder-rehome-volumes" {
      desc = "re-home volumes of the old cinder-volume hosts to the new ones (cinder-manage volume update_host)",
      tags = { "cinder" },
      run = function(ctx)
        local new = inventory.group("cinder_new")
        local old = inventory.group("cinder_old")
        local runner = new[1]
        local moves = {}
        for _, current in ipairs(volume_hosts(runner)) do
          local name, backend = current:match("^([^@]+)@(.+)$")
          for i, h in ipairs(old) do
            if name == h.name and new[i] then
              local target = new[i].name .. "@" .. backend
              if ctx.vars.cinder_rehome and ctx.vars.cinder_rehome[current] then target = ctx.vars.cinder_rehome[current] end
              cinder.update_host { host = runner, currenthost = current, newhost = target }
              moves[#moves + 1] = { from = current, to = target }
            end
          end
        end
        ctx.state.cinder_moves = moves
        log.info("re-homed " .. #moves .. " cinder-volume host(s)")
      end,
      undo = function(ctx)
        local runner = inventory.group("cinder_new")[1]
        local moves = ctx.state.cinder_moves or {}
        for i = #moves, 1, -1 do
          cinder.update_host { host = runner, currenthost = moves[i].to, newhost = moves[i].from }
        end
      end,
    }
    lib.register_endpoints {
      name = "cinder-endpoints", tags = { "cinder", "catalog" },
      services = {
        { component = "cinder", release = "queens", vip = "cinder" },             -- volumev3 (cinderv3)
        { service = "cinderv2", path = "/v2/%(project_id)s", vip = "cinder" },    -- volumev2 follows the VIP
      },
      remove = { "volume" },                                                      -- API v1 is gone in Queens
    }
  end,
}
