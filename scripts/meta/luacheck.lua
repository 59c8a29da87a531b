-- luacheck settings for runbooks and their helper modules: Ferry's globals and the Lua
-- the sandbox leaves. The repository's .luacheckrc reads it, and so does the .luacheckrc
-- `ferry init` writes for an operator's runbook repository (installed as
-- PREFIX/share/ferry/meta/luacheck.lua):
--   local ferry = dofile("/usr/share/ferry/meta/luacheck.lua")
--   std, not_globals, read_globals = ferry.std, ferry.not_globals, ferry.read_globals
--   max_line_length, ignore = ferry.max_line_length, ferry.ignore
local M = {}

-- Ferry's globals, read-only (Sources/Core/Runbook/prelude.lua, docs/lua-api.md); `release`
-- is `require "ferry.release"` (Sources/Plugins/Release/release.lua).
M.globals = {
  "runbook", "step", "check", "validate_spec", "parallel", "wait_until", "sleep", "fail", "secret",
  inventory = { fields = { "hosts", "group", "host" } },
  ssh = { fields = { "run" } },
  log = { fields = { "info", "warn", "error" } },
  db = { fields = { "connect", "backup", "verify", "restore" } },
  vip = { fields = { "url", "get", "switch", "restore", "maintenance" } },
  http = { fields = { "request", "get" } },
  ansible = { fields = { "playbook" } },
  catalog = { fields = {
    "services", "endpoints", "ensure_service", "ensure_endpoint", "update_endpoint", "delete_endpoint",
    "regions", "create_region", "ensure_region", "delete_region", "snapshot", "restore", "token_catalog",
  } },
  broker = { fields = {
    "overview", "vhosts", "ensure_vhost", "ensure_user", "ensure_permissions", "policy", "delete_policy",
    "policies", "queues", "queue", "wait_drained",
  } },
  release = { fields = {
    "list", "names", "chain", "index", "info", "is_slurp", "steps", "required_stops", "tools", "quote",
    "command_line", "online_migrations_batch", "run_online_migrations", "check_completion", "run_release", "component",
    "http_health", "zero_rows",
  } },
}

-- Lua 5.4 as the sandbox leaves it (Sources/LuaBridge/sandbox.lua; docs/lua-api.md,
-- "The Lua environment"). Sources/CLuaShim opens neither io nor coroutine; the sandbox
-- removes dofile, loadfile, warn, string.dump, package.loadlib and package.searchpath, and
-- replaces os, io, debug and package by read-only tables holding only a few functions.
M.std = "lua54"
M.not_globals = {
  "coroutine", "dofile", "loadfile", "warn",
  "string.dump", "package.loadlib", "package.searchpath",
}
M.read_globals = {
  -- A name in the array part replaces luacheck's lua54 definition of that table; the keyed
  -- entry then lists the only fields it has (so `os.execute`, `io.popen` are undefined).
  "os", "io", "debug",
  os = { other_fields = false, fields = { "time", "clock", "date", "difftime" } },
  io = { other_fields = false, fields = { "open", "lines" } },   -- read-only, runbook's files
  debug = { other_fields = false, fields = { "traceback" } },
}
-- Ferry's globals are read-only: a runbook that assigns one breaks the API.
for name, def in pairs(M.globals) do
  if type(name) == "number" then M.read_globals[#M.read_globals + 1] = def else M.read_globals[name] = def end
end

M.max_line_length = 140

-- Steps, checks and the library hand API-shaped callbacks to Ferry (`run = function(host, ctx)`,
-- `undo = function(ctx)`, `probe = function(ctx)`, `edits = function(host, ctx)`): their
-- `host` and `ctx` arguments are the API's, used or not. Other unused arguments still warn.
M.ignore = { "212/host", "212/ctx" }


return M
