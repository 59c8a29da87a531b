-- Cinder Queens → Rocky: one schema step and its online migrations; volumev3 is in place
-- since the last hop, and the volume hosts keep their names (no re-homing).
local phases = require "lib.phases"

phases.api_component {
  component = "cinder", from = "queens", to = "rocky",
  checks = { "no-busy-volumes" },
  roles = { "api", "scheduler", "volume" },
  sync = { timeout = "2h" },
  transport = false,
}
