-- Small helpers for reading and writing one-line files on hosts.
---@class lib.files
local M = {}

--- The path of a per-host file under the region's workdir.
function M.path(ctx, host, name)
  return ctx.vars.workdir .. "/" .. host.name .. "." .. name
end

function M.write(host, path, text)
  host:run("cat > " .. path, { stdin = text .. "\n" })
end

function M.read(host, path)
  local r = host:run("cat " .. path, { check = false })
  if r.code ~= 0 then return nil end
  return (r.stdout:gsub("%s+$", ""))
end

return M
