local sandbox = __sandbox
__sandbox = nil
local budget_marker = "instruction budget exceeded"
local raw_pcall, raw_xpcall, raw_error, type, tostring, select = pcall, xpcall, error, type, tostring, select
local raw_setmetatable, rawget, rawset = setmetatable, rawget, rawset
local string_find, next = string.find, next

local function is_budget(err) return type(err) == "string" and string_find(err, budget_marker, 1, true) ~= nil end

-- A runaway script stays stopped even if it catches the error.
local function rethrow_budget(ok, ...)
  if not ok and is_budget((...)) then raw_error((...), 0) end
  return ok, ...
end
pcall = function(f, ...) return rethrow_budget(raw_pcall(f, ...)) end
-- The runbook's handler never sees the budget error: it could swallow it, and Lua runs
-- a handler for an error raised by the instruction hook with the hook off.
xpcall = function(f, handler, ...)
  if type(handler) ~= "function" then
    raw_error("bad argument #2 to 'xpcall' (function expected, got " .. type(handler) .. ")", 2)
  end
  return rethrow_budget(raw_xpcall(f, function(err)
    if is_budget(err) then return err end
    return handler(err)
  end, ...))
end

-- Names of what runbooks cannot have, with what to use instead.
local function unavailable(name, instead)
  raw_error(name .. " is not available to runbooks (Ferry's sandbox)" .. (instead and ("; " .. instead) or ""), 3)
end

-- A library table that answers only `allowed`: any other field raises a clear error
-- (instead of a nil that fails later), and no field can be set or replaced.
local function fenced(libname, allowed, hints)
  local proxy = {}
  raw_setmetatable(proxy, {
    __index = function(_, key)
      local v = allowed[key]
      if v == nil then unavailable(libname .. "." .. tostring(key), hints[key] or hints["*"]) end
      return v
    end,
    __newindex = function(_, key)
      raw_error(libname .. "." .. tostring(key) .. " cannot be set: Ferry's sandbox keeps '" .. libname .. "' read-only", 2)
    end,
    __pairs = function() return next, allowed, nil end,
    __metatable = libname .. " belongs to Ferry's sandbox",
  })
  return proxy
end

os = fenced("os", { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }, {
  execute = "run commands on hosts with host:run or ssh.run",
  getenv = "pass values through the region's vars (ctx.vars) or secret { env = NAME }",
  ["*"] = "only os.time, os.clock, os.date and os.difftime are",
})
dofile, loadfile, warn = nil, nil, nil

local raw_load = load
-- Text chunks only (mode is always "t"), and a budget error raised inside a reader
-- function is raised again instead of becoming load's (nil, message).
load = function(chunk, name, _, ...)
  local fn, err
  -- An env passed as nil would give the chunk a nil _ENV: pass it only when given.
  if select("#", ...) == 0 then fn, err = raw_load(chunk, name, "t") else fn, err = raw_load(chunk, name, "t", (...)) end
  if fn == nil and is_budget(err) then raw_error(err, 0) end
  return fn, err
end
string.dump = function() unavailable("string.dump", "Ferry loads text chunks only") end

local raw_collectgarbage = collectgarbage
collectgarbage = function(opt) if opt == "count" then return raw_collectgarbage("count") end return 0 end

-- An object whose metatable has __gc is finalized by Lua with the instruction hook off:
-- a finalizer could loop forever. Ferry's own Lua uses its own copy of this check.
setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    unavailable("__gc (a finalizer)", "finalizers run outside the instruction budget")
  end
  return raw_setmetatable(t, mt)
end

-- Strings share one metatable, whose __index Ferry's own Lua uses for every method call
-- (s:sub, s:find): it is protected, and its __index is a private copy of the string
-- library, so changing the global `string` table changes only explicit `string.x` calls.
do
  local string_mt = getmetatable("")
  local methods = {}
  for k, v in next, string do methods[k] = v end
  string_mt.__index = methods
  string_mt.__metatable = "the string metatable belongs to Ferry's sandbox"
end

local real_package = package
real_package.loadlib = nil
real_package.cpath = ""
real_package.path = ""
local preload = real_package.searchers[1]
real_package.searchers = {
  preload,
  function(name)
    local path, tried = sandbox.searchpath(name)
    if not path then return tried end
    local chunk, err = sandbox.loadfile(path)
    if not chunk then raw_error(err, 0) end
    return chunk, path
  end,
}
real_package.searchpath = nil
-- `require` keeps the real table (its searchers, loaded and preload); runbooks see one
-- whose fields cannot be replaced (package.searchers = …, package.cpath = …).
package = fenced("package", {
  loaded = real_package.loaded, preload = real_package.preload, searchers = real_package.searchers,
  path = "", cpath = "", config = real_package.config,
}, {
  loadlib = "native libraries cannot be loaded", searchpath = "require finds modules",
})

local readfile = sandbox.readfile
local function open(path, mode)
  mode = mode or "r"
  if mode ~= "r" and mode ~= "rb" then
    return nil, "io.open: runbooks may only read files (mode '" .. tostring(mode) .. "' refused)"
  end
  local text, err = readfile(path)
  if not text then return nil, err end
  local pos = 1
  local file = {}
  function file:read(fmt)
    fmt = fmt or "l"
    if type(fmt) == "string" then fmt = fmt:gsub("^%*", "") end
    if fmt == "a" then local s = text:sub(pos); pos = #text + 1; return s end
    if type(fmt) == "number" then
      if pos > #text then return nil end
      local s = text:sub(pos, pos + fmt - 1); pos = pos + fmt; return s
    end
    if pos > #text then return nil end
    local e = text:find("\n", pos, true)
    local line
    if e then line = text:sub(pos, fmt == "L" and e or e - 1); pos = e + 1
    else line = text:sub(pos); pos = #text + 1 end
    return line
  end
  function file:lines(fmt) return function() return self:read(fmt) end end
  function file:close() return true end
  return file
end
io = fenced("io", {
  open = open,
  lines = function(path, fmt)
    local f, err = open(path)
    if not f then raw_error(err, 2) end
    return f:lines(fmt)
  end,
}, {
  popen = "run commands on hosts with host:run or ssh.run",
  write = "use log.info, or print",
  ["*"] = "only io.open and io.lines (read-only, inside the runbook's directory) are",
})
debug = fenced("debug", { traceback = debug.traceback }, { ["*"] = "only debug.traceback is" })
-- `require "os"` (and io, debug, package) must give these tables, not the originals the
-- standard library registered in package.loaded (os.execute, debug.sethook, ...).
rawset(real_package.loaded, "os", os)
rawset(real_package.loaded, "io", io)
rawset(real_package.loaded, "debug", debug)
rawset(real_package.loaded, "package", package)
