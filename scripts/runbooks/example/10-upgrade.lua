local files = require "lib.files"

check "agents-healthy" {
  desc  = "no node reports a broken agent",
  probe = function(ctx)
    local r = inventory.host("ctl1"):run("grep -l broken " .. ctx.vars.workdir .. "/*.version 2>/dev/null | wc -l")
    local broken = tonumber(r.stdout) or 0
    return broken == 0, broken .. " agent(s) broken"
  end,
  within = "10s", every = "1s",
}

step "upgrade-agents" {
  desc = "switch each node to v2, remembering the old version for undo",
  on = "computes", batch = 5, parallel = 5, gate = "agents-healthy",
  max_fail = 0, retries = 1, retry_delay = "200ms", timeout = "30s",
  run = function(host, ctx)
    local path = files.path(ctx, host, "agent.version")
    host.state.previous = files.read(host, path)
    files.write(host, path, "v2")
  end,
  undo = function(host, ctx)
    files.write(host, files.path(ctx, host, "agent.version"), host.state.previous or "v1")
  end,
}

step "record-finish" {
  run = function(ctx)
    ctx.state.finished = os.time()
    log.info("upgraded in " .. (ctx.state.finished - ctx.state.started) .. "s")
  end,
  undo = function(ctx) ctx.state.finished = nil end,
}
