local sandbox = __sandbox
__sandbox = nil
local budget_marker = "instruction budget exceeded"
local raw_pcall, raw_xpcall, raw_error, type, tostring = pcall, xpcall, error, type, tostring
local string_find = string.find

-- A runaway script stays stopped even if it catches the error.
local function rethrow_budget(ok, ...)
  if not ok then
    local err = ...
    if type(err) == "string" and string_find(err, budget_marker, 1, true) then raw_error(err, 0) end
  end
  return ok, ...
end
pcall = function(f, ...) return rethrow_budget(raw_pcall(f, ...)) end
xpcall = function(f, h, ...) return rethrow_budget(raw_xpcall(f, h, ...)) end

os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
dofile, loadfile = nil, nil
local raw_load = load
-- An env passed as nil would give the chunk a nil _ENV: pass it only when given.
load = function(chunk, name, _, ...)
  if select("#", ...) == 0 then return raw_load(chunk, name, "t") end
  return raw_load(chunk, name, "t", (...))
end
string.dump = nil
local raw_collectgarbage = collectgarbage
collectgarbage = function(opt) if opt == "count" then return raw_collectgarbage("count") end return 0 end

package.loadlib = nil
package.cpath = ""
package.path = ""
local preload = package.searchers[1]
package.searchers = {
  preload,
  function(name)
    local path, tried = sandbox.searchpath(name)
    if not path then return tried end
    local chunk, err = sandbox.loadfile(path)
    if not chunk then raw_error(err, 0) end
    return chunk, path
  end,
}
package.searchpath = nil

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
io = {
  open = open,
  lines = function(path, fmt)
    local f, err = open(path)
    if not f then raw_error(err, 2) end
    return f:lines(fmt)
  end,
}
debug = { traceback = debug.traceback }
-- `require "os"` (and io, debug) must give these tables, not the originals the
-- standard library registered in package.loaded (os.execute, debug.sethook, ...).
package.loaded.os, package.loaded.io, package.loaded.debug = os, io, debug
