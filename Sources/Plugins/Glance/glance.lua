local release = require "ferry.release"
local M = release.component("glance")

--- Image uploads in progress (status 'saving'): stop the API only when none remain.
M.preflight.uploads_in_progress = release.zero_rows("glance",
  "SELECT COUNT(*) FROM images WHERE status = 'saving' AND deleted = 0", "image upload(s) in progress (status saving)")

--- The legacy schema version (Kilo…Newton: 41, 42, 44), or the Alembic heads from Ocata on.
function M.schema_version(name)
  local c = db.connect(name or "glance")
  local ok, versions = pcall(c.alembic_versions, c)
  if ok and #versions > 0 then c:close(); return versions end
  local rows = c:query("SELECT version FROM migrate_version")
  c:close()
  return rows[1] and rows[1].version
end

--- The Images API answers its version document (HTTP 300) behind the glance VIP.
M.health = release.http_health("glance", "/versions")

return M
