---@meta ferry.neutron
-- `require "ferry.neutron"` for the language server: the module's type, `ferry.neutron`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.neutron
local neutron = {}
return neutron
