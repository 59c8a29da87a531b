local release = require "ferry.release"
local M = release.component("rabbitmq")

--- The definition of one policy (a queue gets only one): { lazy = true, locator = "min-masters",
--- ha_mode = "all" | "exactly" | "nodes", ha_params = 2, ha_sync_mode = "automatic" }.
function M.definition(spec)
  spec = validate_spec("rabbitmq.definition", spec or {}, { "lazy", "locator", "leader_locator", "ha_mode", "ha_params", "ha_sync_mode" })
  local d = {}
  if spec.lazy then d["queue-mode"] = "lazy" end
  if spec.ha_mode then
    d["ha-mode"] = spec.ha_mode
    if spec.ha_params ~= nil then d["ha-params"] = spec.ha_params end
    d["ha-sync-mode"] = spec.ha_sync_mode or "automatic"
  end
  if spec.locator then d["queue-master-locator"] = spec.locator end
  if spec.leader_locator then d["queue-leader-locator"] = spec.leader_locator end
  return d
end

-- What lazy_notifications and queue_master_locator take (put_policy's fields, the locator).
local POLICY_FIELDS = { "vhost", "name", "pattern", "priority", "locator" }

-- Puts one queue policy (spec's name, pattern and priority over the defaults) and
-- returns the vhost's policies as they were, for M.restore_policies.
local function put_policy(spec, defaults, definition)
  local vhost = spec.vhost or "/"
  local name = spec.name or defaults.name
  local before = broker.policies { vhost = vhost }
  broker.policy(vhost, name, {
    pattern = spec.pattern or defaults.pattern, definition = definition,
    apply_to = "queues", priority = spec.priority or defaults.priority,
  })
  return { vhost = vhost, name = name, policies = before }
end

--- Inside a step: notification queues lazy (and, with locator, masters placed by it).
--- Returns the policies as they were, for an undo to put back with M.restore_policies.
function M.lazy_notifications(spec)
  spec = validate_spec("rabbitmq.lazy_notifications", spec or {}, POLICY_FIELDS)
  return put_policy(spec, { name = "notifications-lazy", pattern = "^notifications\\.", priority = 1 },
    M.definition { lazy = true, locator = spec.locator })
end

--- Inside a step: where classic queue masters go (`min-masters`, `client-local`, `random`).
function M.queue_master_locator(spec)
  spec = validate_spec("rabbitmq.queue_master_locator", spec or {}, POLICY_FIELDS)
  return put_policy(spec, { name = "queue-master-locator", pattern = ".*", priority = 0 },
    M.definition { locator = spec.locator or "min-masters" })
end

--- Undo for lazy_notifications / queue_master_locator: the policy goes back to how it was.
function M.restore_policies(saved)
  if type(saved) ~= "table" then return end
  for _, p in ipairs(saved.policies or {}) do
    if p.name == saved.name then
      broker.policy(p.vhost, p.name, { pattern = p.pattern, definition = p.definition, apply_to = p.apply_to, priority = p.priority })
      return
    end
  end
  broker.delete_policy(saved.vhost, saved.name)
end

--- A probe: every queue of `vhost` matching `pattern` holds at most `max` messages.
function M.queues_below(vhost, pattern, max)
  return function(ctx)
    local over = {}
    for _, q in ipairs(broker.queues { vhost = vhost }) do
      -- nil: RabbitMQ has no statistics for the queue yet (its first seconds).
      if q.name:match(pattern) and q.messages ~= nil and q.messages > max then over[#over + 1] = q.name .. " (" .. q.messages .. ")" end
    end
    if #over == 0 then return true end
    return false, #over .. " queue(s) above " .. max .. " messages: " .. table.concat(over, ", ", 1, math.min(#over, 5))
  end
end

--- A probe: no policy mirrors classic queues (ha-mode). RabbitMQ 4.0 removes mirrored
--- queues, and openstack-ansible 2024.2 wants quorum queues before its upgrade.
function M.preflight.no_mirrored_queues(ctx)
  local bad = {}
  for _, p in ipairs(broker.policies()) do
    if type(p.definition) == "table" and p.definition["ha-mode"] ~= nil then
      bad[#bad + 1] = (p.vhost or "/") .. " " .. p.name .. " (ha-mode " .. tostring(p.definition["ha-mode"]) .. ")"
    end
  end
  if #bad == 0 then return true end
  return false, #bad .. " policy(ies) still mirror classic queues: " .. table.concat(bad, ", ", 1, math.min(#bad, 5))
end

--- The management API answers.
function M.health(ctx)
  local ok, r = pcall(broker.overview)
  if not ok then return false, tostring(r) end
  return true
end

return M
