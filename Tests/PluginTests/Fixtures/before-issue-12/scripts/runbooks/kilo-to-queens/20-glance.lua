-- Glance: Kilo servers → Queens servers. The schema walks 041 → 042 (Liberty, a required
-- stop) → 044 → Ocata's Alembic (ocata01: is_public becomes visibility) → Queens.
local phases = require "lib.phases"
local glance = require "ferry.glance"

require("lib.preflight").no_image_uploads()

step "warn-glance-v1-users" {
  desc = "Images API v1 is deprecated in Queens and removed in Rocky: tell its users",
  tags = { "glance" },
  run = function(ctx)
    log.warn("Glance Images API v1 still answers on Queens but is removed in Rocky: clients on /v1 "
      .. "(old glanceclient, scripts, Cinder before Pike) must move to v2; image visibility replaces is_public "
      .. "(private images with members become 'shared')")
    ctx.state.glance_v1_warned = true
  end,
  undo = function(ctx) ctx.state.glance_v1_warned = nil end,
}

phases.api_component {
  component = "glance", from = "kilo", to = "queens",
  checks = { "no-image-uploads" },
  file = "/etc/glance/glance-api.conf",
  after_sync = function()
    step "glance-visibility" {
      desc = "is_public became visibility (ocata01): every image has one",
      tags = { "glance" },
      run = function(ctx)
        -- A dry run synced nothing: the column arrives with ocata01.
        if ctx.dry_run then log.info("[dry run] would check that every image has a visibility"); return end
        local versions = glance.schema_version()
        log.info("glance schema now " .. (type(versions) == "table" and table.concat(versions, ", ") or tostring(versions)))
        local c = db.connect("glance")
        local missing = tonumber(c:scalar("SELECT COUNT(*) FROM images WHERE visibility IS NULL AND deleted = 0")) or 0
        c:close()
        if missing > 0 then fail(missing .. " image(s) without a visibility after ocata01") end
      end,
      undo = function(ctx) end, -- read only
    }
  end,
}
