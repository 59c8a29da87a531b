-- After the move: the old controllers stay installed (stopped) for the rollback; this only
-- records the end, and tells what is left to do by hand once the change is accepted.
step "record-finish" {
  desc = "record the end of the upgrade",
  run = function(ctx)
    ctx.state.finished = true
    log.info("Queens everywhere. When the change is accepted: stop the old RabbitMQ cluster, "
      .. "decommission the *_old controllers, remove the Kilo virtualenvs from the nodes, purge "
      .. "cinder services of the old hosts (cinder-manage service remove)")
  end,
  undo = function(ctx) ctx.state.finished = nil end,
}
