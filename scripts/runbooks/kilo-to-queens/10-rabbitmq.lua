-- A new RabbitMQ cluster for the Queens services: started, its policies reshaped
-- (notification queues lazy, no HA mirroring for RPC queues, queue masters spread with
-- min-masters). Each component's transport_url moves to it as that component's turn
-- comes (lib.set_transport_url in the later files); the old cluster keeps serving the
-- Kilo services until they stop.
local lib = require "lib.upgrade"
local rabbitmq = require "ferry.rabbitmq"

--- Every node of the new cluster answers rabbitmqctl cluster_status (inline: only
--- meaningful once it was started).
local function cluster_answers(ctx)
  for _, host in ipairs(inventory.group("rabbit_new")) do
    local r = host:run("rabbitmqctl cluster_status", { check = false })
    if r.code ~= 0 then return false, host.name .. ": rabbitmqctl cluster_status exited " .. r.code end
  end
  return true
end

check "rabbit-api" { desc = "the management API answers", probe = rabbitmq.health }

-- Where the new cluster was deployed but left stopped (vars.rabbit_start_new: true), start it
-- node by node; where the deployment tooling already runs it, the step is skipped.
lib.start_services { name = "start-rabbit-new", group = "rabbit_new", units = { "rabbitmq-server" }, parallel = 1,
                     when = function(ctx) return ctx.vars.rabbit_start_new == true end,
                     after = { cluster_answers }, tags = { "rabbitmq" } }
lib.rabbit_reshape { name = "rabbit-policies", vhost = "/", locator = "min-masters", before = { "rabbit-api" } }
-- Billing and audit (vars.notification_consumers) read from the new cluster before the first service
-- publishes there (Glance, next): with nobody reading, its notification queue grows until the broker's
-- resource alarm blocks every publisher. Their queues are mirrored above.
require("lib.notifications").move_consumers { name = "notification-consumers" }
