---@meta ferry.cinder
-- `require "ferry.cinder"` for the language server: the module's type, `ferry.cinder`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.cinder
local cinder = {}
return cinder
