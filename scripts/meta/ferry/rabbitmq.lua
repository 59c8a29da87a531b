---@meta ferry.rabbitmq
-- `require "ferry.rabbitmq"` for the language server: the module's type, `ferry.rabbitmq`, is declared in
-- ../ferry.lua (docs/runbook-guide.md#editor-support).

---@type ferry.rabbitmq
local rabbitmq = {}
return rabbitmq
