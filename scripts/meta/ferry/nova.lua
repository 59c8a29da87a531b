---@meta ferry.nova
-- `require "ferry.nova"` for the language server: the module's type, `ferry.nova`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.nova
local nova = {}
return nova
