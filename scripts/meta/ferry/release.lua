---@meta ferry.release
-- `require "ferry.release"` for the language server: the module's type, `ferry.release`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.release
local release = {}
return release
