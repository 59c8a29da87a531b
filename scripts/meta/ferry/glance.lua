---@meta ferry.glance
-- `require "ferry.glance"` for the language server: the module's type, `ferry.glance`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.glance
local glance = {}
return glance
