local native = __ferry_plugins
local type, ipairs, error, pcall, tostring, tonumber = type, ipairs, error, pcall, tostring, tonumber
local concat = table.concat

local M = {}

-- Calls a native; its error is raised at the caller `level` levels up.
-- A native's error already names the runbook line that called into this module (the
-- bridge skips plugin-module frames): raise it as it is, without a second position.
local function checked(level, fn, ...)
  local ok, result = pcall(fn, ...)
  if not ok then
    if type(result) == "string" and result:find("^[^:\n]+:%d+: ") then error(result, 0) end
    error(result, level + 1)
  end
  return result
end

local function need(v, what, level)
  if type(v) ~= "string" or v == "" then
    error(what .. ": expected a release name, got " .. type(v), level + 1)
  end
end

--- Every release Ferry knows, oldest first: { name, series, id, number, released, slurp }.
function M.list() return native.releases() end

--- The release names, oldest first.
function M.names()
  local out = {}
  for i, r in ipairs(native.releases()) do out[i] = r.name end
  return out
end

--- The releases after `from`, up to and including `to`.
function M.chain(from, to)
  need(from, "release.chain(from, to)", 2)
  need(to, "release.chain(from, to)", 2)
  return checked(2, native.chain, from, to)
end

--- Position of a release (kilo is 1).
function M.index(name)
  need(name, "release.index(name)", 2)
  return checked(2, native.index, name)
end

--- { name, series, id, number, released, slurp } of one release.
function M.info(name)
  need(name, "release.info(name)", 2)
  return checked(2, native.info, name)
end

--- Whether the release is a SLURP ("tick") release.
function M.is_slurp(name)
  need(name, "release.is_slurp(name)", 2)
  return checked(2, native.info, name).slurp
end

--- A component's steps for the walk from → to (see docs/plugins.md for their fields).
function M.steps(component, from, to)
  need(from, "release.steps(component, from, to)", 2)
  need(to, "release.steps(component, from, to)", 2)
  return checked(2, native.steps, component, from, to)
end

--- The releases of the walk from → to that a component cannot skip: { release, component, why }.
function M.required_stops(from, to)
  need(from, "release.required_stops(from, to)", 2)
  need(to, "release.required_stops(from, to)", 2)
  return checked(2, native.required_stops, from, to)
end

-- Where a release's tools live ---------------------------------------------

local function entry_for(ctx, opts, name)
  local e = type(opts.releases) == "table" and opts.releases[name] or nil
  if e == nil and type(ctx) == "table" then
    if type(ctx.releases) == "table" then e = ctx.releases[name] end
    if e == nil and type(ctx.vars) == "table" and type(ctx.vars.releases) == "table" then
      e = ctx.vars.releases[name]
    end
  end
  return e
end

local function venv_for(pattern, name)
  if type(pattern) ~= "string" then return nil end
  return (pattern:gsub("{release}", name))
end

--- Where a call made inside a step runs a release's tools: the `host` (and `venv`) it
--- names, or the places M.tools looks at.
local function place(spec, release)
  if spec.host ~= nil then return { host = spec.host, venv = venv_for(spec.venv, release), release = release } end
  return M.tools(spec.ctx, release, spec)
end

--- Where `name`'s manage commands run: { host = Host, venv = path or nil, release = name }.
--- Looks in opts.releases, then the region's releases (ctx.releases, or ctx.vars.releases),
--- then falls back to the first host of opts.on with opts.venv ("/opt/venvs/{release}").
function M.tools(ctx, name, opts)
  opts = opts or {}
  local e = entry_for(ctx, opts, name)
  if type(e) == "table" then
    if type(e.host) ~= "string" then
      error("releases." .. name .. ": expected { host = NAME, venv = PATH }, the host is missing", 0)
    end
    return { host = inventory.host(e.host), venv = e.venv, release = name }
  end
  if opts.on ~= nil then
    local hosts = inventory.hosts(opts.on)
    if #hosts == 0 then error("no host to run the " .. name .. " tools on: '" .. tostring(opts.on) .. "' selects none", 0) end
    return { host = hosts[1], venv = venv_for(opts.venv, name), release = name }
  end
  error("no place to run the " .. name .. " tools: the region's releases: has no '" .. name
    .. "' entry (releases: { " .. name .. ": { host: NAME, venv: PATH } }), and the runbook gave no on = SELECTOR", 0)
end

-- Commands -------------------------------------------------------------------

local function quote(s)
  s = tostring(s)
  if s:match("^[%w@%%+=:,./_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.quote = quote

local function parameter(opts, ctx, key)
  local v = opts[key]
  if v == nil and type(ctx) == "table" and type(ctx.vars) == "table" then v = ctx.vars[key] end
  if type(v) == "table" then v = secret(v) end
  return v
end

--- The shell line of one step command with the release's virtualenv in front.
function M.command_line(where, cmd, opts, ctx)
  opts = opts or {}
  local program = cmd.argv[1]
  if where and type(where.venv) == "string" and where.venv ~= "" then program = where.venv .. "/bin/" .. program end
  local words = { quote(program) }
  local replace = type(opts.config_files) == "table"
  if replace then
    for _, f in ipairs(opts.config_files) do words[#words + 1] = "--config-file"; words[#words + 1] = quote(f) end
  end
  local i = 2
  while i <= #cmd.argv do
    local w = cmd.argv[i]
    if replace and w == "--config-file" then
      i = i + 1
    else
      words[#words + 1] = quote(w)
    end
    i = i + 1
  end
  for _, o in ipairs(cmd.options or {}) do
    local v = parameter(opts, ctx, o.parameter)
    if v ~= nil then words[#words + 1] = o.flag; words[#words + 1] = quote(v) end
  end
  return concat(words, " ")
end

local function last_line(r)
  local text = (r.stderr ~= nil and r.stderr ~= "") and r.stderr or (r.stdout or "")
  local last
  for line in text:gmatch("[^\n]+") do last = line end
  return last or "no output"
end

-- The line of `text` holding `needle` (plain), or nil.
local function line_with(text, needle)
  for line in text:gmatch("[^\n]+") do
    if line:find(needle, 1, true) then return line end
  end
  return nil
end

-- What the journal keeps of each manage command the library runs ------------------------

-- The lines of a manage command's output that a contract reads (or that tell why it
-- failed): online data migrations' counts and errors, the cell commands' answers.
local KEY_LINES = {
  "rows matched query", "Error attempting to run", "Some migrations failed", "migrations complete",
  "Migration cannot continue", "No hosts found", "already setup", "ERROR", "CRITICAL",
}

--- The command's words as the journal records them: the program's name without its
--- virtualenv, no --config-file and its value (they differ between regions, not releases).
function M.words(line)
  local out, skip = {}, false
  for w in tostring(line):gmatch("%S+") do
    if skip then
      skip = false
    elseif w == "--config-file" then
      skip = true
    elseif not w:find("^%-%-config%-file=") then
      out[#out + 1] = (#out == 0) and (w:match("([^/]+)$") or w) or w
    end
  end
  return concat(out, " ")
end

--- Logs one manage command (the journal keeps the line): `ran RELEASE WORDS: exit CODE`, then
--- ` | ` and the output lines KEY_LINES name, at most five, each cut at 200 characters.
--- WalkCalibrationTests compare these lines between a simulated region and the real code.
function M.record(release_name, line, r)
  local out = (r.stdout or "") .. "\n" .. (r.stderr or "")
  local keys = {}
  for l in out:gmatch("[^\n]+") do
    for _, k in ipairs(KEY_LINES) do
      if l:find(k, 1, true) then keys[#keys + 1] = l:gsub("^%s+", ""):sub(1, 200); break end
    end
    if #keys >= 5 then break end
  end
  log.info("ran " .. tostring(release_name) .. " " .. M.words(line) .. ": exit " .. tostring(r.code)
    .. (#keys > 0 and (" | " .. concat(keys, " | ")) or ""))
end

--- One batch of an online data migration command (`max` rows at most): "done" when nothing
--- is left, "more" when the batch moved rows, else an error naming why. What the exit code
--- and the output mean is the release's contract (the component's knowledge): output with
--- its `failure_text` fails whatever the code (nova Mitaka … Rocky print "Error attempting to
--- run" and exit 0 or 1); with a `progress_pattern`, a batch that matched rows but migrated
--- none fails (they cannot be migrated as they are), and a `progress` exit code (nova Mitaka
--- always exits 0) is read from those counts.
function M.online_migrations_batch(where, cmd, opts, ctx, max)
  opts = opts or {}
  local odm = cmd.online_migrations
  local line = M.command_line(where, cmd, opts, ctx) .. " " .. odm.max_count_flag .. " " .. tostring(max)
  local r = where.host:run(line, { check = false, timeout = opts.timeout })
  if r.dry_run then return "done", line end
  M.record(where.release, line, r)
  local out = (r.stdout or "") .. "\n" .. (r.stderr or "")
  local meaning = odm.exit_codes[tostring(r.code)]
  local function failed(why)
    error(line .. " on " .. where.host.name .. " exited " .. tostring(r.code) .. (meaning and (" (" .. meaning .. ")") or "")
      .. ": " .. why, 0)
  end
  if odm.failure_text then
    local bad = line_with(out, odm.failure_text)
    if bad then failed(bad .. " (this release exits " .. tostring(r.code) .. " on a failed migration: its output tells)") end
  end
  local matched, migrated = 0, 0
  if odm.progress_pattern then
    for m, d in out:gmatch(odm.progress_pattern) do
      matched, migrated = matched + tonumber(m), migrated + tonumber(d)
    end
    if matched > 0 and migrated == 0 and meaning ~= "errors" then
      failed(matched .. " row(s) matched but none migrated: they cannot be migrated as they are (" .. last_line(r) .. ")")
    end
  end
  if meaning == "progress" then return (matched == 0) and "done" or "more", line end
  if meaning == "done" or meaning == "more" then return meaning, line end
  failed(last_line(r))
end

--- Runs an online data migration command in batches until the release's contract says done.
--- Returns the number of calls.
function M.run_online_migrations(where, cmd, opts, ctx)
  opts = opts or {}
  local odm = cmd.online_migrations
  local max = opts.max_count or odm.default_max_count
  local limit = opts.max_rounds or 100000
  local line
  for round = 1, limit do
    local state
    state, line = M.online_migrations_batch(where, cmd, opts, ctx, max)
    if state == "done" then return round end
  end
  error(line .. " on " .. where.host.name .. ": still more to migrate after " .. limit .. " calls", 0)
end

--- A command that exits 0 whether or not it did everything (`completion` of its release data):
--- raises unless its output says it completed every row it matched.
function M.check_completion(completion, r, what)
  local out = (r.stdout or "") .. "\n" .. (r.stderr or "")
  for _, pattern in ipairs(completion.patterns) do
    local matched, done = out:match(pattern)
    if matched then
      matched, done = tonumber(matched), tonumber(done)
      if done < matched then
        error(what .. " exited 0 but completed " .. done .. " of the " .. matched .. " matched: " .. completion.incomplete, 0)
      end
      return matched, done
    end
  end
  error(what .. ": its output does not say what it completed (" .. last_line(r) .. ")", 0)
end

--- Runs every command of one release step, in order, on `where` (M.tools).
function M.run_release(data, ctx, opts, where)
  opts = opts or {}
  for _, cmd in ipairs(data.commands) do
    if cmd.online_migrations then
      if opts.online_migrations ~= false then M.run_online_migrations(where, cmd, opts, ctx) end
    else
      local at = where
      if cmd.tool ~= nil and cmd.tool ~= data.release then at = M.tools(ctx, cmd.tool, opts) end
      local line = M.command_line(at, cmd, opts, ctx)
      local ok, r = pcall(at.host.run, at.host, line, { timeout = opts.timeout })
      if not ok then
        log.info("ran " .. tostring(at.release) .. " " .. M.words(line) .. ": failed: " .. tostring(r):sub(1, 300))
        error(r, 0)
      end
      if not r.dry_run then M.record(at.release, line, r) end
      if cmd.completion and not r.dry_run then M.check_completion(cmd.completion, r, line .. " on " .. at.host.name) end
    end
  end
end

local function placement(spec, r)
  local e = type(spec.releases) == "table" and spec.releases[r] or nil
  if type(e) == "table" and e.host then return "on " .. tostring(e.host) .. (e.venv and (" with " .. e.venv) or "") end
  local where = "where the region's releases: puts " .. r
  if spec.on ~= nil then
    where = where .. " (else the first host of " .. tostring(type(spec.on) == "table" and table.concat(spec.on, ",") or spec.on)
      .. (spec.venv and (" with " .. venv_for(spec.venv, r)) or "") .. ")"
  end
  return where
end

local function describe(data, spec)
  local parts = {}
  for _, c in ipairs(data.commands) do
    parts[#parts + 1] = (c.tool and c.tool ~= data.release) and (c.text .. " (" .. c.tool .. " tools)") or c.text
  end
  local text = data.component .. " " .. data.release .. ", " .. placement(spec, data.release) .. ": " .. concat(parts, "; ")
  if data.required_stop then text = text .. ". Required stop: " .. data.why_stop end
  return text .. ". Irreversible: pair it with a db.backup step whose undo restores."
end

-- An endpoint path with its project key (`%(project_id)s`, `%(tenant_id)s`) as `key`; as it is without one.
local function project_path(path, key)
  if key == nil then return path end
  if key ~= "project_id" and key ~= "tenant_id" then
    error("project_key: expected \"project_id\" or \"tenant_id\", got " .. tostring(key), 3)
  end
  return (path:gsub("%%%(([%w_]+)%)s", function(k)
    if k == "project_id" or k == "tenant_id" then return "%(" .. key .. ")s" end
  end))
end

local function family_name(family, what)
  if type(family) ~= "string" then error(what .. ": expected a package family (rpm, deb), got " .. type(family), 3) end
  return family
end

-- What a component's db_sync and online_migrations take: where the tools run (place,
-- M.tools), how the commands run (M.run_release, M.command_line), and the parameters its
-- release data's commands add as options (nova's transport_url), found once per component.
local RUN_FIELDS = { "timeout", "on", "venv", "releases", "config_files", "max_count", "max_rounds", "online_migrations" }
local option_parameters = {}
local function parameters(name)
  if option_parameters[name] == nil then
    local out, names = {}, M.names()
    local ok, steps = pcall(native.steps, name, names[1], names[#names], false)
    for _, data in ipairs(ok and steps or {}) do
      for _, cmd in ipairs(data.commands or {}) do
        for _, o in ipairs(cmd.options or {}) do out[#out + 1] = o.parameter end
      end
    end
    option_parameters[name] = out
  end
  return option_parameters[name]
end

--- The functions every component module has, built on its release data.
function M.component(name)
  local C = { name = name }

  --- This component's steps for from → to.
  function C.steps(from, to)
    need(from, name .. ".steps(from, to)", 2)
    need(to, name .. ".steps(from, to)", 2)
    return checked(2, native.steps, name, from, to)
  end

  --- The step that moves this component to `release`, or nil.
  function C.step(release)
    need(release, name .. ".step(release)", 2)
    return checked(2, native.step, name, release)
  end

  --- At declaration time, { from =, to = } declares one step per release of the chain
  --- (NAME-db-sync-RELEASE); inside a step, { release =, ctx = } runs that release's commands.
  function C.db_sync(spec)
    if type(spec) ~= "table" then
      error(name .. ".db_sync { from = ..., to = ... } expects a table, got " .. type(spec), 2)
    end
    if spec.release ~= nil then
      validate_spec(name .. ".db_sync", spec, { "release", "ctx", "host" }, RUN_FIELDS, parameters(name))
      need(spec.release, name .. ".db_sync { release = ... }", 2)
      local data = checked(2, native.step, name, spec.release)
      if data == nil then error(name .. " has no step for " .. spec.release, 2) end
      M.run_release(data, spec.ctx, spec, place(spec, data.release))
      return data.release
    end
    validate_spec(name .. ".db_sync", spec, { "from", "to", "slurp", "prefix" }, RUN_FIELDS, parameters(name))
    need(spec.from, name .. ".db_sync { from = ..., to = ... }", 2)
    need(spec.to, name .. ".db_sync { from = ..., to = ... }", 2)
    if spec.slurp ~= nil and type(spec.slurp) ~= "boolean" then
      error(name .. ".db_sync { slurp = ... }: expected true or false, got " .. type(spec.slurp), 2)
    end
    -- A SLURP-to-SLURP hop (2023.1 → 2024.1) skips the release between unless slurp = false.
    local steps = checked(2, native.steps, name, spec.from, spec.to, spec.slurp ~= false)
    local prefix = spec.prefix or (name .. "-db-sync-")
    local names = {}
    for _, data in ipairs(steps) do
      local r = data.release
      -- A release with nothing to run for this component (RabbitMQ's notes) declares no step.
      if #(data.commands or {}) == 0 then goto continue end
      local step_name = prefix .. r
      step(step_name) {
        desc = describe(data, spec),
        tags = { name, "db-sync", r },
        timeout = spec.timeout,
        on = function(ctx) return { M.tools(ctx, r, spec).host.name } end,
        run = function(host, ctx)
          local where = M.tools(ctx, r, spec)
          where.host = host
          M.run_release(data, ctx, spec, where)
        end,
      }
      names[#names + 1] = step_name
      ::continue::
    end
    return names
  end

  --- Inside a step: runs `release`'s online data migrations until done.
  function C.online_migrations(spec)
    if type(spec) ~= "table" then
      error(name .. ".online_migrations { release = ..., max_count = ... } expects a table, got " .. type(spec), 2)
    end
    validate_spec(name .. ".online_migrations", spec, { "release", "ctx", "host" }, RUN_FIELDS, parameters(name))
    need(spec.release, name .. ".online_migrations { release = ... }", 2)
    local data = checked(2, native.step, name, spec.release)
    local cmd
    for _, c in ipairs(data and data.commands or {}) do
      if c.online_migrations then cmd = c end
    end
    if cmd == nil then error(name .. " " .. spec.release .. " has no online data migrations", 2) end
    return M.run_online_migrations(place(spec, data.release), cmd, spec, spec.ctx)
  end

  --- systemd units for a package family (rpm, deb), of one role or placement, in a release.
  function C.services(family, role, release)
    return checked(2, native.units, name, family_name(family, name .. ".services(family, role)"), role, release)
  end

  --- Server packages for a package family.
  function C.packages(family)
    return checked(2, native.packages, name, family_name(family, name .. ".packages(family)"))
  end

  --- Inside a step: registers the endpoints `release` needs, at base_url (e.g. vip.url(NAME)).
  --- `project_key` ("tenant_id" for a Kilo or Liberty Keystone, keystone.project_key) replaces
  --- the project key of the paths (`/v3/%(project_id)s`).
  function C.ensure_endpoints(spec)
    if type(spec) ~= "table" then error(name .. ".ensure_endpoints { release = ..., base_url = ... } expects a table", 2) end
    validate_spec(name .. ".ensure_endpoints", spec, { "release", "base_url", "interfaces", "region", "project_key" })
    need(spec.release, name .. ".ensure_endpoints { release = ... }", 2)
    if type(spec.base_url) ~= "string" then error(name .. ".ensure_endpoints: base_url (scheme://host:port) is required", 2) end
    local data = checked(2, native.step, name, spec.release)
    local done = {}
    for _, e in ipairs(data and data.endpoints or {}) do
      catalog.ensure_service { name = e.service, type = e.type }
      for _, interface in ipairs(spec.interfaces or { "public", "internal", "admin" }) do
        done[#done + 1] = catalog.ensure_endpoint {
          service = e.service, interface = interface, region = spec.region, url = spec.base_url .. project_path(e.path, spec.project_key),
        }
      end
    end
    return done
  end

  --- A probe for `check { on = ..., probe = NAME.status_check }`: `NAME-status upgrade check`
  --- (0 passes, 1 passes with a warning in the log, 2 fails).
  function C.status_check(host, ctx)
    local r = host:run(name .. "-status upgrade check", { check = false })
    if r.code == 0 then return true end
    if r.code == 1 then
      log.warn(name .. "-status upgrade check on " .. host.name .. ": warnings: " .. last_line(r))
      return true
    end
    return false, name .. "-status upgrade check exited " .. tostring(r.code) .. ": " .. last_line(r)
  end

  C.preflight = {}
  return C
end

--- A probe: the API behind vip `vipname` answers `path` with a status below 400.
function M.http_health(vipname, path)
  return function(ctx)
    local url = vip.url(vipname) .. (path or "/")
    local ok, r = pcall(http.get, url, { timeout = "10s" })
    if not ok then return false, tostring(r) end
    if r.status < 400 then return true end
    return false, url .. " answered HTTP " .. tostring(r.status)
  end
end

--- A probe helper: counts rows with `sql` in database `dbname`; passes at zero.
function M.zero_rows(dbname, sql, what)
  return function(ctx)
    local c = db.connect(dbname)
    local ok, n = pcall(c.scalar, c, sql)
    c:close()
    if not ok then error(n, 0) end
    n = tonumber(n) or 0
    if n == 0 then return true end
    return false, tostring(n) .. " " .. what
  end
end

return M
