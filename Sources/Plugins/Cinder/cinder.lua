local release = require "ferry.release"
local M = release.component("cinder")

--- Volumes in a transitional state (every status a running operation holds a volume in, Kilo
--- to Queens: openstack/cinder@2015.1.0 and @12.0.0 cinder/volume/api.py (uploading, extending,
--- retyping), cinder/volume/flows/manager/create_volume.py (downloading), cinder/backup/api.py
--- (backing-up, restoring-backup)): stop cinder only when none remain.
M.preflight.busy_volumes = release.zero_rows("cinder",
  "SELECT COUNT(*) FROM volumes WHERE status IN ('attaching','creating','deleting','detaching','migrating','uploading',"
    .. "'downloading','backing-up','restoring-backup','extending','retyping') AND deleted = 0",
  "volume(s) attaching, creating, deleting, detaching, migrating, uploading, downloading, backing-up, restoring-backup, "
    .. "extending or retyping")

--- Before a Newton or later Cinder starts: no service row without an RPC version. Kilo's rows
--- have none (Liberty's migration 053 adds the column, NULL), and from Newton on every cinder
--- service refuses to start beside one (ServiceTooOld; CinderSimulation.start cites the source).
M.preflight.unversioned_services = release.zero_rows("cinder",
  "SELECT COUNT(*) FROM services WHERE deleted = 0 AND rpc_current_version IS NULL",
  "cinder service row(s) without an RPC version (written by Kilo): Queens refuses to start (ServiceTooOld)")

--- Before Pike's db sync: Ocata's online migrations left no consistency group or cgsnapshot
--- (migration 097 refuses otherwise).
M.preflight.ocata_migrations_done = release.zero_rows("cinder",
  "SELECT (SELECT COUNT(*) FROM consistencygroups WHERE deleted = 0) + (SELECT COUNT(*) FROM cgsnapshots WHERE deleted = 0)",
  "consistency group / cgsnapshot row(s) not yet migrated to groups (run Ocata's online data migrations)")

local function require_host(spec, what)
  if type(spec) ~= "table" or type(spec.host) ~= "table" then
    error("cinder." .. what .. " { host = HOST, ... }: expected the host to run cinder-manage on", 3)
  end
end

--- Inside a step: moves volumes from one cinder-volume host (host@backend) to another.
function M.update_host(spec)
  require_host(spec, "update_host")
  validate_spec("cinder.update_host", spec, { "host", "currenthost", "newhost" })
  if type(spec.currenthost) ~= "string" or type(spec.newhost) ~= "string" then
    error("cinder.update_host { host =, currenthost =, newhost = }: currenthost and newhost are required", 2)
  end
  return spec.host:run("cinder-manage volume update_host --currenthost " .. release.quote(spec.currenthost)
    .. " --newhost " .. release.quote(spec.newhost))
end

--- Inside a step: removes the service record of a host that is gone.
function M.service_remove(spec)
  require_host(spec, "service_remove")
  validate_spec("cinder.service_remove", spec, { "host", "binary", "service_host" })
  if type(spec.binary) ~= "string" or type(spec.service_host) ~= "string" then
    error("cinder.service_remove { host =, binary =, service_host = }: binary and service_host are required", 2)
  end
  return spec.host:run("cinder-manage service remove " .. release.quote(spec.binary) .. " " .. release.quote(spec.service_host))
end

--- The Block Storage API answers its version document behind the cinder VIP.
M.health = release.http_health("cinder", "/")

return M
