import FerryCore
import FerrySimulation
import Foundation
import LuaBridge

/// RabbitMQ in the simulated region: the servers of `rabbit_old` / `rabbit_new`, and
/// the queues OpenStack leaves on the old cluster (unconsumed notifications among them).
struct RabbitMQSimulation: SimComponent {
    let component = "rabbitmq"
    let programs: Set<String> = ["rabbitmqctl"]
    /// The broker serves no API behind a VIP and has no database: no controllers either.
    let apis: [SimAPI] = []

    /// RabbitMQ is the region's broker: its clusters `rabbit_old` and `rabbit_new` (three
    /// hosts each) and the region's `broker:` settings when the file has none.
    func complete(_ region: inout Region) {
        for side in ["old", "new"] {
            SimTopology.addGroup(&region, "rabbit_\(side)", hosts: (1...3).map { "rabbit-\(side)-\($0)" })
        }
        if region.broker.isNil { region.broker = ["url": "http://rabbit.sim:15672", "username": "admin"] }
    }

    /// How the simulated broker names itself in errors (as the real driver does) and what its overview says.
    func brokerRole(in region: Region) -> SimBrokerRole? {
        // The region's broker: is the new cluster's management API (kr1.example.yaml): the services that move
        // to rabbit_new publish their notifications there. oslo.messaging's rabbit driver declares the
        // notification queue `<topic>.<priority>` (notifications.info) as it publishes, so it fills with no
        // consumer (openstack/oslo.messaging@5.35.0, Queens, oslo_messaging/_drivers/impl_rabbit.py
        // notify_send → _publish_and_creates_default_queue). A publisher the broker blocks (connection.blocked)
        // waits on its first send: the service does not come up. The node blocks publishers past
        // vm_memory_high_watermark (0.4 of RAM) or below disk_free_limit (50 MB), RabbitMQ 3.6's defaults
        // (rabbitmq/rabbitmq-server@rabbitmq_v3_6_16 Makefile (the app defaults), docs/rabbitmq.config.example; the
        // memory and disk alarms of src/rabbit_alarm.erl block publishing connections); lazy queues (3.6.0 on)
        // page their messages to disk, so they count against the disk, the others against memory
        // (simulate.broker sizes the node).
        SimBrokerRole(label: "RabbitMQ at http://rabbit.sim:15672",
                      overview: BrokerOverview(rabbitmqVersion: "3.6.16", clusterName: "rabbit@sim", node: "rabbit@rabbit-old-1",
                                               messages: nil, queues: nil, connections: 120),
                      clusterGroup: "rabbit_new", notificationQueue: "notifications.info",
                      isNotificationQueue: { $0.hasPrefix("notifications") || $0.hasPrefix("versioned_notifications") },
                      blocked: { unit, alarm in
                          "Job for \(unit).service failed: timed out publishing to RabbitMQ (connection.blocked by the broker's \(alarm))"
                      })
    }

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        Sim.install(&state, group: "rabbit_old", component: "rabbitmq", release: release, units: ["rabbitmq-server"], running: true)
        if let newRelease {
            Sim.install(&state, group: "rabbit_new", component: "rabbitmq", release: newRelease, units: ["rabbitmq-server"], running: false)
        }
        // The broker the region's `broker:` reaches (`default`) when the simulation made one;
        // else the clusters by group, as SimState describes them.
        if var broker = state.brokers["default"] {
            if broker.queues.isEmpty { broker.queues = Self.queues(computes: context.computes) }
            state.brokers["default"] = broker
            return
        }
        if state.brokers["rabbit_old"] == nil, !Sim.hosts(state, in: "rabbit_old").isEmpty {
            var broker = SimBroker()
            broker.queues = Self.queues(computes: context.computes)
            state.brokers["rabbit_old"] = broker
        }
        if state.brokers["rabbit_new"] == nil, !Sim.hosts(state, in: "rabbit_new").isEmpty {
            state.brokers["rabbit_new"] = SimBroker()
        }
    }

    /// SimBroker.Queue has no public memberwise initialiser; it is Codable.
    static func queues(computes: Int) -> [SimBroker.Queue] {
        let specs: [(String, Int, Bool)] = [
            ("notifications.info", computes * 5, true), ("notifications.error", computes / 10, true),
            ("conductor", 0, false), ("scheduler", 0, false), ("q-plugin", 0, false),
        ]
        return specs.compactMap { name, messages, durable in
            let json = #"{"vhost":"/","name":"\#(name)","messages":\#(messages),"durable":\#(durable)}"#
            return try? JSONDecoder().decode(SimBroker.Queue.self, from: Data(json.utf8))
        }
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
        let words = ManageArguments(command.argv).words
        guard words.first == "status" || words.first == "cluster_status" else { return nil }
        guard state.hosts[command.host]?.services["rabbitmq-server"]?.running == true else {
            return .fail("Error: unable to perform an operation on node 'rabbit@\(command.host)'. Please see diagnostics information "
                + "and suggestions below.", code: 69, duration: 3)
        }
        return Sim.ok("Status of node rabbit@\(command.host) ...", duration: 2)
    }
}
