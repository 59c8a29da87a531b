-- The upgrade: ship the new code to every compute node, then restart the OVS agents on it
-- in waves the Neutron database can take. Each step says how to walk it back.
local site = require "lib.site"

runbook {
  name = "ovs-agents",
  from = "kilo", to = "queens",
  description = "Ship the Queens virtualenv to the compute nodes and switch their OVS agents to it",
}

step "ship-venv" {
  desc = "Unpack the Queens virtualenv beside the running one",
  on = "computes", parallel = 100,
  run = function(host, ctx)
    host:run("tar -xzf " .. ctx.vars.venv_cache .. "/openstack-queens.tgz -C /opt/venvs/queens")
  end,
  undo = function(host, ctx) host:run("rm -rf /opt/venvs/queens") end,
}

step "switch-agents" {
  desc = "Restart the OVS agents on the new code, in waves gated by the Neutron database's load",
  on = "computes", batch = 10, adaptive = true, gate = "neutron-db-load", parallel = 100, max_fail = "5%",
  after = { "network-api" },
  run = function(host, ctx) site.switch(host, "neutron", "queens", "neutron-openvswitch-agent") end,
  undo = function(host, ctx) site.switch(host, "neutron", "kilo", "neutron-openvswitch-agent") end,
}
