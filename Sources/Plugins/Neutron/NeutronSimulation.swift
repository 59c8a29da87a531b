import FerryCore
import FerrySimulation

/// Neutron in the simulated region: `neutron-db-manage` against the `neutron`
/// database, whose schema has an `expand` and a `contract` part from Liberty on.
struct NeutronSimulation: SimComponent {
    let component = "neutron"
    /// `ip`: the DHCP namespaces' `ip netns exec qdhcp-… ping` (NeutronDataplane); its other forms are recorded.
    let programs: Set<String> = ["neutron-db-manage", "neutron-status", "ip"]
    let apis = [SimAPI(name: "neutron", port: 9696)]
    /// Neutron's RPC topics and the units that read them.
    let queueReaders = [
        "q-plugin": "neutron-server", "q-reports-plugin": "neutron-server", "q-l3-plugin": "neutron-server",
        "dhcp_agent": "dhcp-agent", "l3_agent": "l3-agent",
    ]

    static func isAgent(_ unit: String) -> Bool { unit.hasPrefix("neutron-") && unit.hasSuffix("-agent") }

    /// A restarted agent resyncs with neutron-server, which loads the `neutron` database: the
    /// load the reference upgrade's first attempt was rolled back for.
    let loadModel: SimLoadModel? = SimLoadModel(
        database: "neutron", weighs: { NeutronSimulation.isAgent($0) },
        overloaded: { unit, threads, threshold in
            "Job for \(unit).service failed: the agent timed out syncing with neutron-server (Neutron database overloaded: "
                + "Threads_running \(threads), threshold \(threshold))"
        },
        surge: { unit, host, state in NeutronSimulation.reschedule(unit: unit, host: host, state: &state) })

    // MARK: Automatic failover (DHCP networks, L3 routers) under agents that look dead

    /// What a neutron-server reschedules from agents that look dead to it, per agent kind.
    /// openstack/neutron@2015.1.0 neutron/db/agentschedulers_db.py (`allow_automatic_dhcp_failover`,
    /// default True; `remove_networks_from_down_agents`, started by `start_periodic_dhcp_agent_status_check`
    /// only when it is True) and neutron/db/l3_agentschedulers_db.py (`allow_automatic_l3agent_failover`,
    /// default False; `reschedule_routers_from_down_agents`); the same options and defaults at
    /// openstack/neutron@12.0.0 neutron/conf/agent/database/agentschedulers_db.py and neutron/conf/db/l3_agentschedulers_db.py,
    /// the task at @12.0.0 neutron/db/agentschedulers_db.py `remove_networks_from_down_agents`: every
    /// binding of a down agent goes to the agents alive ("No DHCP agents available, skipping rescheduling"
    /// while there are none, so the first agent to report gets them all).
    struct Failover: Sendable {
        let unit: String
        let option: String
        let byDefault: Bool
        /// The counter prefix of what each agent hosts (`dhcp_networks:<host>`).
        let counter: String
        let what: String
        /// Threads each rescheduled item costs the database while the server moves it and the agent syncs it
        /// (a model figure, not upstream's: a DHCP port and a binding per network, a router's ports,
        /// bindings and sync_routers per router).
        let threads: Double
    }
    static let failovers = [
        Failover(unit: "neutron-dhcp-agent", option: "allow_automatic_dhcp_failover", byDefault: true,
                 counter: "dhcp_networks", what: "network", threads: 1.0),
        Failover(unit: "neutron-l3-agent", option: "allow_automatic_l3agent_failover", byDefault: false,
                 counter: "l3_routers", what: "router", threads: 2.0),
    ]

    static let conf = "/etc/neutron/neutron.conf"

    /// The broker a host's Neutron reports to and listens on: `[DEFAULT]/transport_url` of its neutron.conf
    /// ("" where none is set: the Kilo-era `rabbit_hosts` the region was deployed with, the old cluster).
    static func broker(_ state: SimState, host: String) -> String {
        state.hosts[host]?.files[conf].flatMap { IniDocument($0).get("DEFAULT", "transport_url") } ?? ""
    }

    /// oslo.config's BoolOpt: true/1/on/yes and false/0/off/no, case-insensitive
    /// (openstack/oslo.config@5.2.0 oslo_config/types.py `Boolean`).
    static func bool(_ text: String?) -> Bool? {
        switch text?.lowercased() {
        case "true", "1", "on", "yes": return true
        case "false", "0", "off", "no": return false
        default: return nil
        }
    }

    /// The files a Neutron unit reads, judged against its release's schema (NeutronKnowledge.config).
    func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict {
        NeutronKnowledge.config.judge(unit: unit, host: host, release: release, files: NeutronKnowledge.configFiles(unit: unit), state: state)
    }

    /// neutron-server reads its configuration when it starts: the broker and the failover options in effect
    /// are those of the file then, kept until the next start.
    func start(unit: String, host: String, release: String, state: inout SimState) -> String? {
        guard unit == "neutron-server", var db = state.databases["neutron"] else { return nil }
        let ini = state.hosts[host]?.files[Self.conf].map { IniDocument($0) }
        db.flags["server_broker:\(host)"] = Self.broker(state, host: host)
        for f in Self.failovers {
            let on = Self.bool(ini?.get("DEFAULT", f.option)) ?? f.byDefault
            db.flags["server_\(f.option):\(host)"] = on ? "True" : "False"
        }
        state.databases["neutron"] = db
        return nil
    }

    /// An agent that (re)starts reports to the broker of its neutron.conf. A running neutron-server listening there
    /// with the agent kind's failover on sees it alive and every agent on another broker dead: it moves their
    /// networks (routers) to it, and the agent syncs them all. The load of that, or nil when nothing moves.
    static func reschedule(unit: String, host: String, state: inout SimState) -> SimLoadSurge? {
        guard let f = failovers.first(where: { $0.unit == unit }), var db = state.databases["neutron"] else { return nil }
        let broker = Self.broker(state, host: host)
        let servers = state.hosts.keys.sorted().filter { h in
            guard state.hosts[h]?.services["neutron-server"]?.running == true else { return false }
            let on = db.flags["server_\(f.option):\(h)"].flatMap(Self.bool)
                ?? Self.bool(state.hosts[h]?.files[Self.conf].flatMap { IniDocument($0).get("DEFAULT", f.option) }) ?? f.byDefault
            return on && (db.flags["server_broker:\(h)"] ?? Self.broker(state, host: h)) == broker
        }
        guard let server = servers.first else { return nil }
        var moved = 0
        var dead = 0
        for (key, count) in db.counters.sorted(by: { $0.key < $1.key }) where key.hasPrefix(f.counter + ":") && count > 0 {
            let other = String(key.dropFirst(f.counter.count + 1))
            guard other != host, Self.broker(state, host: other) != broker else { continue }
            moved += count
            dead += 1
            db.counters[key] = 0
        }
        guard moved > 0 else { return nil }
        db.counters["\(f.counter):\(host)", default: 0] += moved
        state.databases["neutron"] = db
        return SimLoadSurge(threads: Double(moved) * f.threads,
                            why: "neutron-server on \(server) (\(f.option) = True) rescheduled \(moved) \(f.what)(s) onto it from "
                                + "\(dead) \(f.unit)(s) reporting to another broker, which look dead to it")
    }

    /// An agent takes 8 s to restart (other units the region's 5 s).
    func restartSeconds(unit: String) -> Double? { Self.isAgent(unit) ? 8 : nil }

    /// The `neutron` database grows with the region (ports, agents): 0.3 s per compute node.
    func dumpSecondsPerCompute(database: String) -> Double? { database == "neutron" ? 0.3 : nil }

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        let k = NeutronKnowledge.knowledge
        Sim.installOldAndNew(&state, component: "neutron", release: release, newRelease: newRelease) { r, family in
            k.units(family, role: "server", release: r)
        }
        Sim.install(&state, group: "computes", component: "neutron", release: release,
                    units: { k.units($0, role: "openvswitch-agent") }, running: true)
        Sim.install(&state, group: "network_nodes", component: "neutron", release: release,
                    units: { k.units($0, role: "network") + k.units($0, role: "openvswitch-agent") }, running: true)
        var db = SimDatabase(component: "neutron")
        db.schema["main"] = release
        db.schema["expand"] = release
        db.schema["contract"] = release
        db.counters["ports"] = context.computes * 20
        db.counters["agents"] = context.computes + Sim.hosts(state, in: "network_nodes").count * 4
        // A network per four ports, each on one DHCP agent (dhcp_agents_per_network defaults to 1:
        // openstack/neutron@12.0.0 neutron/conf/agent/database/agentschedulers_db.py), a router per two computes,
        // spread over the network nodes.
        let nodes = Sim.hosts(state, in: "network_nodes")
        for (counter, total) in [("dhcp_networks", context.computes * 5), ("l3_routers", context.computes / 2)] where !nodes.isEmpty {
            for (i, node) in nodes.enumerated() {
                db.counters["\(counter):\(node)"] = total / nodes.count + (i < total % nodes.count ? 1 : 0)
            }
        }
        // The running servers started with the region's configuration: its broker, upstream's failover defaults.
        for host in Sim.hosts(state, in: "neutron_old") where state.hosts[host]?.services["neutron-server"]?.running == true {
            db.flags["server_broker:\(host)"] = Self.broker(state, host: host)
            for f in Self.failovers { db.flags["server_\(f.option):\(host)"] = f.byDefault ? "True" : "False" }
        }
        state.databases["neutron"] = db
        NeutronAgents.seed(&state, release: release, context: context)
        Sim.addCatalog(&state, name: "neutron", type: "network", url: "http://controller:9696", description: "OpenStack Networking")
    }

    /// The `agents` table, row by row (NeutronAgents); the instances' `ml2_port_bindings` and `ipallocations` (NeutronDataplane).
    func table(_ table: String, database: String, state: SimState, context: any SimContext) -> SimTable? {
        NeutronAgents.table(table, database: database, state: state, context: context)
            ?? NeutronDataplane.table(table, database: database, state: state, context: context)
    }

    /// An OVS agent's restart cuts its host's instances off until its first sync ends where upstream's does (NeutronDataplane).
    func restarted(unit: String, host: String, previous: String, release: String, at: Double, seconds: Double, synced: Bool,
                   state: inout SimState, context: any SimContext) {
        guard unit == NeutronDataplane.agent else { return }
        NeutronDataplane.restarted(host: host, previous: previous, release: release, at: at, seconds: seconds, synced: synced,
                                   state: &state, context: context)
    }

    func apply(_ change: SimTableChange, database: String, state: inout SimState, context: any SimContext) -> Int? {
        NeutronAgents.apply(change, database: database, state: &state)
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
        if command.program == "ip" { return NeutronDataplane.ping(command, state: state, context: context) }
        guard let tool = Sim.tool(command, state, component: "neutron") else { return Sim.notInstalled(command) }
        if command.program == "neutron-status" {
            return StatusCheckSimulation.run(command, tool: tool, component: "neutron", state: state, context: context)
        }
        let args = ManageArguments(command.argv, valued: ["--subproject"])
        var db = state.databases["neutron"] ?? SimDatabase(component: "neutron")
        switch args.words.first {
        case "current":
            return Sim.ok("\(db.schema["expand"] ?? "None") (expand)\n\(db.schema["contract"] ?? "None") (contract)", duration: 3)
        case "has_offline_migrations":
            guard Sim.atLeast(tool, "mitaka") else { return Sim.invalidChoice(command, category: "", choice: "has_offline_migrations") }
            if let c = Sim.index(db.schema["contract"] ?? db.schema["main"]), let t = Sim.index(tool), c < t {
                return SimOutcome(exitCode: 1, stdout: "Need to apply migrations from neutron contract branch\n", duration: 5)
            }
            return Sim.ok("No offline migrations pending.", duration: 5)
        case "upgrade":
            let expand = args.flags.contains("--expand")
            let contract = args.flags.contains("--contract")
            if (expand || contract) && Sim.before(tool, "liberty") { return Sim.unrecognized(command, Array(args.flags).sorted()) }
            if let c = Sim.index(db.schema["main"]), let t = Sim.index(tool), c > t {
                return .fail("alembic.util.exc.CommandError: Can't locate revision identified by the database's \(db.schema["main"]!) "
                    + "heads (the database is newer than this neutron-db-manage, \(tool))", duration: 5)
            }
            if !contract { db.schema["expand"] = tool }
            if !expand {
                db.schema["contract"] = tool
                db.schema["expand"] = tool
            }
            if db.schema["expand"] == tool && db.schema["contract"] == tool { db.schema["main"] = tool }
            state.databases["neutron"] = db
            let key = expand ? "neutron-db-manage upgrade --expand" : contract ? "neutron-db-manage upgrade --contract" : "neutron-db-manage upgrade"
            return Sim.ok("Running upgrade for neutron ...\nOK", duration: context.duration(key, contract ? 60 : 180))
        default:
            return nil
        }
    }
}
