import Foundation
import LuaBridge

// What crosses the `BrokerDriver` seam, and the tables `broker.*` returns for each
// (docs/lua-api.md, "broker"). Nothing of these comes back from Lua: they only turn into tables.

/// `{ rabbitmq_version, cluster_name, node, messages, queues, connections }`; each may be
/// nil when the management API leaves it out (`messages` of a broker without statistics yet).
public struct BrokerOverview: LuaRecord {
    public var rabbitmqVersion: String?
    public var clusterName: String?
    public var node: String?
    /// Messages in every queue.
    public var messages: Int?
    public var queues: Int?
    public var connections: Int?

    public init(rabbitmqVersion: String?, clusterName: String?, node: String?, messages: Int?, queues: Int?, connections: Int?) {
        (self.rabbitmqVersion, self.clusterName, self.node) = (rabbitmqVersion, clusterName, node)
        (self.messages, self.queues, self.connections) = (messages, queues, connections)
    }

    public var luaValue: LuaValue {
        .record(["rabbitmq_version": .optional(rabbitmqVersion), "cluster_name": .optional(clusterName), "node": .optional(node),
                 "messages": .optional(messages), "queues": .optional(queues), "connections": .optional(connections)])
    }
}

/// `{ name }`.
public struct BrokerVhost: LuaRecord {
    public var name: String
    public init(name: String) { self.name = name }
    public var luaValue: LuaValue { ["name": .string(name)] }
}

/// `{ vhost, name, pattern, definition, apply_to, priority }`.
public struct BrokerPolicy: LuaRecord, Codable {
    public var vhost: String
    public var name: String
    public var pattern: String
    /// `all`, `queues` or `exchanges`.
    public var applyTo: String
    /// Stays a JSON value: its keys are RabbitMQ's policy keys (`ha-mode`, `queue-mode`,
    /// `message-ttl`, plugins' own…), an open set whose values are strings, numbers or
    /// lists. Ferry passes it through to the management API and back to Lua as it is.
    public var definition: LuaValue
    public var priority: Int

    public init(vhost: String, name: String, pattern: String, applyTo: String, definition: LuaValue, priority: Int) {
        (self.vhost, self.name, self.pattern, self.applyTo, self.definition, self.priority) = (vhost, name, pattern, applyTo, definition, priority)
    }

    public var luaValue: LuaValue {
        ["vhost": .string(vhost), "name": .string(name), "pattern": .string(pattern), "definition": definition,
         "apply_to": .string(applyTo), "priority": .int(Int64(priority))]
    }
}

/// `{ vhost, name, policy, messages, consumers, durable }`.
public struct BrokerQueue: LuaRecord {
    public var vhost: String
    public var name: String
    /// The policy that applies to it, if any.
    public var policy: String?
    /// Ready plus unacknowledged; nil while the management statistics have none (a new queue).
    public var messages: Int?
    public var consumers: Int
    /// Known in a listing (`broker.queues`); nil from `broker.queue`, which leaves it out.
    public var durable: Bool?

    public init(vhost: String, name: String, policy: String?, messages: Int?, consumers: Int, durable: Bool? = nil) {
        (self.vhost, self.name, self.policy, self.messages, self.consumers, self.durable) = (vhost, name, policy, messages, consumers, durable)
    }

    public var luaValue: LuaValue {
        .record(["vhost": .string(vhost), "name": .string(name), "policy": .optional(policy), "messages": .optional(messages),
                 "consumers": .int(Int64(consumers)), "durable": .optional(durable)])
    }
}
