local getinfo = debug.getinfo
local native = __native
__native = nil
local type, pairs, ipairs, error, tostring, select = type, pairs, ipairs, error, tostring, select
local raw_setmetatable, getmetatable, rawget, pcall, concat = setmetatable, getmetatable, rawget, pcall, table.concat

-- Ferry's objects never get a finalizer: a runbook can reach their class tables
-- (getmetatable(host).__gc = …), and Lua runs finalizers with the instruction hook off.
local function setmetatable(t, mt)
  if rawget(mt, "__gc") ~= nil then
    error("__gc is not available to runbooks (Ferry's sandbox): finalizers run outside the instruction budget", 0)
  end
  return raw_setmetatable(t, mt)
end

local decl = { runbook = nil, steps = {}, checks = {}, pending = {} }
local fns = {}
__ferry_fns = fns

-- The runbook's own files (their chunk names), passed to this chunk by the loader: a
-- declaration made by a helper (the library's, a plugin's, a module of the runbook's) is
-- placed at the line of the runbook file that called the helper.
local entry_files = {}
for i = 1, select("#", ...) do entry_files[(select(i, ...))] = true end

local function source_of(info)
  local src = info.source or "?"
  if src:sub(1, 1) == "@" then src = src:sub(2) end
  return src
end

-- Where the function `level` levels up was called from: the innermost frame in one of the
-- runbook's own files, else that caller. Returns file, line and the level to give error()
-- (counted from the function calling `caller`).
local function caller(level)
  local l = level + 1
  while true do
    local info = getinfo(l, "Sl")
    if not info then break end
    if info.what ~= "C" then
      local src = source_of(info)
      if entry_files[src] then return src, info.currentline or 0, l - 1 end
    end
    l = l + 1
  end
  local info = getinfo(level + 1, "Sl")
  if not info then return "?", 0, level end
  return source_of(info), info.currentline or 0, level
end

-- Functions become { __fn = id } so the declaration crosses into Swift as data. Errors
-- carry no place: `declared` adds the declaration's.
local max_depth = 100
local function encode(v, seen, depth)
  local t = type(v)
  if t == "function" then fns[#fns + 1] = v; return { __fn = #fns } end
  if t ~= "table" then return v end
  seen = seen or {}
  depth = depth or 1
  if seen[v] then error("a table that contains itself cannot be declared", 0) end
  -- Deeper would overflow Lua's stack here (a loop builds a table a million deep).
  if depth > max_depth then error("tables nested deeper than " .. max_depth .. " levels cannot be declared", 0) end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do out[k] = encode(x, seen, depth + 1) end
  seen[v] = nil
  return out
end

-- `encode(spec)`, its error raised at `level` (the line that declared it).
local function declared(spec, level)
  local ok, encoded = pcall(encode, spec)
  if not ok then error(encoded, level + 1) end
  return encoded
end

function runbook(spec)
  local file, line, level = caller(2)
  if type(spec) ~= "table" then
    error("runbook { name = ..., from = ..., to = ... } expects a table, got " .. type(spec), level)
  end
  if decl.runbook then
    error("runbook declared twice (first at " .. decl.runbook.file .. ":" .. decl.runbook.line .. ")", level)
  end
  decl.runbook = { spec = declared(spec, level), file = file, line = line }
end

local function declarer(kind, list)
  return function(name)
    local file, line, level = caller(2)
    if type(name) ~= "string" or name == "" then
      error(kind .. ' "name" { ... }: expected a name string, got ' .. type(name), level)
    end
    local token = {}
    decl.pending[token] = { kind = kind, name = name, file = file, line = line }
    return function(spec)
      decl.pending[token] = nil
      local _, _, body_level = caller(2)
      if type(spec) ~= "table" then
        error(kind .. ' "' .. name .. '" expects a table of fields { ... }, got ' .. type(spec), body_level)
      end
      list[#list + 1] = { name = name, file = file, line = line, spec = declared(spec, body_level) }
    end
  end
end

--- Checks that `spec` is a table whose keys are all among the lists `known`, ...: raises
--- "WHAT: unknown field 'rolse' (did you mean 'roles'?)" at the runbook line that called the
--- helper (or the helper's caller). Every helper of the library and the plugins calls it.
function validate_spec(what, spec, ...)
  if type(what) ~= "string" then error("validate_spec(what, spec, known): what must be a string", 2) end
  local _, _, level = caller(3)
  if type(spec) ~= "table" then
    error(what .. " { ... } expects a table of fields, got " .. type(spec), level)
  end
  local allowed, names = {}, {}
  for i = 1, select("#", ...) do
    local known = select(i, ...)
    if type(known) ~= "table" then error("validate_spec(what, spec, known): known must be a list of field names", 2) end
    for _, k in ipairs(known) do
      if not allowed[k] then allowed[k] = true; names[#names + 1] = k end
    end
  end
  local unknown, positional = {}, false
  for k in pairs(spec) do
    if type(k) ~= "string" then positional = true
    elseif not allowed[k] then unknown[#unknown + 1] = k end
  end
  if positional then error(what .. ": fields must be named (name = value), found a list", level) end
  if #unknown == 0 then return spec end
  table.sort(unknown)
  local problems = {}
  for i, k in ipairs(unknown) do
    local near = native.nearest(k, names)
    problems[i] = "unknown field '" .. k .. "'" .. (near and (" (did you mean '" .. near .. "'?)") or "")
  end
  error(what .. ": " .. concat(problems, ", "), level)
end
step = declarer("step", decl.steps)
check = declarer("check", decl.checks)

function __ferry_declarations()
  local pending = {}
  for _, p in pairs(decl.pending) do pending[#pending + 1] = p end
  return { runbook = decl.runbook, steps = decl.steps, checks = decl.checks, pending = pending }
end

-- Hosts ------------------------------------------------------------------

local Host = {}
Host.__index = Host
Host.__tostring = function(h) return "host " .. h.name end
local Service = {}
Service.__index = Service
local Ini = {}
Ini.__index = Ini

local function make_host(data, state)
  data.state = state or {}
  return setmetatable(data, Host)
end

local function host_name(h, method)
  if type(h) ~= "table" or type(h.name) ~= "string" then
    error("host:" .. method .. "(...) must be called with ':' on a host object", 3)
  end
  return h.name
end

function Host:run(cmd, opts) return native.host_run(host_name(self, "run"), cmd, opts) end
function Host:put(src, dst, opts) return native.host_put(host_name(self, "put"), src, dst, opts) end
function Host:service(name)
  host_name(self, "service")
  if type(name) ~= "string" then error("host:service(name): expected a service name, got " .. type(name), 2) end
  return setmetatable({ host = self, name = name }, Service)
end
function Host:ini(path)
  host_name(self, "ini")
  if type(path) ~= "string" then error("host:ini(path): expected a file path, got " .. type(path), 2) end
  return setmetatable({ host = self, path = path }, Ini)
end

local function systemctl(svc, verb, opts)
  return native.host_run(svc.host.name, "systemctl " .. verb .. " " .. native.shell_quote(svc.name), opts)
end
function Service:start(opts) return systemctl(self, "start", opts) end
function Service:stop(opts) return systemctl(self, "stop", opts) end
function Service:restart(opts) return systemctl(self, "restart", opts) end
function Service:reload(opts) return systemctl(self, "reload", opts) end
function Service:enable(opts) return systemctl(self, "enable", opts) end
function Service:disable(opts) return systemctl(self, "disable", opts) end
function Service:active(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.check = false
  return systemctl(self, "is-active --quiet", o).code == 0
end

function Ini:get(section, key) return native.ini_get(self.host.name, self.path, section, key) end
function Ini:set(section, key, value) return native.ini_set(self.host.name, self.path, section, key, value) end
function Ini:delete(section, key) return native.ini_set(self.host.name, self.path, section, key, nil) end
function Ini:values(section, key) return native.ini_values(self.host.name, self.path, section, key) end

-- Inventory and fan-out --------------------------------------------------

local function wrap_all(list)
  for i, h in ipairs(list) do list[i] = make_host(h) end
  return list
end
inventory = {
  hosts = function(selector) return wrap_all(native.inventory_hosts(selector)) end,
  group = function(name) return wrap_all(native.inventory_group(name)) end,
  host = function(name) return make_host(native.inventory_host(name)) end,
}
ssh = {
  run = function(selector, cmd, opts) return native.ssh_run(selector, cmd, opts) end,
}

-- Databases ----------------------------------------------------------------

local Connection = {}
Connection.__index = Connection
Connection.__tostring = function(c) return "db connection " .. c.name end
local function conn_id(c, method)
  if type(c) ~= "table" or getmetatable(c) ~= Connection then
    error("conn:" .. method .. "(...) must be called with ':' on a connection from db.connect", 3)
  end
  return c.id
end
function Connection:query(sql, ...) return native.db_query(conn_id(self, "query"), sql, ...) end
function Connection:exec(sql, ...) return native.db_exec(conn_id(self, "exec"), sql, ...) end
function Connection:scalar(sql, ...) return native.db_scalar(conn_id(self, "scalar"), sql, ...) end
function Connection:status(variable) return native.db_status(conn_id(self, "status"), variable) end
function Connection:close() return native.db_close(conn_id(self, "close")) end
--- Runs fn(conn) in a transaction: committed when fn returns, rolled back when it raises.
function Connection:transaction(fn)
  local id = conn_id(self, "transaction")
  native.db_command(id, "START TRANSACTION")
  local ok, result = pcall(fn, self)
  if ok then
    native.db_command(id, "COMMIT")
    return result
  end
  native.db_command(id, "ROLLBACK")
  error(result, 0)
end

--- Schema versions of a component's database.
function Connection:alembic_versions()
  local rows = self:query("SELECT version_num FROM alembic_version ORDER BY version_num")
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.version_num end
  return out
end
function Connection:migrate_version()
  return self:scalar("SELECT version FROM migrate_version")
end

db = {
  connect = function(name)
    if type(name) ~= "string" then error("db.connect(name): expected a database name, got " .. type(name), 2) end
    return setmetatable({ id = native.db_connect(name), name = name }, Connection)
  end,
  backup = function(name, opts) return native.db_backup(name, opts) end,
  verify = function(artifact) return native.db_verify(artifact) end,
  restore = function(artifact, opts) return native.db_restore(artifact, opts) end,
}

-- VIPs ---------------------------------------------------------------------

vip = {
  url = function(name) return native.vip_url(name) end,
  get = function(name) return native.vip_get(name) end,
  switch = function(name, selector) return native.vip_switch(name, selector) end,
  restore = function(previous) return native.vip_restore(previous) end,
  maintenance = function(name, mode) return native.vip_maintenance(name, mode) end,
}

-- HTTP, the Keystone catalog, the RabbitMQ broker ---------------------------

http = {
  request = function(spec)
    if type(spec) ~= "table" then error("http.request{method=, url=, ...}: expected a table, got " .. type(spec), 2) end
    return native.http_request(spec)
  end,
  get = function(url, opts)
    local spec = {}
    for k, v in pairs(opts or {}) do spec[k] = v end
    spec.url, spec.method = url, "GET"
    return native.http_request(spec)
  end,
}

-- Ansible ------------------------------------------------------------------

local PLAYBOOK_FIELDS = { "playbook", "command", "inventory", "limit", "tags", "skip_tags", "extra_vars", "check",
  "diff", "become", "forks", "args", "env", "cwd", "timeout", "fail" }

ansible = {
  --- Runs a playbook on this machine (ansible-playbook, or kolla-ansible / openstack-ansible
  --- through `command`), its events journaled; raises naming each failed host and task
  --- unless `fail = false`.
  playbook = function(spec)
    if type(spec) ~= "table" then
      error("ansible.playbook{ playbook = ..., limit = ... }: expected a table, got " .. type(spec), 2)
    end
    validate_spec("ansible.playbook", spec, PLAYBOOK_FIELDS)
    return native.ansible_playbook(spec)
  end,
}

catalog = {
  services = function() return native.catalog_services() end,
  endpoints = function(filter) return native.catalog_endpoints(filter) end,
  ensure_service = function(spec) return native.catalog_ensure_service(spec) end,
  ensure_endpoint = function(spec) return native.catalog_ensure_endpoint(spec) end,
  update_endpoint = function(id, url) return native.catalog_update_endpoint(id, url) end,
  delete_endpoint = function(id) return native.catalog_delete_endpoint(id) end,
  regions = function() return native.catalog_regions() end,
  create_region = function(spec) return native.catalog_create_region(spec) end,
  ensure_region = function(spec) return native.catalog_ensure_region(spec) end,
  delete_region = function(id) return native.catalog_delete_region(id) end,
  snapshot = function() return native.catalog_snapshot() end,
  token_catalog = function() return native.catalog_token_catalog() end,
  restore = function(snapshot) return native.catalog_restore(snapshot) end,
}

broker = {
  overview = function() return native.broker_overview() end,
  vhosts = function() return native.broker_vhosts() end,
  ensure_vhost = function(name) return native.broker_ensure_vhost(name) end,
  ensure_user = function(spec) return native.broker_ensure_user(spec) end,
  ensure_permissions = function(spec) return native.broker_ensure_permissions(spec) end,
  policy = function(vhost, name, spec) return native.broker_policy(vhost, name, spec) end,
  delete_policy = function(vhost, name) return native.broker_delete_policy(vhost, name) end,
  policies = function(filter) return native.broker_policies(filter) end,
  queues = function(filter) return native.broker_queues(filter) end,
  queue = function(vhost, name) return native.broker_queue(vhost, name) end,
  --- Waits until a queue holds no message (message counts lag a few seconds).
  wait_drained = function(vhost, name, opts)
    opts = opts or {}
    return wait_until(function()
      local q = native.broker_queue(vhost, name)
      -- A queue RabbitMQ has no statistics for yet (its first seconds) is not drained.
      if q.messages == nil then return false, "no message count for " .. name .. " yet" end
      return q.messages == 0, q.messages .. " message(s) left in " .. name
    end, { within = opts.within or "5m", every = opts.every or "5s" })
  end,
}

-- The method tables, for tests that compare them with scripts/meta/ferry.lua.
__ferry_classes = { Host = Host, Service = Service, Ini = Ini, Connection = Connection }

-- Engine entry points (called by Swift) ------------------------------------

function __ferry_invoke_host(fn, hostdata, ctx, hoststate)
  local host = make_host(hostdata, hoststate)
  fn(host, ctx)
  return host.state
end

-- A step with per = "wave": run(hosts, ctx) once per wave. It returns nothing (every host
-- of the wave succeeded) or the hosts that failed, { [name or host] = reason } or a list of
-- names or hosts; raising fails the whole wave. Returns the failures and each host's state.
function __ferry_invoke_wave(fn, hostsdata, ctx, hoststates)
  local hosts = {}
  for i, data in ipairs(hostsdata) do hosts[i] = make_host(data, hoststates[i]) end
  local failed = fn(hosts, ctx)
  local out = {}
  if failed ~= nil then
    if type(failed) ~= "table" then
      error('a step with per = "wave" returns nothing, or the hosts that failed ({ [name] = reason }), got '
        .. type(failed), 0)
    end
    for k, v in pairs(failed) do
      local name, why = k, v
      if math.type(k) == "integer" then name, why = v, "failed" end
      if type(name) == "table" then name = name.name end
      if type(why) ~= "string" then why = (why == true) and "failed" or tostring(why) end
      out[tostring(name)] = why
    end
  end
  local states = {}
  for i, h in ipairs(hosts) do states[i] = h.state end
  return out, states
end

function __ferry_probe(fn, ctx, hostdata)
  local ok, why
  if hostdata then ok, why = fn(make_host(hostdata), ctx) else ok, why = fn(ctx) end
  if ok == nil and why == nil then
    error("a check's probe must return true, or false and a reason (it returned nothing)", 0)
  end
  return ok and true or false, why ~= nil and tostring(why) or nil
end

-- The names an `on` function chose, and where it is when one of the runbook's own files
-- defines it (else nil: the engine names the line that declared the step or check).
function __ferry_select(fn, ctx)
  local info = getinfo(fn, "S")
  local src = source_of(info)
  local where = entry_files[src] and (src .. ":" .. tostring(info.linedefined)) or nil
  local list = fn(ctx)
  if type(list) == "string" then return { list }, where end
  if type(list) ~= "table" then
    error((where and (where .. ": ") or "") .. "an 'on' function must return hosts or host names, got " .. type(list), 0)
  end
  local names = {}
  for i, h in ipairs(list) do
    if type(h) == "table" then names[i] = h.name else names[i] = tostring(h) end
  end
  return names, where
end

-- ctx.vars: the region's vars with the run's inputs (--vars, -e) over them, read-only (the
-- run journals its inputs; what a step learns goes in ctx.state). Its tables are plain
-- copies, so that secret() and the other natives read them as they are.
local function read_only(vars)
  local next = next
  return setmetatable({}, {
    __index = vars,
    __newindex = function(_, key)
      error("ctx.vars is read-only: cannot set '" .. tostring(key) .. "' (inputs come from the region's vars:, "
        .. "--vars FILE and -e KEY=VALUE; keep what a step learns in ctx.state)", 2)
    end,
    __pairs = function() return next, vars, nil end,
    __len = function() return #vars end,
    __metatable = "ctx.vars is read-only",
  })
end

function __ferry_make_ctx(run_id, vars, dry_run, region, state, releases)
  return {
    run_id = run_id, vars = read_only(vars or {}), dry_run = dry_run, region = region, state = state or {},
    releases = releases or {},
  }
end

function __ferry_state(ctx) return ctx.state end

function __ferry_parallel_item(list, fn, i) return fn(list[i], i) end

-- Helpers ------------------------------------------------------------------

local function message(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  return concat(parts, " ")
end
log = {
  info = function(...) native.log("info", message(...)) end,
  warn = function(...) native.log("warn", message(...)) end,
  error = function(...) native.log("error", message(...)) end,
}
function fail(msg) error(msg == nil and "failed" or tostring(msg), 2) end
-- Lua's print writes raw bytes to stdout; this one shows control characters as escapes.
function print(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  native.print(concat(parts, "\t"))
end
function sleep(duration) return native.sleep(duration) end
function secret(ref) return native.secret(ref) end
function parallel(list, fn, opts)
  if type(list) ~= "table" then error("parallel(list, fn, opts): expected a list, got " .. type(list), 2) end
  if type(fn) ~= "function" then error("parallel(list, fn, opts): expected a function, got " .. type(fn), 2) end
  return native.parallel(list, fn, opts)
end
function wait_until(fn, opts)
  if type(fn) ~= "function" then error("wait_until(fn, opts): expected a function, got " .. type(fn), 2) end
  opts = opts or {}
  local within = native.duration(opts.within or "1m")
  local every = native.duration(opts.every or "5s")
  local deadline = native.now() + within
  local why
  while true do
    local ok, reason = fn()
    if ok then return ok end
    why = reason
    if native.now() + every > deadline then break end
    native.sleep(every)
  end
  -- Point at the runbook line that waited, past Ferry's own wrappers and C frames
  -- (pcall): level L of error() is getinfo(L), the caller of this function at 2.
  local level = 2
  while true do
    local info = getinfo(level, "S")
    if not info or (info.what ~= "C" and info.source:sub(1, 6) ~= "=ferry") then break end
    level = level + 1
  end
  error("wait_until: not true within " .. tostring(opts.within or "1m") .. (why and (" (last: " .. tostring(why) .. ")") or ""), level)
end
