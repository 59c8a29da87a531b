import FerryCore
import FerrySimulation
import LuaBridge

/// What the Core tests teach the simulated region in place of the plugins (CoreTests may not
/// import FerryPlugins, and FerrySimulation knows no component): the six components by name,
/// each generic (an API service on its controllers, a database, a catalog entry) plus the
/// few facts these tests rely on: nova-compute on the computes, the Neutron agents and the
/// load their restarts put on the `neutron` database, Keystone as the catalog and RabbitMQ
/// as the broker with its hosts. The plugins' own simulations are tested in PluginTests.
enum SimFixture {
    static let components: [any SimComponent] = [
        Catalog(), Generic(component: "glance", apis: [SimAPI(name: "glance", port: 9292, versionStatus: 300)]),
        Generic(component: "cinder", apis: [SimAPI(name: "cinder", port: 8776, versionStatus: 300)]), Compute(), Network(), Broker(),
    ]

    struct Generic: SimComponent {
        let component: String
        let apis: [SimAPI]
        let programs: Set<String> = []
        func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? { nil }
    }

    struct Catalog: SimComponent {
        let component = "keystone"
        let apis = [SimAPI(name: "keystone", port: 5000, versionStatus: 300)]
        let programs: Set<String> = []
        func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? { nil }
        func complete(_ region: inout Region) {
            if region.keystone.isNil { region.keystone = ["auth_url": "http://keystone.sim:5000/v3", "region_name": "RegionOne"] }
        }
        func catalogRole(in region: Region) -> SimCatalogRole? {
            SimCatalogRole(label: "Keystone at http://keystone.sim:5000/v3", defaultRegion: "RegionOne")
        }
    }

    struct Compute: SimComponent {
        let component = "nova"
        let apis = [SimAPI(name: "nova", port: 8774), SimAPI(name: "placement", port: 8778)]
        let databases = ["nova", "nova_api", "nova_cell0"]
        let programs: Set<String> = []
        func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? { nil }
        func dumpSecondsPerCompute(database: String) -> Double? { database.hasPrefix("nova") ? 0.3 : nil }
        func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
            seedGeneric(&state, release: release, newRelease: newRelease)
            for (name, host) in state.hosts where host.groups.contains("computes") {
                state.hosts[name]?.code["nova"] = release
                state.hosts[name]?.services["openstack-nova-compute"] = SimService(component: "nova", running: true, release: release)
            }
        }
    }

    struct Network: SimComponent {
        let component = "neutron"
        let apis = [SimAPI(name: "neutron", port: 9696)]
        let programs: Set<String> = []
        func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? { nil }
        static func isAgent(_ unit: String) -> Bool { unit.hasPrefix("neutron-") && unit.hasSuffix("-agent") }
        let loadModel: SimLoadModel? = SimLoadModel(database: "neutron", weighs: { Network.isAgent($0) }) { unit, threads, threshold in
            "Job for \(unit).service failed: Neutron database overloaded: Threads_running \(threads), threshold \(threshold)"
        }
        func restartSeconds(unit: String) -> Double? { Self.isAgent(unit) ? 8 : nil }
        func dumpSecondsPerCompute(database: String) -> Double? { database == "neutron" ? 0.3 : nil }
        func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
            seedGeneric(&state, release: release, newRelease: newRelease)
            for (name, host) in state.hosts where host.groups.contains("computes") || host.groups.contains("network_nodes") {
                state.hosts[name]?.code["neutron"] = release
                state.hosts[name]?.services["neutron-openvswitch-agent"] = SimService(component: "neutron", running: true, release: release)
            }
        }
    }

    struct Broker: SimComponent {
        let component = "rabbitmq"
        let apis: [SimAPI] = []
        let programs: Set<String> = []
        func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? { nil }
        func complete(_ region: inout Region) {
            for side in ["old", "new"] { SimTopology.addGroup(&region, "rabbit_\(side)", hosts: (1...3).map { "rabbit-\(side)-\($0)" }) }
            if region.broker.isNil { region.broker = ["url": "http://rabbit.sim:15672"] }
        }
        func brokerRole(in region: Region) -> SimBrokerRole? {
            SimBrokerRole(label: "RabbitMQ at http://rabbit.sim:15672",
                          overview: BrokerOverview(rabbitmqVersion: "3.6.16", clusterName: "rabbit@sim", node: "rabbit@rabbit-old-1",
                                                   messages: nil, queues: nil, connections: 120))
        }
    }
}
