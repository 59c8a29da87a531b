import FerryCore
import FerrySimulation
import LuaBridge

/// Keystone in the simulated region: `keystone-manage db_sync` against the `keystone` database.
struct KeystoneSimulation: SimComponent {
    let component = "keystone"
    let programs: Set<String> = ["keystone-manage", "keystone-status"]
    let apis = [SimAPI(name: "keystone", port: 5000, versionStatus: 300)]

    /// Keystone is the region's catalog: the region's `keystone:` settings when the file has none.
    func complete(_ region: inout Region) {
        if region.keystone.isNil {
            region.keystone = ["auth_url": "http://keystone.sim:5000/v3", "username": "admin", "region_name": "RegionOne"]
        }
    }

    /// How the simulated catalog names itself in errors, as the real driver does (`catalog: Keystone at URL: …`).
    func catalogRole(in region: Region) -> SimCatalogRole? {
        SimCatalogRole(label: "Keystone at http://keystone.sim:5000/v3", defaultRegion: region.keystone["region_name"].stringValue ?? "RegionOne")
    }

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        Sim.installOldAndNew(&state, component: "keystone", release: release, newRelease: newRelease) { r in
            KeystoneKnowledge.knowledge.units(.rpm, release: r)
        }
        // Kilo's default token provider is uuid; Ocata makes Fernet the default.
        let provider = Sim.before(release, "ocata") ? "uuid" : "fernet"
        for host in Sim.hosts(state, in: "keystone_old") {
            state.hosts[host]!.files["/etc/keystone/keystone.conf"] = "[token]\nprovider = \(provider)\n"
        }
        var db = SimDatabase(component: "keystone")
        for part in ["main", "expand", "migrate", "contract"] { db.schema[part] = release }
        if release == "kilo" { db.flags["migrate_version"] = "67" }
        state.databases["keystone"] = db
        let url = Sim.before(release, "mitaka") ? "http://controller:5000/v2.0" : "http://controller:5000/v3"
        Sim.addCatalog(&state, name: "keystone", type: "identity", url: url, description: "OpenStack Identity")
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
        guard let tool = Sim.tool(command, state, component: "keystone") else { return Sim.notInstalled(command) }
        if command.program == "keystone-status" {
            return StatusCheckSimulation.run(command, tool: tool, component: "keystone", state: state, context: context)
        }
        let args = ManageArguments(command.argv)
        var db = state.databases["keystone"] ?? SimDatabase(component: "keystone")
        switch args.words.first {
        case "db_version":
            return Sim.ok(db.flags["migrate_version"] ?? db.schema["main"] ?? "None", duration: 2)
        case "db_sync":
            let phases = ["--expand", "--migrate", "--contract"].filter { args.flags.contains($0) }
            if !phases.isEmpty && Sim.before(tool, "newton") { return Sim.unrecognized(command, phases) }
            if args.flags.contains("--check") { return Sim.ok("", duration: 3) }
            if let c = Sim.index(db.schema["main"]), let t = Sim.index(tool), c > t {
                return .fail("ERROR: the keystone database is at \(db.schema["main"]!), newer than this keystone-manage (\(tool))", duration: 3)
            }
            switch phases.first {
            case "--expand":
                db.schema["expand"] = tool
            case "--migrate":
                guard db.schema["expand"] == tool else { return .fail("ERROR: run keystone-manage db_sync --expand first", duration: 3) }
                db.schema["migrate"] = tool
            case "--contract":
                guard db.schema["migrate"] == tool else { return .fail("ERROR: run keystone-manage db_sync --migrate first", duration: 3) }
                db.schema["contract"] = tool
                db.schema["main"] = tool
            default:
                for part in ["main", "expand", "migrate", "contract"] { db.schema[part] = tool }
            }
            db.flags["migrate_version"] = nil
            state.databases["keystone"] = db
            return Sim.ok("", duration: context.duration("keystone-manage db_sync", 60))
        default:
            return nil
        }
    }
}
