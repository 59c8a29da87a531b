-- Neutron and Nova on the compute nodes, upgraded in place from a shipped virtualenv,
-- with the agents restarted in adaptive waves behind the Neutron database's load: the
-- step the reference upgrade's first attempt was rolled back for. Runs on the
-- simulated region (ferry drill scripts/runbooks/sim-agents -r sim).
local compute = require "lib.compute"
local config = require "lib.config"

runbook {
  name = "sim-agents",
  from = "kilo", to = "queens",
  description = "Ship the Queens virtualenv to every compute node and switch nova-compute and the OVS agent to it",
}

check "neutron-db-load" {
  desc = "the Neutron database is not overloaded (Threads_running below 28)",
  within = "15m", every = "30s",
  probe = function(ctx)
    local threads = tonumber(db.connect("neutron"):status("Threads_running"))
    return threads < 28, "Threads_running " .. threads
  end,
}

check "compute-api" {
  desc = "the compute API answers through its VIP",
  within = "2m", every = "10s",
  probe = function(ctx)
    local r = http.get(vip.url("nova") .. "/")
    return r.status == 200, "HTTP " .. r.status
  end,
}

step "backup-databases" {
  desc = "Back up the Nova and Neutron databases before anything changes",
  run = function(ctx)
    ctx.state.nova = db.backup("nova")
    ctx.state.neutron = db.backup("neutron")
  end,
  undo = function(ctx)
    db.restore(ctx.state.neutron, { force = true })
    db.restore(ctx.state.nova, { force = true })
  end,
}

step "ship-venv" {
  desc = "Unpack the Queens virtualenv beside the running one",
  on = "computes", parallel = 500,
  run = function(host, ctx)
    host:run("tar -xzf " .. ctx.vars.venv_cache .. "/openstack-queens.tgz -C /opt/venvs/queens")
  end,
  undo = function(host, ctx) host:run("rm -rf /opt/venvs/queens") end,
}

-- Queens nova-compute needs Queens' configuration, not Kilo's: it refuses to start without
-- [placement] (PlacementNotConfigured), and Kilo's [neutron] admin_* options are gone.
-- lib.compute takes [placement] and [neutron] from the new controllers' nova.conf.
step "switch-compute" {
  desc = "Point openstack-nova-compute at the Queens code with the new controllers' [placement] and [neutron], and restart it",
  on = "computes", batch = "25%", parallel = 500, max_fail = "1%",
  run = function(host, ctx)
    host:run("ln -sfn /opt/venvs/queens /opt/openstack/nova")
    host.state.ini = config.apply_ini(host, compute.config_edits(ctx, "queens"))
    host:run("systemctl restart openstack-nova-compute")
  end,
  undo = function(host, ctx)
    host:run("ln -sfn /opt/venvs/kilo /opt/openstack/nova")
    config.undo_ini(host, host.state.ini)
    host:run("systemctl restart openstack-nova-compute")
  end,
}

step "switch-agents" {
  desc = "Restart the OVS agents on the new code in waves the Neutron database can take",
  on = "computes", batch = 50, adaptive = true, gate = "neutron-db-load", parallel = 1000, max_fail = "1%",
  after = { "compute-api" },
  run = function(host, ctx)
    host:run("ln -sfn /opt/venvs/queens /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent")
  end,
  undo = function(host, ctx)
    host:run("ln -sfn /opt/venvs/kilo /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent")
  end,
}
