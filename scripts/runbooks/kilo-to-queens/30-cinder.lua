-- Cinder: Kilo servers → Queens servers. The schema walks 041 → Liberty → Mitaka (required
-- stop: Newton needs 045) → … → Ocata (required stop: its online migrations before Pike)
-- → Queens. The volumes of the old cinder-volume hosts (NFS backends) are re-homed to the new hosts, volumev3 is
-- registered (nova Queens needs it) and the v2 endpoints follow the VIP.
local lib = require "lib.upgrade"
local phases = require "lib.phases"
local cinder = require "lib.cinder"

phases.api_component {
  component = "cinder", from = "kilo", to = "queens",
  checks = { "no-busy-volumes" },
  roles = { "api", "scheduler", "volume" },   -- add "backup" where cinder-backup runs
  sync = { timeout = "2h" },
  after_sync = function()
    -- The volumes of the old cinder-volume hosts move to the new hosts (vars.cinder_rehome maps
    -- them otherwise); then the old hosts' service rows go: Queens Cinder refuses to start while
    -- a row has no RPC version (Kilo's, left NULL by Liberty's migration 053: ServiceTooOld).
    cinder.rehome_volumes()
    cinder.remove_old_services()
    lib.register_endpoints {
      name = "cinder-endpoints", tags = { "cinder", "catalog" }, keystone = "kilo",
      services = {
        { component = "cinder", release = "queens", vip = "cinder" },             -- volumev3 (cinderv3)
        { service = "cinderv2", path = "/v2/%(project_id)s", vip = "cinder" },    -- volumev2 follows the VIP
      },
      remove = { "volume" },                                                      -- API v1 is gone in Queens
    }
  end,
}
