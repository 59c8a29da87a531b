-- An example runbook: it "upgrades" an imaginary agent on every compute node.
-- It runs on the local region (every host is this machine) and shows the
-- language: checks, per-host steps in waves, state that undo reads back.
local files = require "lib.files"

runbook {
  name = "example-agent-upgrade",
  from = "v1", to = "v2",
  description = "Switch each compute node's agent from v1 to v2, in waves, with a health gate.",
}

check "workdir-ready" {
  desc  = "the work directory exists on the runner",
  probe = function(ctx)
    local r = inventory.host("ctl1"):run("test -d " .. ctx.vars.workdir, { check = false })
    return r.code == 0, "missing " .. ctx.vars.workdir
  end,
}

step "prepare-workdir" {
  desc = "create the shared work directory",
  run  = function(ctx)
    inventory.host("ctl1"):run("mkdir -p " .. ctx.vars.workdir)
    ctx.state.started = os.time()
  end,
  undo = function(ctx)
    log.info("keeping " .. ctx.vars.workdir .. " (it may hold other runs' files)")
  end,
  after = { "workdir-ready" },
}

step "install-v1" {
  desc = "make sure every node starts from v1",
  on = "computes", parallel = 10,
  run = function(host, ctx)
    files.write(host, files.path(ctx, host, "agent.version"), "v1")
  end,
  undo = function(host, ctx)
    host:run("rm -f " .. files.path(ctx, host, "agent.version"))
  end,
}
