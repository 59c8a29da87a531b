-- Queens → Rocky, the hop after kilo-to-queens, built from the same library: the same
-- preflight, the same API-component phase for Glance and Cinder, the same Nova+Neutron
-- phase. What differs is written here: no new broker (the services keep theirs), Keystone
-- must already issue Fernet tokens (Rocky removes uuid and the sql token driver), Glance's
-- Images API v1 is gone (its users must have moved), and Nova's three databases are dumped.
--
--   ferry plan  scripts/runbooks/queens-to-rocky -r sim-queens
--   ferry drill scripts/runbooks/queens-to-rocky -r sim-queens --times 2 --fresh
local preflight = require "lib.preflight"
local keystone = require "ferry.keystone"

runbook {
  name = "queens-to-rocky",
  from = "queens", to = "rocky",
  description = "Glance, Cinder, Nova and Neutron from Queens to Rocky on controllers prebuilt with Rocky",
}

check "keystone-fernet" {
  phase = "before",
  desc = "Keystone issues Fernet tokens (Rocky removes the uuid provider and the sql token driver)",
  on = "keystone_old",
  probe = keystone.preflight.fernet_tokens,
}

preflight.step {
  preflight.no_busy_volumes(),
  preflight.no_instances_in_flight(),
  preflight.online_migrations_done { from = "queens" },
  preflight.databases_reachable { names = { "glance", "cinder", "nova", "nova_api", "nova_cell0", "neutron" } },
  preflight.backup_space(),
  -- Every compute's libvirt and QEMU new enough for Rocky's nova-compute (it refuses older).
  require("lib.compute").hypervisor_versions { to = "rocky" },
  preflight.new_controllers {
    roles = { cinder = { "api", "scheduler", "volume" } }, to = "rocky",
    groups = { "glance_new", "cinder_new", "nova_new", "neutron_new" },
  },
  "keystone-fernet",
}
