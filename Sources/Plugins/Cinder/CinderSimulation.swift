import FerryCore
import FerrySimulation

/// Cinder in the simulated region: `cinder-manage` against the `cinder` database.
/// Volumes per backend host are counters `volumes_host:<host>@<backend>`; service
/// records are counters `service:<binary>:<host>`.
struct CinderSimulation: SimComponent {
    let component = "cinder"
    let programs: Set<String> = ["cinder-manage", "cinder-status"]
    let apis = [SimAPI(name: "cinder", port: 8776, versionStatus: 300)]

    /// `COUNT(*)` over volumes: those in a transitional status when the query asks by status, else all;
    /// over services: those without an RPC version (rows Kilo wrote) when the query asks for them.
    func countKey(table: String, query: String) -> String? {
        if table == "services" && query.contains("RPC_CURRENT_VERSION") { return "services_unversioned" }
        guard table == "volumes" else { return nil }
        return query.contains("STATUS") ? "busy_volumes" : "volumes"
    }

    /// The service row a unit keeps (`cinder-volume` on `host@lvm`, `cinder-scheduler` and `cinder-backup`
    /// on the host); cinder-api keeps none.
    static func serviceRow(unit: String, host: String) -> (binary: String, host: String)? {
        for binary in ["cinder-volume", "cinder-scheduler", "cinder-backup"] where unit.hasSuffix(binary) {
            return (binary, binary == "cinder-volume" ? "\(host)@lvm" : host)
        }
        return nil
    }

    /// Service rows (`service:<binary>:<host>`) with no `rpc_current_version` (flag `rpc_version:<binary>:<host>`):
    /// the rows Kilo wrote, which Liberty's migration 053 leaves NULL.
    static func unversionedRows(_ db: SimDatabase) -> [String] {
        db.counters.keys.filter { $0.hasPrefix("service:") }
            .filter { db.flags["rpc_version:" + $0.dropFirst("service:".count)] == nil }.sorted()
    }

    /// Every Cinder unit reads cinder.conf, judged against its release's schema (CinderKnowledge.config).
    func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict {
        CinderKnowledge.config.judge(unit: unit, host: host, release: release, files: CinderKnowledge.configFiles, state: state)
    }

    /// A cinder service starting. From Newton on, each service builds its RPC clients at start, and each asks
    /// the minimum version of the services of its binary: a non-deleted row with a NULL `rpc_current_version`
    /// raises ServiceTooOld, and the service does not start (openstack/cinder@12.0.0 cinder/objects/service.py
    /// Service._get_minimum_version, called from cinder/rpc.py RPCAPI.__init__ → determine_rpc_version_cap; the
    /// same from 9.0.0 on, absent at 8.0.0; the NULL comes from openstack/cinder@7.0.0
    /// cinder/db/sqlalchemy/migrate_repo/versions/053_add_version_columns_to_service.py). A service that starts
    /// writes its row: with its RPC version from Liberty on (053), without one before.
    func start(unit: String, host: String, release: String, state: inout SimState) -> String? {
        guard var db = state.databases["cinder"] else { return nil }
        if Sim.atLeast(release, "newton"), let stale = Self.unversionedRows(db).first {
            let parts = stale.split(separator: ":", maxSplits: 2)
            return "Job for \(unit).service failed: ServiceTooOld: Service \(parts[1]) is in Liberty version. We do not provide "
                + "backward compatibility with Liberty now, so you need to upgrade it, release by release if live upgrade is "
                + "required. After upgrade you may need to remove any stale service records via \"cinder-manage service remove\". "
                + "(row of \(parts[2]); \(Self.unversionedRows(db).count) such row(s))"
        }
        guard let row = Self.serviceRow(unit: unit, host: host) else { return nil }
        let key = "\(row.binary):\(row.host)"
        db.counters["service:\(key)"] = 1
        if Sim.atLeast(release, "liberty") { db.flags["rpc_version:\(key)"] = release }
        Self.mirrorRows(&db)
        state.databases["cinder"] = db
        return nil
    }

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        Sim.installOldAndNew(&state, component: "cinder", release: release, newRelease: newRelease) { r, family in
            ["api", "scheduler", "volume"].flatMap { CinderKnowledge.knowledge.units(family, role: $0, release: r) }
        }
        var db = SimDatabase(component: "cinder")
        Self.synced(&db, to: release)
        let hosts = Sim.hosts(state, in: "cinder_old")
        let volumes = context.computes * 2
        db.counters["volumes"] = volumes
        db.counters["busy_volumes"] = 0
        for (i, host) in hosts.enumerated() {
            db.counters["volumes_host:\(host)@lvm"] = volumes / max(hosts.count, 1) + (i < volumes % max(hosts.count, 1) ? 1 : 0)
            db.counters["service:cinder-scheduler:\(host)"] = 1
            db.counters["service:cinder-volume:\(host)@lvm"] = 1
            // From Liberty on the services write their RPC version (migration 053); Kilo's rows have none.
            if Sim.atLeast(release, "liberty") {
                db.flags["rpc_version:cinder-scheduler:\(host)"] = release
                db.flags["rpc_version:cinder-volume:\(host)@lvm"] = release
            }
        }
        Self.mirrorRows(&db)
        state.databases["cinder"] = db
        if Sim.before(release, "queens") {
            Sim.addCatalog(&state, name: "cinder", type: "volume", url: "http://controller:8776/v1/%(tenant_id)s")
        }
        if Sim.before(release, "xena") {
            Sim.addCatalog(&state, name: "cinderv2", type: "volumev2", url: "http://controller:8776/v2/%(tenant_id)s")
        }
        if Sim.atLeast(release, "queens") {
            Sim.addCatalog(&state, name: "cinderv3", type: "volumev3", url: "http://controller:8776/v3/%(project_id)s")
        }
    }

    static func synced(_ db: inout SimDatabase, to release: String) {
        db.schema["main"] = release
        if let v = CinderKnowledge.lastVersion[release] {
            db.flags["migrate_version"] = String(v)
        } else {
            db.flags["migrate_version"] = nil
        }
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
        guard let tool = Sim.tool(command, state, component: "cinder") else { return Sim.notInstalled(command) }
        var db = state.databases["cinder"] ?? SimDatabase(component: "cinder")
        if command.program == "cinder-status" {
            var findings: [StatusCheckSimulation.Finding] = []
            if Sim.atLeast(tool, "train"), db.pending(upTo: tool) > 0 {
                findings.append(.init(check: "Online data migrations", code: 2,
                                      details: "\(db.pending(upTo: tool)) rows wait for cinder-manage db online_data_migrations"))
            }
            return StatusCheckSimulation.run(command, tool: tool, component: "cinder", state: state, context: context, findings: findings)
        }
        let args = ManageArguments(command.argv, valued: ["--max_count", "--currenthost", "--newhost"])
        let words = args.words
        switch (words.first, words.dropFirst().first) {
        case ("db", "version"):
            return Sim.ok(db.flags["migrate_version"] ?? "None", duration: 2)
        case ("db", "sync"):
            let outcome = sync(&db, tool: tool, command: command, context: context)
            state.databases["cinder"] = db
            return outcome
        case ("db", "online_data_migrations"):
            guard Sim.atLeast(tool, "ocata") else { return Sim.unrecognized(command, Array(words.dropFirst())) }
            let max = args.int("--max_count")
            let moved = db.migrate(upTo: tool, max: max)
            let left = db.pending(upTo: tool)
            Self.mirrorRows(&db)
            state.databases["cinder"] = db
            let text = "Running batches of \(max ?? 50) until complete\n\(moved) rows matched query, \(moved) migrated, \(left) remaining"
            return SimOutcome(exitCode: left > 0 ? 1 : 0, stdout: text + "\n",
                              duration: context.duration("cinder-manage db online_data_migrations", 20))
        case ("volume", "update_host"):
            guard let from = args.options["--currenthost"], let to = args.options["--newhost"] else {
                return .fail("cinder-manage volume update_host: error: the following arguments are required: --currenthost, --newhost", code: 2)
            }
            var moved = 0
            for (key, count) in db.counters where key.hasPrefix("volumes_host:") {
                let host = String(key.dropFirst("volumes_host:".count))
                guard host == from || host.hasPrefix(from + "#") else { continue }
                let suffix = host.dropFirst(from.count)
                db.counters[key] = nil
                db.counters["volumes_host:\(to)\(suffix)", default: 0] += count
                moved += count
            }
            state.databases["cinder"] = db
            return Sim.ok("", duration: context.duration("cinder-manage volume update_host", 5 + Double(moved) * 0.01))
        case ("service", "remove"):
            guard words.count >= 4 else {
                return .fail("cinder-manage service remove: error: the following arguments are required: binary, host_name", code: 2)
            }
            let key = "service:\(words[2]):\(words[3])"
            guard db.counters[key] != nil else {
                return .fail("Host not found. Failed to remove \(words[2]) on \(words[3]).", code: 2)
            }
            db.counters[key] = nil
            db.flags["rpc_version:\(words[2]):\(words[3])"] = nil
            Self.mirrorRows(&db)
            state.databases["cinder"] = db
            return Sim.ok("Service \(words[2]) on host \(words[3]) removed.", duration: 2)
        case ("service", "list"):
            let rows = db.counters.keys.filter { $0.hasPrefix("service:") }.sorted().map { key -> String in
                let parts = key.split(separator: ":", maxSplits: 2)
                return "\(parts[1])  \(parts[2])  nova  enabled  :-)"
            }
            return Sim.ok((["Binary  Host  Zone  Status  State"] + rows).joined(separator: "\n"), duration: 2)
        default:
            return nil
        }
    }

    /// Ocata's pending online migrations are consistency groups not yet moved to groups:
    /// the simulated database answers `SELECT COUNT(*) FROM consistencygroups` from `rows:consistencygroups`.
    static func mirrorRows(_ db: inout SimDatabase) {
        db.counters["rows:consistencygroups"] = db.pending("ocata")
        db.counters["services_unversioned"] = unversionedRows(db).count
    }

    private func sync(_ db: inout SimDatabase, tool: String, command: SimCommand, context: any SimContext) -> SimOutcome {
        let current = db.schema["main"]
        if let c = Sim.index(current), let t = Sim.index(tool), c > t {
            return .fail("ERROR: the cinder database is at \(current!), newer than this cinder-manage (\(tool)); "
                + "schema migrations cannot go back (restore a backup instead)", duration: 3)
        }
        // Ferry's wording: the real tool fails inside sqlalchemy-migrate when the
        // database is older than the first migration its tree still has.
        if let needed = CinderKnowledge.initVersion[tool], let c = current, let version = CinderKnowledge.lastVersion[c], version < needed {
            let fix = CinderKnowledge.lastVersion.filter { $0.value >= needed }.min { $0.value < $1.value }?.key
            return .fail("ERROR: the cinder database is at version \(version) (\(c)), but \(tool)'s cinder-manage upgrades only from "
                + "version \(needed) on (older migrations were compacted)."
                + (fix.map { " Run the \($0) release's cinder-manage db sync first." } ?? ""), duration: 5)
        }
        if tool == "pike", db.pending("ocata") > 0 {
            return .fail("ERROR: Migration cannot continue until all consistency groups and cgsnapshots have been migrated to "
                + "groups (\(db.pending("ocata")) rows left; 097_enforce_ocata_online_migrations). "
                + "Run the Ocata release's `cinder-manage db online_data_migrations` first.", duration: 5)
        }
        Self.synced(&db, to: tool)
        if current != tool, tool == "ocata" { db.addPending("ocata", context.computes * 2) }
        Self.mirrorRows(&db)
        return Sim.ok("", duration: context.duration("cinder-manage db sync", 120))
    }
}
