-- Glance Queens → Rocky: one Alembic step (rocky_expand01/contract01); the Images API v1
-- is removed, so its users must be gone before the switch.
local phases = require "lib.phases"

require("lib.preflight").no_image_uploads()

step "confirm-glance-v1-gone" {
  desc = "Rocky removes the Images API v1: every client must use v2 (Cinder ≥ Pike and Nova ≥ Newton do)",
  tags = { "glance" },
  confirm = "Rocky removes Glance's Images API v1. Have its last users (scripts, old clients) moved to v2?",
  run = function(ctx) ctx.state.glance_v1_confirmed = true end,
  undo = function(ctx) ctx.state.glance_v1_confirmed = nil end,
}

phases.api_component {
  component = "glance", from = "queens", to = "rocky",
  checks = { "no-image-uploads" }, file = "/etc/glance/glance-api.conf",
  transport = false,
}
