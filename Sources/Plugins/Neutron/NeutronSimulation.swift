import FerryCore
import FerrySimulation

/// Neutron in the simulated region: `neutron-db-manage` against the `neutron`
/// database, whose schema has an `expand` and a `contract` part from Liberty on.
struct NeutronSimulation: SimComponent {
    let component = "neutron"
    let programs: Set<String> = ["neutron-db-manage", "neutron-status"]
    let apis = [SimAPI(name: "neutron", port: 9696)]
    /// Neutron's RPC topics and the units that read them.
    let queueReaders = [
        "q-plugin": "neutron-server", "q-reports-plugin": "neutron-server", "q-l3-plugin": "neutron-server",
        "dhcp_agent": "dhcp-agent", "l3_agent": "l3-agent",
    ]

    static func isAgent(_ unit: String) -> Bool { unit.hasPrefix("neutron-") && unit.hasSuffix("-agent") }

    /// A restarted agent resyncs with neutron-server, which loads the `neutron` database: the
    /// load the reference upgrade's first attempt was rolled back for.
    let loadModel: SimLoadModel? = SimLoadModel(database: "neutron", weighs: { NeutronSimulation.isAgent($0) }) { unit, threads, threshold in
        "Job for \(unit).service failed: the agent timed out syncing with neutron-server (Neutron database overloaded: "
            + "Threads_running \(threads), threshold \(threshold))"
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
        state.databases["neutron"] = db
        Sim.addCatalog(&state, name: "neutron", type: "network", url: "http://controller:9696", description: "OpenStack Networking")
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
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
