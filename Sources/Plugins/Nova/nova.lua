local release = require "ferry.release"
local M = release.component("nova")

--- Placement on its own (Stein on): the same functions (db_sync, services, …) for placement.
M.placement = release.component("placement")

--- Instances being built, migrated or resized: stop nova only when none remain.
M.preflight.instances_in_flight = release.zero_rows("nova",
  "SELECT COUNT(*) FROM instances WHERE deleted = 0 AND (vm_state = 'building' OR task_state IN "
    .. "('migrating','resize_prep','resize_migrating','resize_migrated','resize_finish','rebuilding','spawning'))",
  "instance(s) building, migrating or resizing")

--- Before Kilo's flavor migration (the Liberty step's nova-manage db migrate_flavor_data): no
--- instance with a task_state, or resized or rescued. Kilo skips them, exits 0, and Liberty's
--- migration 291 then aborts mid-window (NovaKnowledge.flavorMigrationCompletion cites the source).
M.preflight.flavor_migration_blockers = release.zero_rows("nova",
  "SELECT COUNT(*) FROM instances WHERE deleted = 0 AND (task_state IS NOT NULL OR vm_state IN ('resized','rescued'))",
  "instance(s) with a task_state, or resized or rescued: Kilo's migrate_flavor_data skips them and Liberty's "
    .. "migration 291 aborts (let them finish, confirm or revert resizes, unrescue)")

--- Before nova Queens: a public volumev3 endpoint is in a token's catalog (nova Queens reads
--- volumev3:cinderv3:publicURL from the catalog of its user's token, not /v3/endpoints): an
--- endpoint registered with a key the region's Keystone does not substitute (project_id on
--- Kilo or Liberty) is left out of that catalog, and nova would not find Cinder.
function M.preflight.volumev3_endpoint(ctx)
  local keystone = require "ferry.keystone"
  if keystone.token_endpoints("volumev3").public then return true end
  local registered = catalog.endpoints { service = "volumev3" }
  if #registered > 0 then
    return false, "volumev3 is registered (" .. registered[1].url .. ") but a token's catalog has no public volumev3 "
      .. "endpoint: Keystone could not format its URL (Kilo and Liberty substitute tenant_id, not project_id), "
      .. "so nova would not find Cinder"
  end
  return false, "no volumev3 endpoint in the catalog: nova Queens no longer talks to Cinder v2 "
    .. "(cinder.ensure_endpoints { release = \"queens\", ... })"
end

--- Before Ocata's sync: cell0 and a cell are mapped in nova_api (API migration 030).
M.preflight.cells_mapped = function(ctx)
  local c = db.connect("nova_api")
  local ok, n = pcall(c.scalar, c, "SELECT COUNT(*) FROM cell_mappings")
  c:close()
  if not ok then error(n, 0) end
  n = tonumber(n) or 0
  if n >= 2 then return true end
  return false, n .. " cell mapping(s): Ocata needs cell0 and a cell (nova-manage cell_v2 simple_cell_setup on Newton)"
end

--- A host probe: `nova-manage db null_instance_uuid_scan` (Kilo on) finds no NULL uuid. Migration 267, which
--- needs none, is Kilo's: a database Kilo synced (280) is past it; the probe matters for one below 267.
function M.preflight.null_instance_uuids(host, ctx)
  local r = host:run("nova-manage db null_instance_uuid_scan", { check = false })
  if r.code ~= 0 then return false, "nova-manage db null_instance_uuid_scan exited " .. r.code end
  if r.stdout:find("no records found", 1, true) then return true end
  return false, "NULL instance uuids remain: back up, then nova-manage db null_instance_uuid_scan --delete"
end

--- The oldest Newton point release whose cell setup the library's chain suits (NovaKnowledge.newtonCellSetupMinimum):
--- 14.0.0…14.0.3 require simple_cell_setup --transport-url; before 14.0.7 cell0's database is named after the API
--- database (nova_api_cell0), not nova_cell0.
M.newton_cell_setup_minimum = "14.0.7"

--- The oldest libvirt and QEMU the libvirt driver of each release starts on (NovaKnowledge.hypervisorMinimum;
--- openstack/nova@<tag> nova/virt/libvirt/driver.py MIN_LIBVIRT_VERSION, MIN_QEMU_VERSION): { libvirt =, qemu = }.
M.hypervisor_minimum = {
  kilo = { libvirt = "0.9.11" }, liberty = { libvirt = "0.9.11" }, mitaka = { libvirt = "0.10.2" },
  newton = { libvirt = "1.2.1", qemu = "1.5.3" }, ocata = { libvirt = "1.2.1", qemu = "1.5.3" },
  pike = { libvirt = "1.2.9", qemu = "2.1.0" }, queens = { libvirt = "1.2.9", qemu = "2.1.0" },
  rocky = { libvirt = "1.3.1", qemu = "2.5.0" },
}

--- The SERVICE_VERSION each release's services write in their row (NovaServices cites openstack/nova@<tag>
--- nova/objects/service.py). Kilo has no version column: Liberty's migration 299 gives its rows 0.
M.service_version = {
  kilo = 0, liberty = 2, mitaka = 9, newton = 15, ocata = 16, pike = 22, queens = 30, rocky = 35, stein = 37, train = 40,
}
--- From Pike (22) a compute writes its instances' placement allocations only while a nova-compute row older
--- than Pike remains (openstack/nova@17.0.0 nova/compute/resource_tracker.py `has_ocata_computes`).
M.heal_marker = 22

--- Inside a step or a check: the nova-compute service rows not deleted, { id =, host =, version =, disabled = },
--- from the cell database `database` (default "nova").
function M.compute_services(database)
  local c = db.connect(database or "nova")
  local rows = c:query("SELECT id, host, version, disabled FROM services WHERE `binary` = 'nova-compute' AND deleted = 0 ORDER BY id")
  c:close()
  return rows
end

--- Inside a step or a check: the compute nodes of `hosts` (a set of host names) whose instances are not all in
--- placement, { host =, running_vms =, allocated = } by host name, with the number of nodes looked at. Compares
--- compute_nodes.running_vms (the resource tracker's count) with the consumers allocated against the node's
--- resource provider (same UUID) in `placement_database` (default "nova_api": Newton … Stein).
function M.allocation_gaps(hosts, placement_database)
  local c = db.connect("nova")
  local nodes = c:query("SELECT uuid, host, running_vms FROM compute_nodes WHERE deleted = 0")
  c:close()
  local p = db.connect(placement_database or "nova_api")
  local providers = p:query("SELECT id, uuid FROM resource_providers")
  local counts = p:query("SELECT resource_provider_id, COUNT(DISTINCT consumer_id) AS consumers FROM allocations "
    .. "GROUP BY resource_provider_id")
  p:close()
  local by_uuid, consumers = {}, {}
  for _, rp in ipairs(providers) do by_uuid[rp.uuid] = rp.id end
  for _, row in ipairs(counts) do consumers[row.resource_provider_id] = tonumber(row.consumers) end
  local gaps, looked = {}, 0
  for _, n in ipairs(nodes) do
    if hosts[n.host] then
      looked = looked + 1
      local rp = by_uuid[n.uuid]
      local allocated = rp and consumers[rp] or 0
      local running = tonumber(n.running_vms) or 0
      if allocated < running then gaps[n.host] = { host = n.host, running_vms = running, allocated = allocated, provider = rp ~= nil } end
    end
  end
  return gaps, looked
end

--- Inside a step: maps computes that are not in a cell yet (run whenever computes are added, Ocata on).
function M.discover_hosts(host)
  if type(host) ~= "table" then error("nova.discover_hosts(host): expected the host to run nova-manage on", 2) end
  return host:run("nova-manage cell_v2 discover_hosts")
end

--- Inside a step (Pike on): points every cell but cell0 at the broker (and database) in
--- the nova.conf of `host` — `nova-manage cell_v2 update_cell --cell_uuid U` without
--- --transport-url reads [DEFAULT]/transport_url there, so no password reaches the command
--- line. Needed after the services move to a new RabbitMQ cluster: nova-api reaches the
--- cell through the URL in its mapping. Returns the UUIDs updated.
function M.update_cells(host)
  if type(host) ~= "table" then error("nova.update_cells(host): expected the host to run nova-manage on", 2) end
  local listed = host:run("nova-manage cell_v2 list_cells")
  if listed.dry_run then return {} end
  local uuids, names = {}, {}
  for line in listed.stdout:gmatch("[^\n]+") do
    local name, uuid = line:match("^|%s*([^|]-)%s*|%s*(%x+%-%x+%-%x+%-%x+%-%x+)%s*|")
    if uuid and uuid ~= "00000000-0000-0000-0000-000000000000" then
      uuids[#uuids + 1] = uuid
      names[#names + 1] = name .. " (" .. uuid .. ")"
    end
  end
  if #uuids == 0 then
    error("nova.update_cells: `nova-manage cell_v2 list_cells` on " .. host.name .. " lists no cell besides cell0", 2)
  end
  -- Without options update_cell takes the broker and the database from nova.conf, and
  -- nova refuses two cells with the same pair: several cells need a URL each.
  if #uuids > 1 then
    error("nova.update_cells: " .. host.name .. " lists " .. #uuids .. " cells besides cell0 (" .. table.concat(names, ", ")
      .. "): each needs its own broker and database; run `nova-manage cell_v2 update_cell --cell_uuid U "
      .. "--transport-url URL` per cell (nothing was changed)", 2)
  end
  for _, uuid in ipairs(uuids) do host:run("nova-manage cell_v2 update_cell --cell_uuid " .. uuid) end
  return uuids
end

--- The Compute API answers its version document behind the nova VIP.
M.health = release.http_health("nova", "/")

return M
