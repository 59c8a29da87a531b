-- Cinder Queens → Rocky: one schema step and its online migrations; volumev3 is in place
-- since the last hop. Cinder moves to the new controllers as in kilo-to-queens: the volumes of
-- the old cinder-volume hosts are re-homed to the new ones, and the old hosts' service rows are
-- removed before Rocky starts (left down, they would cap every service's RPC version at
-- Queens'). Where the new hosts keep the old ones' names (or pin `host`/`backend_host`), drop
-- both steps.
local phases = require "lib.phases"
local cinder = require "lib.cinder"

phases.api_component {
  component = "cinder", from = "queens", to = "rocky",
  checks = { "no-busy-volumes" },
  roles = { "api", "scheduler", "volume" },
  sync = { timeout = "2h" },
  transport = false,
  after_sync = function()
    cinder.rehome_volumes()
    cinder.remove_old_services()
  end,
}
