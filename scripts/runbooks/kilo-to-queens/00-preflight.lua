-- Kilo → Queens, the whole region: RabbitMQ onto a new cluster, then Glance, Cinder, and
-- Nova with Neutron, each component moved to controllers prebuilt with Queens, its schema
-- walked release by release (Liberty … Queens), the compute and network nodes upgraded in
-- place from a shipped virtualenv. Every step that can be undone has an undo; schema
-- steps are one-way and are rolled back by restoring the dumps taken before them.
--
--   ferry plan  scripts/runbooks/kilo-to-queens -r sim
--   ferry drill scripts/runbooks/kilo-to-queens -r sim --times 2 --fresh --html kq.html
--
-- Region: groups <component>_old / <component>_new, computes, network_nodes, rabbit_new;
-- a VIP and a database per component (see scripts/regions/kr1.example.yaml).
local preflight = require "lib.preflight"

runbook {
  name = "kilo-to-queens",
  from = "kilo", to = "queens",
  description = "RabbitMQ onto a new cluster; Glance, Cinder, Nova and Neutron from Kilo to Queens",
}

preflight.step {
  preflight.no_busy_volumes(),
  preflight.no_instances_in_flight(),
  -- Kilo's migrate_flavor_data skips these and exits 0; Liberty's migration 291 then aborts.
  preflight.no_flavor_migration_blockers(),
  -- No online-migrations check: Kilo has none (its flavor migration is a step of the
  -- chain, and its consistency groups are moved by Ocata's migrations on the way).
  preflight.databases_reachable { names = { "glance", "cinder", "nova", "neutron" } },
  preflight.backup_space(),
  -- Every compute's libvirt and QEMU new enough for Queens's nova-compute (it refuses older).
  require("lib.compute").hypervisor_versions { to = "queens" },
  -- The Newton tools' point release decides how its cell setup behaves (14.0.7 or later).
  preflight.newton_nova_version(),
  preflight.new_controllers {
    roles = { cinder = { "api", "scheduler", "volume" } }, to = "queens",
    groups = { "glance_new", "cinder_new", "nova_new", "neutron_new", "rabbit_new" },
  },
}
