import FerryCore
import FerrySimulation

/// RabbitMQ: `require "ferry.rabbitmq"`. No schema chain of its own: policies and
/// checks for the broker the OpenStack services share, and the OpenStack releases that
/// change what they need of it (docs/openstack-facts.md#rabbitmq).
public struct RabbitMQPlugin: ComponentPlugin {
    public init() {}
    public let name = "rabbitmq"

    public var knowledge: [ComponentKnowledge] {
        [ComponentKnowledge(
            component: "rabbitmq",
            // The broker has no schema of its own: a step only where an OpenStack release
            // changes what it needs of RabbitMQ (docs/openstack-facts.md#rabbitmq).
            steps: [
                ReleaseStep("rabbitmq", "2023.2", commands: [], notes: [
                    "kolla-ansible defaults to quorum queues from Bobcat; a SLURP hop with kolla needs an intermediate "
                        + "RabbitMQ step",
                ]),
                ReleaseStep("rabbitmq", "2024.2", commands: [], notes: [
                    "openstack-ansible 2024.2 requires RabbitMQ 3.13 or later and the queues migrated to quorum queues "
                        + "before the upgrade (RabbitMQ 4.0 removes classic mirrored queues: drop ha-mode policies)",
                ]),
            ],
            services: [ServiceUnit(role: "server", rpm: "rabbitmq-server", deb: "rabbitmq-server")],
            packages: [.rpm: ["rabbitmq-server"], .deb: ["rabbitmq-server"]],
            notes: [
                "oslo.messaging notifications may use their own broker: [oslo_messaging_notifications] transport_url "
                    + "(without it they share the RPC transport)",
                "lazy queues (queue-mode lazy, RabbitMQ 3.6.0 on) page messages to disk early: fit for unconsumed notification "
                    + "queues; RabbitMQ 3.12 ignores the setting",
                "queue-master-locator (e.g. min-masters) places classic queue masters; quorum queues and streams use "
                    + "queue-leader-locator",
                "one policy applies to a queue (the highest priority match): put lazy mode and the locator in one definition",
                "RabbitMQ 4.0 removes classic mirrored queues: openstack-ansible 2024.2 needs RabbitMQ 3.13 and quorum queues "
                    + "before the upgrade",
            ])]
    }

    public var simulation: (any SimComponent)? { RabbitMQSimulation() }

    /// `ferry.rabbitmq`: rabbitmq.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
    public var luaModule: String { Self.luaSource }
    static let luaSource = String(decoding: PackageResources.rabbitmq_lua, as: UTF8.self)
}
