---@meta ferry.keystone
-- `require "ferry.keystone"` for the language server: the module's type, `ferry.keystone`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.keystone
local keystone = {}
return keystone
