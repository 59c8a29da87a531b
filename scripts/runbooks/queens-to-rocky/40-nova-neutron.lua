-- Nova and Neutron Queens → Rocky: the same phase as the Kilo → Queens runbook's, with
-- Nova's API and cell0 databases dumped too, no endpoint to register, and the broker kept.
local phases = require "lib.phases"
local preflight = require "lib.preflight"

phases.nova_neutron {
  from = "queens", to = "rocky",
  before = { preflight.volumev3_endpoint() },
  nova_databases = { "nova", "nova_api", "nova_cell0" },
  transport = false,
}
