local release = require "ferry.release"
local M = release.component("keystone")

--- A host probe: the token provider is Fernet (Rocky removes uuid and the sql token driver).
function M.preflight.fernet_tokens(host, ctx)
  local provider = host:ini("/etc/keystone/keystone.conf"):get("token", "provider")
  if provider == nil or provider == "fernet" then
    if provider == nil then log.warn("keystone on " .. host.name .. ": [token]/provider unset (the release's default applies)") end
    return true
  end
  return false, "[token]/provider is " .. tostring(provider) .. " on " .. host.name .. ": switch to fernet before Rocky"
end

--- Before Queens: no identity endpoint still points at /v2.0.
function M.preflight.no_v2_endpoints(ctx)
  local old = {}
  for _, e in ipairs(catalog.endpoints { service = "identity" }) do
    if e.url:find("/v2.0", 1, true) then old[#old + 1] = e.interface .. " " .. e.url end
  end
  if #old == 0 then return true end
  return false, "identity endpoint(s) on /v2.0, removed in Queens: " .. table.concat(old, ", ")
end

--- Before a Keystone db_sync to Queens: the database server is not MariaDB 10.3 or later.
--- Queens' expand migration 035 adds a column named `system`, reserved since MariaDB 10.3,
--- and Queens' SQLAlchemy 1.2.1 does not quote it: the sync stops half-way with 1064
--- (KeystoneSimulation.reservedSystemColumn cites the sources). `database` names the
--- region's database entry (default "keystone"). Use it as a check's probe:
---   check "keystone-db-server" { phase = "before", probe = keystone.preflight.database_server }
function M.preflight.database_server(ctx, database)
  local version = db.connect(database or "keystone"):scalar("SELECT VERSION()")
  local major, minor = tostring(version):match("^(%d+)%.(%d+)")
  if not major then return true end
  local mariadb = tostring(version):lower():find("mariadb", 1, true) ~= nil
  if mariadb and (tonumber(major) > 10 or (tonumber(major) == 10 and tonumber(minor) >= 3)) then
    return false, "the keystone database server is " .. version .. ": Queens' keystone-manage db_sync fails on MariaDB 10.3 or "
      .. "later (column application_credential.system, migration 035, unquoted by SQLAlchemy 1.2.1); "
      .. "run Queens' sync against a MariaDB 10.1 or 10.2 server"
  end
  return true
end

--- The key endpoint URL templates name the project with on a Keystone of `release_name`:
--- "project_id" from Mitaka, "tenant_id" before. Kilo and Liberty substitute no project_id and
--- leave an endpoint that names it out of every token's catalog, silently (the rule and its
--- sources: KeystoneKnowledge.urlSubstitutions).
function M.project_key(release_name)
  return release.index(release_name) >= release.index("mitaka") and "project_id" or "tenant_id"
end

--- `path` with its project key (`%(project_id)s` or `%(tenant_id)s`) as a Keystone of
--- `release_name` substitutes it: "/v3/%(project_id)s" is "/v3/%(tenant_id)s" for Kilo.
function M.url_template(path, release_name)
  local key = M.project_key(release_name)
  return (path:gsub("%%%(([%w_]+)%)s", function(k)
    if k == "project_id" or k == "tenant_id" then return "%(" .. key .. ")s" end
  end))
end

--- The release of the region's Keystone: `vars.keystone_release`, else `default` (the release
--- a runbook that leaves Keystone alone starts from). Neither is an error naming both.
function M.region_release(ctx, default)
  local r = (type(ctx) == "table" and type(ctx.vars) == "table" and ctx.vars.keystone_release) or default
  if type(r) ~= "string" then
    error("the region's Keystone release is unknown: set vars.keystone_release (endpoint URL templates depend on it: "
      .. "Kilo and Liberty substitute tenant_id, not project_id)", 2)
  end
  release.index(r) -- an unknown name is an error here
  return r
end

--- The endpoints a new token's catalog carries (catalog.token_catalog()) for the service
--- named or typed `service`, as { [interface] = url }: what nova and the others find.
function M.token_endpoints(service)
  local out = {}
  for _, s in ipairs(catalog.token_catalog()) do
    if s.type == service or s.name == service then
      for _, e in ipairs(s.endpoints or {}) do out[e.interface] = e.url end
    end
  end
  return out
end

--- The Identity API answers its version document behind the keystone VIP.
M.health = release.http_health("keystone", "/v3")

return M
