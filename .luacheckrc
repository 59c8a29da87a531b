-- luacheck configuration for Ferry's Lua: runbooks (scripts/runbooks/*/, several files
-- loaded into one environment), the runbook library (scripts/lib, `require "lib.<name>"`),
-- benchmark runbooks (scripts/bench), the LuaLS meta file (scripts/meta/ferry.lua) and the
-- Lua embedded in the binary (Sources/**/*.lua: prelude, sandbox, ferry.* modules).
-- scripts/test runs:  luacheck $(git ls-files '*.lua')

-- Ferry's globals and the Lua the sandbox leaves, as a runbook author's .luacheckrc gets them
-- (scripts/meta/luacheck.lua, installed with the library).
local base = dofile("scripts/meta/luacheck.lua")
local ferry = base.globals
std, not_globals, read_globals = base.std, base.not_globals, base.read_globals
max_line_length, ignore = base.max_line_length, base.ignore

-- The LuaLS meta file (`---@meta`): it is never run; it defines Ferry's globals as stubs.
-- Inherent to it: it sets the globals, its functions are empty (unused arguments, parameter
-- names such as `release` shadowing the annotated `local release`), its class tables are
-- only written to, and its type annotations are long comment lines that cannot be wrapped.
local ferry_names = {}
for name, def in pairs(ferry) do ferry_names[#ferry_names + 1] = type(name) == "number" and def or name end
files["scripts/meta/ferry.lua"] = {
  globals = ferry_names,
  unused_args = false,
  max_comment_line_length = false,
  ignore = { "241", "431" },   -- mutated but never accessed; shadowing an upvalue
}

-- Ferry's own Lua, embedded in the binary (Package.swift, `.embedInCode`).
-- The runbook prelude (Sources/Core/Runbook/prelude.lua, chunk `=ferry-prelude`) defines
-- Ferry's globals, takes the natives from `__native` (and clears it), and leaves `__ferry_*`
-- entry points for the loader and engine (RunbookLoader, DeclarationValidator). It runs
-- before the sandbox, so it still sees the whole debug library.
local prelude_globals = {
  "__native", "__ferry_fns", "__ferry_declarations", "__ferry_classes",
  "__ferry_invoke_host", "__ferry_invoke_wave", "__ferry_probe", "__ferry_select", "__ferry_make_ctx", "__ferry_state",
  "__ferry_parallel_item",
}
for _, name in ipairs(ferry_names) do prelude_globals[#prelude_globals + 1] = name end
-- Its print shows control characters as escapes (docs/security.md).
prelude_globals[#prelude_globals + 1] = "print"
files["Sources/Core/Runbook/prelude.lua"] = {
  globals = prelude_globals,
  read_globals = { debug = { fields = { "getinfo", "traceback" } } },
  -- Its print shows control characters as escapes (docs/security.md).

}
-- The sandbox (Sources/LuaBridge/sandbox.lua, chunk `=ferry-sandbox`) takes its natives from
-- `__sandbox`, then replaces or removes the standard functions the top of this file describes.
-- Its file object has the methods of Lua's (`f:read`, `f:close`), self used or not.
files["Sources/LuaBridge/sandbox.lua"] = {
  globals = {
    "__sandbox", "pcall", "xpcall", "load", "collectgarbage", "dofile", "loadfile", "warn", "setmetatable",
    "os", "io", "debug",
    -- It replaces package by a read-only view after setting up the real table.
    package = { read_only = false, other_fields = true },
  },
  read_globals = {   -- string.dump it replaces; the rest of string stays read-only
    string = { fields = { dump = { read_only = false } } },
  },
  ignore = { "212/self" },
}
-- `ferry.release` (Sources/Plugins/Release/release.lua) reads the natives the Release plugin
-- registers under `__ferry_plugins`.
files["Sources/Plugins/Release/release.lua"] = { read_globals = { "__ferry_plugins" } }
