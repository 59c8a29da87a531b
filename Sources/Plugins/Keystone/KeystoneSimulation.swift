import FerryCore
import FerrySimulation
import Foundation
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
    /// A token's catalog is formatted as the running Keystone's release does (``tokenURL(_:release:)``).
    func catalogRole(in region: Region) -> SimCatalogRole? {
        SimCatalogRole(label: "Keystone at http://keystone.sim:5000/v3", defaultRegion: region.keystone["region_name"].stringValue ?? "RegionOne",
                       tokenURL: { url, state in Self.tokenURL(url, release: Self.release(state)) })
    }

    /// The project the simulated catalog's tokens are scoped to (the region's `keystone:` project).
    static let projectID = "4f1c2d3e5a6b47c8b9d0e1f2a3b4c5d6"
    static let userID = "0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5"

    /// The release of the Keystone that answers: the newest running keystone service, else the schema of its database.
    static func release(_ state: SimState) -> String {
        let running = state.hosts.values.flatMap { $0.services.values }.filter { $0.component == "keystone" && $0.running }.map(\.release)
        return running.max { (Sim.index($0) ?? 0) < (Sim.index($1) ?? 0) } ?? state.databases["keystone"]?.schema["main"] ?? "queens"
    }

    /// An endpoint URL as a token of a Keystone of `release` shows it: `$(` read as `%(`, each `%(key)s` it
    /// substitutes replaced, or nil (left out of the catalog) when the URL names a key that release does not
    /// substitute (KeystoneKnowledge.urlSubstitutions).
    static func tokenURL(_ url: String, release: String) -> String? {
        let known = KeystoneKnowledge.urlSubstitutions(release)
        let values: [String: String] = [
            "tenant_id": projectID, "project_id": projectID, "user_id": userID, "public_bind_host": "0.0.0.0",
            "admin_bind_host": "0.0.0.0", "admin_port": "35357", "public_port": "5000", "compute_port": "8774",
            "public_endpoint": "None", "admin_endpoint": "None",
        ]
        var out = ""
        var rest = Substring(url.replacingOccurrences(of: "$(", with: "%("))
        while let start = rest.range(of: "%(") {
            out += rest[..<start.lowerBound]
            guard let close = rest[start.upperBound...].range(of: ")s") else { return nil }
            let key = String(rest[start.upperBound..<close.lowerBound])
            guard known.contains(key), let value = values[key] else { return nil }
            out += value
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// Keystone's WSGI application in httpd (apache2) reads keystone.conf, judged against its release's schema.
    func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict {
        KeystoneKnowledge.config.judge(unit: unit, host: host, release: release, files: KeystoneKnowledge.configFiles, state: state)
    }

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        Sim.installOldAndNew(&state, component: "keystone", release: release, newRelease: newRelease) { r, family in
            KeystoneKnowledge.knowledge.units(family, release: r)
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

    /// Queens' expand migration 035 adds `application_credential.system`
    /// (openstack/keystone@13.0.0 keystone/common/sql/expand_repo/versions/035_expand_add_system_column_to_application_credential_table.py,
    /// `sql.Column('system', …)` with `create_column`), and Queens' SQLAlchemy (1.2.1 in
    /// openstack/requirements@stable/queens upper-constraints.txt) does not quote it; `SYSTEM` is
    /// reserved from MariaDB 10.3 (system-versioned tables), so the ALTER fails with 1064 and the
    /// sync stops (found on real code: keystone 13.0.4 against MariaDB 10.11, ReleasesWalkTests).
    /// Only Queens is modelled: a database already past 035 never runs it again; later releases'
    /// SQLAlchemy is not verified here.
    static func reservedSystemColumn(tool: String, db: SimDatabase) -> SimOutcome? {
        guard tool == "queens", Sim.before(db.schema["expand"] ?? "kilo", "queens"),
              let server = db.flags["server_version"].flatMap(MariaDBVersion.init), server >= MariaDBVersion(10, 3) else { return nil }
        return .fail("""
            CRITICAL keystone [-] Unhandled error: oslo_db.exception.DBError: (pymysql.err.ProgrammingError) (1064, "You have an error \
            in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near \
            'system VARCHAR(64)' at line 1") [SQL: 'ALTER TABLE application_credential ADD system VARCHAR(64)'] \
            (MariaDB \(db.flags["server_version"] ?? "") reserves SYSTEM since 10.3)
            """, duration: 20)
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
            if phases.isEmpty || phases.first == "--expand", let refusal = Self.reservedSystemColumn(tool: tool, db: db) { return refusal }
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
