-- Nova and Neutron together: controllers prebuilt with Queens take over, the schemas walk
-- Liberty … Queens (Nova: flavors migrated with Kilo's tools, nova_api from Mitaka, cells
-- v2 on Newton, placement from Ocata), the compute endpoint becomes /v2.1, and the compute
-- and network nodes switch to a shipped Queens virtualenv; the OVS agents restart in
-- adaptive waves behind the Neutron database's load and a data-plane probe (the first Queens
-- start re-tags the local VLANs of ports the Kilo agent bound: each host's instances lose traffic
-- until its agent's first sync ends).
local phases = require "lib.phases"
local preflight = require "lib.preflight"

phases.nova_neutron {
  from = "kilo", to = "queens",
  before = { preflight.volumev3_endpoint() },
  nova_databases = { "nova" },
  create_databases = { "nova_api", "nova_cell0" },
  -- The metadata API's VIP (8775) moves with Nova's; add "placement" where placement has its own VIP.
  vips = { "nova", "metadata", "neutron" },
  -- Instances pinged from the network nodes' DHCP namespaces after each wave: 2 per host on the
  -- hosts just restarted, restarted earlier and not yet; none may stay silent longer than a minute.
  dataplane = { sample = 2, hosts = 3, max_loss = "1m" },
  endpoints = {
    name = "nova-endpoints", tags = { "nova", "catalog" }, keystone = "kilo",   -- Keystone stays at Kilo
    services = {
      { component = "nova", release = "ocata", vip = "placement" },   -- placement, mandatory from Ocata
      { component = "nova", release = "queens", vip = "nova" },       -- compute at /v2.1
    },
  },
}
