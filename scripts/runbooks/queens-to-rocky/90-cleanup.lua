step "record-finish" {
  desc = "record the end of the upgrade",
  run = function(ctx)
    ctx.state.finished = true
    log.info("Rocky everywhere. Next: Stein, where placement leaves nova_api (a required stop before Train)")
  end,
  undo = function(ctx) ctx.state.finished = nil end,
}
