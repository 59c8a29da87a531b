import FerryCore
import FerrySimulation

/// Nova and Placement in the simulated region: `nova-manage` against the `nova`,
/// `nova_api` and `nova_cell0` databases, `placement-manage` against `placement`.
struct NovaSimulation: SimComponent {
    let component = "nova"
    let programs: Set<String> = ["nova-manage", "nova-status", "placement-manage", "placement-status", "virsh"]
    /// The compute API, and Placement, served by nova's controllers (its own `placement` VIP).
    /// The metadata API (8775) is served by nova-api with `enabled_apis` naming `metadata` (openstack/nova@2015.1.0
    /// nova/cmd/api.py, @17.0.0 nova/conf/service.py enabled_apis default `osapi_compute,metadata`), behind its own VIP.
    let apis = [SimAPI(name: "nova", port: 8774), SimAPI(name: "placement", port: 8778), SimAPI(name: "metadata", port: 8775)]
    /// The region file's databases for Nova (`placement` is seeded from Train on, not listed).
    let databases = ["nova", "nova_api", "nova_cell0"]
    /// Nova's RPC topics and the units that read them (`openstack-nova-conductor` / `nova-conductor`, …).
    let queueReaders = [
        "conductor": "nova-conductor", "scheduler": "nova-scheduler", "compute": "nova-compute",
        "consoleauth": "nova-consoleauth", "cert": "nova-cert",
    ]

    /// Nova's databases grow with the region: a dump takes 0.3 s per compute node.
    func dumpSecondsPerCompute(database: String) -> Double? { database.hasPrefix("nova") ? 0.3 : nil }

    /// `COUNT(*)` over instances: those in a transitional state when the query asks by state, else all.
    /// Those Kilo's flavor migration skips (a task_state, or resized or rescued) when the query asks for rescued ones.
    func countKey(table: String, query: String) -> String? {
        guard table == "instances" else { return nil }
        if query.contains("DELETED !=") || query.contains("DELETED <>") { return "deleted_instances" }
        if query.contains("RESCUED") { return "unsettled_instances" }
        return query.contains("STATE") ? "busy_instances" : "instances"
    }

    static let controllerRoles = ["api", "conductor", "scheduler", "novncproxy", "consoleauth", "cert", "placement-api"]

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        Sim.installOldAndNew(&state, component: "nova", release: release, newRelease: newRelease) { r, family in
            Self.controllerRoles.flatMap { NovaKnowledge.knowledge.units(family, role: $0, release: r) }
        }
        Sim.install(&state, group: "computes", component: "nova", release: release,
                    units: { NovaKnowledge.knowledge.units($0, role: "compute") }, running: true)
        // The new controllers come with their release's nova.conf: the [placement] and [neutron] sections in keystoneauth
        // form (what the computes need from Ocata; the Kilo [neutron] admin_* options are gone from Ocata on,
        // openstack/nova@15.0.0 nova/conf/neutron.py). Computes deployed at Ocata or later have [placement] too; a Kilo
        // compute's nova.conf (no file here) has neither.
        let target = newRelease ?? release
        if Sim.atLeast(target, "ocata") {
            for host in Sim.hosts(state, in: "nova_new") {
                state.hosts[host]?.files["/etc/nova/nova.conf"] = Self.controllerConf
            }
        }
        if Sim.atLeast(release, "ocata") {
            for host in Sim.hosts(state, in: "computes") {
                state.hosts[host]?.files["/etc/nova/nova.conf"] = Self.computeConf
            }
        }

        var nova = SimDatabase(component: "nova")
        nova.schema["main"] = release
        nova.flags["migrate_version"] = NovaKnowledge.lastVersion[release].map(String.init)
        nova.counters["instances"] = context.computes * 10
        nova.counters["compute_nodes"] = context.computes
        nova.counters["building_instances"] = 0
        nova.counters["migrating_instances"] = 0
        // What the simulated database answers for a COUNT over instances by state.
        nova.counters["busy_instances"] = 0
        // Instances with a task_state, or resized or rescued (Kilo's migrate_flavor_data skips them).
        nova.counters["unsettled_instances"] = 0
        nova.counters["null_instance_uuids"] = 0
        // Soft-deleted instances (deleted != 0) a region collects over the years, until archive_deleted_rows moves them.
        nova.counters["deleted_instances"] = context.computes * 20
        // Kilo keeps flavors of older instances in system_metadata until migrate_flavor_data runs.
        nova.counters["flavor_migration_pending"] = release == "kilo" ? context.computes * 3 : 0
        nova.counters["odm_pending"] = 0
        state.databases["nova"] = nova

        if Sim.atLeast(release, "mitaka") {
            var api = SimDatabase(component: "nova")
            api.schema["main"] = release
            let cells = Sim.atLeast(release, "ocata")
            api.counters["cell_mappings"] = cells ? 2 : 0
            api.counters["host_mappings"] = cells ? context.computes : 0
            api.counters["resource_providers"] = cells ? context.computes : 0
            if cells { api.flags["cell1_transport_url"] = Self.oldTransportURL(state) }
            Self.stampAPI(&api, release)
            Self.mirrorRows(&api)
            state.databases["nova_api"] = api
        }
        if Sim.atLeast(release, "ocata") {
            var cell0 = SimDatabase(component: "nova")
            cell0.schema["main"] = release
            cell0.flags["migrate_version"] = NovaKnowledge.lastVersion[release].map(String.init)
            state.databases["nova_cell0"] = cell0
        }
        if Sim.atLeast(release, "train") {
            var placement = SimDatabase(component: "placement")
            placement.schema["main"] = release
            state.databases["placement"] = placement
        }

        NovaServices.seed(&state, release: release, context: context)

        let computeURL =
            Sim.before(release, "mitaka") ? "http://controller:8774/v2/%(tenant_id)s"
            : Sim.before(release, "queens") ? "http://controller:8774/v2.1/%(tenant_id)s" : "http://controller:8774/v2.1"
        Sim.addCatalog(&state, name: "nova", type: "compute", url: computeURL, description: "OpenStack Compute")
        if Sim.atLeast(release, "ocata") {
            Sim.addCatalog(&state, name: "placement", type: "placement", url: "http://controller:8778", description: "Placement API")
        }
    }

    /// A prebuilt controller's nova.conf (the sections the computes take from it).
    static var controllerConf: String { "[DEFAULT]\nenabled_apis = osapi_compute,metadata\n\n" + computeConf }
    /// A compute deployed at Ocata or later: the same [neutron] and [placement] as its controllers.
    static let computeConf = """
        [neutron]
        url = http://neutron.sim:9696
        auth_type = password
        auth_url = http://keystone.sim:5000/v3
        project_name = service
        project_domain_name = Default
        username = neutron
        user_domain_name = Default
        region_name = RegionOne
        password = sim-neutron-secret

        [placement]
        os_region_name = RegionOne
        auth_type = password
        auth_url = http://keystone.sim:5000/v3
        project_name = service
        project_domain_name = Default
        username = placement
        user_domain_name = Default
        password = sim-placement-secret

        """

    // MARK: nova-compute's start and the hypervisor

    /// A compute's libvirt and QEMU: the nova database's flags `libvirt_version:<host>` / `qemu_version:<host>` where a
    /// test sets them, else a CentOS 7.4 compute with the virt SIG's qemu-kvm-ev (libvirt 3.2.0, QEMU 2.9.0).
    static func hypervisor(_ state: SimState, host: String) -> (libvirt: String, qemu: String) {
        let db = state.databases["nova"]
        return (db?.flags["libvirt_version:\(host)"] ?? "3.2.0", db?.flags["qemu_version:\(host)"] ?? "2.9.0")
    }

    static func older(_ a: String, than b: String) -> Bool {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) where (i < x.count ? x[i] : 0) != (i < y.count ? y[i] : 0) {
            return (i < x.count ? x[i] : 0) < (i < y.count ? y[i] : 0)
        }
        return false
    }

    /// nova-compute's `init_host` at `release` on `host`, with the host's /etc/nova/nova.conf: PlacementNotConfigured
    /// (Ocata…Queens), then the libvirt driver's minimum libvirt and QEMU (NovaKnowledge). The message, or nil.
    static func computeRefusal(unit: String, host: String, release: String, state: SimState) -> String? {
        let conf = state.hosts[host]?.files["/etc/nova/nova.conf"].map { IniDocument($0) }
        if NovaKnowledge.requiresPlacementSection(release), conf?.get("placement", "os_region_name") == nil {
            return "Job for \(unit).service failed: PlacementNotConfigured: This compute is not configured to talk to the placement "
                + "service. Configure the [placement] section of nova.conf and restart the service."
        }
        guard let min = NovaKnowledge.hypervisorMinimum[release] else { return nil }
        let have = hypervisor(state, host: host)
        if older(have.libvirt, than: min.libvirt) {
            return "Job for \(unit).service failed: InternalError: Nova requires libvirt version \(min.libvirt) or greater. "
                + "(libvirt \(have.libvirt) on this host)"
        }
        if let qemu = min.qemu, older(have.qemu, than: qemu) {
            return "Job for \(unit).service failed: InternalError: Nova requires QEMU version \(qemu) or greater. (QEMU \(have.qemu) on this host)"
        }
        return nil
    }

    func start(unit: String, host: String, release: String, state: inout SimState) -> String? {
        if NovaKnowledge.knowledge.units(.rpm, role: "compute").contains(unit) || NovaKnowledge.knowledge.units(.deb, role: "compute").contains(unit),
           let refusal = Self.computeRefusal(unit: unit, host: host, release: release, state: state)
        {
            return refusal
        }
        NovaServices.started(unit: unit, host: host, release: release, state: &state)
        return nil
    }

    /// Every Nova unit reads nova.conf, judged against its release's schema (NovaKnowledge.config).
    func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict {
        NovaKnowledge.config.judge(unit: unit, host: host, release: release, files: NovaKnowledge.configFiles, state: state)
    }

    /// The services, compute nodes and placement tables, row by row (NovaServices).
    func table(_ table: String, database: String, state: SimState, context: any SimContext) -> SimTable? {
        NovaServices.table(table, database: database, state: state, context: context)
    }

    func apply(_ change: SimTableChange, database: String, state: inout SimState, context: any SimContext) -> Int? {
        NovaServices.apply(change, database: database, state: &state, context: context)
    }

    /// `virsh version` (libvirt's tools/virsh-host.c cmdVersion): the library, the API and the running hypervisor.
    /// Any other virsh command is left unjudged (recorded).
    static func virsh(_ command: SimCommand, state: SimState) -> SimOutcome? {
        guard command.argv.dropFirst().first(where: { !$0.hasPrefix("-") }) == "version" else { return nil }
        let h = hypervisor(state, host: command.host)
        return Sim.ok("Compiled against library: libvirt \(h.libvirt)\nUsing library: libvirt \(h.libvirt)\n"
            + "Using API: QEMU \(h.libvirt)\nRunning hypervisor: QEMU \(h.qemu)\n", duration: 0.2)
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
        if command.program == "virsh" { return Self.virsh(command, state: state) }
        let isPlacement = command.program.hasPrefix("placement-")
        let component = isPlacement ? "placement" : "nova"
        guard let tool = Sim.tool(command, state, component: component) ?? Sim.tool(command, state, component: "nova") else {
            return Sim.notInstalled(command)
        }
        switch command.program {
        case "nova-status": return status(command, tool: tool, state: state, context: context)
        case "placement-status":
            return StatusCheckSimulation.run(command, tool: tool, component: "placement", state: state, context: context)
        case "placement-manage": return placement(command, tool: tool, state: &state, context: context)
        default: break
        }
        let args = ManageArguments(command.argv, valued: ["--max-count", "--max_count", "--max-number", "--max_rows", "--transport-url", "--name",
                                                         "--database_connection", "--cell_uuid"])
        let words = args.words
        if words.isEmpty && args.flags.contains("--version") {
            // The point release of the tools: `tools_version:<release>` on the nova database, else the series' last.
            return Sim.ok(state.databases["nova"]?.flags["tools_version:\(tool)"] ?? Self.lastVersion(tool), duration: 1)
        }
        switch (words.first, words.dropFirst().first) {
        case ("db", "version"):
            return Sim.ok(state.databases["nova"]?.flags["migrate_version"] ?? "None", duration: 2)
        case ("api_db", "version"):
            let api = state.databases["nova_api"]
            return Sim.ok(api?.flags["migrate_version"] ?? api?.schema["main"] ?? "None", duration: 2)
        case ("api_db", "sync"):
            guard Sim.atLeast(tool, "liberty") else { return invalidCategory(command, "api_db") }
            return apiSync(tool: tool, state: &state, context: context)
        case ("db", "sync"):
            return dbSync(tool: tool, state: &state, context: context)
        case ("db", "online_data_migrations"):
            guard Sim.atLeast(tool, "mitaka") else { return Sim.invalidChoice(command, category: "db", choice: "online_data_migrations") }
            var db = state.databases["nova"]!
            let outcome = Self.onlineMigrations(&db, tool: tool, max: args.int("--max-count") ?? args.int("--max_count"), context: context)
            state.databases["nova"] = db
            return outcome
        case ("db", "migrate_flavor_data"):
            guard !Sim.atLeast(tool, "mitaka") else { return Sim.invalidChoice(command, category: "db", choice: "migrate_flavor_data") }
            // Instances with a task_state, or resized or rescued, are matched and skipped (without --force), and the
            // command exits 0 all the same (NovaKnowledge.flavorMigrationCompletion cites openstack/nova@2015.1.0).
            var db = state.databases["nova"]!
            let pending = db.counters["flavor_migration_pending"] ?? 0
            let matched = min(pending, args.int("--max-number") ?? pending)
            let skipped = args.flags.contains("--force") ? 0 : min(matched, db.counters["unsettled_instances"] ?? 0)
            let done = matched - skipped
            db.counters["flavor_migration_pending"] = pending - done
            state.databases["nova"] = db
            return Sim.ok("\(matched) instances matched query, \(done) completed",
                          duration: context.duration("nova-manage db migrate_flavor_data", 60 + Double(done) * 0.05))
        case ("db", "archive_deleted_rows") where !Sim.atLeast(tool, "mitaka"):
            // Kilo and Liberty: `--max_rows` is needed in practice (None - 0 raises TypeError in the DB API), the rows
            // move to the shadow tables table by table, nothing is printed (openstack/nova@2015.1.0 nova/cmd/manage.py
            // DbCommands.archive_deleted_rows, nova/db/sqlalchemy/api.py archive_deleted_rows). The model moves
            // `deleted_instances`; later releases' output is not modelled (recorded).
            guard let max = args.int("--max_rows") else {
                return .fail("Traceback (most recent call last):\n  File \"nova/db/sqlalchemy/api.py\", in archive_deleted_rows\n"
                    + "TypeError: unsupported operand type(s) for -: 'NoneType' and 'int'", code: 1, duration: 2)
            }
            var db = state.databases["nova"]!
            let left = db.counters["deleted_instances"] ?? 0
            let moved = min(max, left)
            db.counters["deleted_instances"] = left - moved
            state.databases["nova"] = db
            return Sim.ok("", duration: context.duration("nova-manage db archive_deleted_rows", 5 + Double(moved) * 0.002))
        case ("db", "archive_deleted_rows") where Sim.atLeast(tool, "ocata"):
            // From Ocata: exit 1 when rows were archived, 0 when nothing was ("Nothing was archived." with --verbose),
            // 2 for an invalid --max_rows (openstack/nova@15.0.0, @17.0.0 nova/cmd/manage.py DbCommands.archive_deleted_rows).
            let max = args.int("--max_rows") ?? 1000
            guard max >= 0 else { return SimOutcome(exitCode: 2, stdout: "Must supply a positive value for max_rows\n", duration: 1) }
            var db = state.databases["nova"]!
            let left = db.counters["deleted_instances"] ?? 0
            let moved = min(max, left)
            db.counters["deleted_instances"] = left - moved
            state.databases["nova"] = db
            let verbose = args.flags.contains("--verbose")
            let out = !verbose ? "" : moved == 0 ? "Nothing was archived.\n"
                : "+-----------+-------------------------+\n| Table     | Number of Rows Archived |\n"
                    + "+-----------+-------------------------+\n| instances | \(moved) |\n+-----------+-------------------------+\n"
            return SimOutcome(exitCode: moved > 0 ? 1 : 0, stdout: out,
                              duration: context.duration("nova-manage db archive_deleted_rows", 5 + Double(moved) * 0.002))
        case ("db", "null_instance_uuid_scan"):
            var db = state.databases["nova"]!
            let n = db.counters["null_instance_uuids"] ?? 0
            if n == 0 { return Sim.ok("There were no records found where instance_uuid was NULL.", duration: 10) }
            if args.flags.contains("--delete") {
                db.counters["null_instance_uuids"] = 0
                state.databases["nova"] = db
                return Sim.ok("Deleted \(n) records from table 'instances'.", duration: 10)
            }
            return Sim.ok("There are \(n) records in the 'instances' table where the uuid or instance_uuid column is NULL. "
                + "Run this command again with the --delete option after you have backed up any necessary data.", duration: 10)
        case ("cell_v2", let action?):
            guard Sim.atLeast(tool, "newton") else { return invalidCategory(command, "cell_v2") }
            return cells(action, command: command, args: args, tool: tool, state: &state, context: context)
        default:
            return nil
        }
    }

    /// `nova-manage db online_data_migrations [--max-count N]` as `tool`'s release says it (NovaKnowledge.onlineMigrations
    /// cites each): one batch with `--max-count`, batches of 50 until one moves nothing without. A migration that raises
    /// (`odm_errors` > 0: one migration fails every time) prints "Error attempting to run" and moves nothing. Exit: Mitaka 0
    /// always; Newton … Rocky 1 when the last batch moved rows, else 0; from Stein 2 on errors with no progress.
    static func onlineMigrations(_ db: inout SimDatabase, tool: String, max: Int?, context: any SimContext) -> SimOutcome {
        let errors = (db.counters["odm_errors"] ?? 0) > 0
        var lines: [String] = max == nil ? ["Running batches of 50 until complete"] : []
        var total = 0, last = 0
        repeat {
            last = db.migrate(upTo: tool, max: max ?? 50)
            total += last
            if errors { lines.append("Error attempting to run <function migration_failing_on_this_database>") }
            if last > 0 { lines.append("\(last) rows matched query migrate_\(tool)_data, \(last) migrated") }
        } while max == nil && last > 0
        if Sim.atLeast(tool, "queens") {
            lines.append("+---------------------------+--------------+-----------+")
            lines.append("|         Migration         | Total Needed | Completed |")
            lines.append("| migrate_\(tool)_data | \(total) | \(total) |")
        }
        let code: Int32
        if Sim.before(tool, "newton") {
            code = 0
        } else if Sim.before(tool, "stein") {
            code = last > 0 ? 1 : 0
        } else if errors && (max == nil || last == 0) {
            lines.append("Some migrations failed unexpectedly. Check log for details.")
            code = 2
        } else {
            code = last > 0 ? 1 : 0
        }
        return SimOutcome(exitCode: code, stdout: lines.joined(separator: "\n") + "\n",
                          duration: context.duration("nova-manage db online_data_migrations", 30))
    }

    /// The version `nova-manage --version` prints for a release's tools by default: Kilo 2015.1.4, Newton 14.1.0
    /// (newton-eol), else `<number>.0.0`.
    static func lastVersion(_ release: String) -> String {
        switch release {
        case "kilo": return "2015.1.4"
        case "newton": return "14.1.0"
        default: return "\(Releases.find(release)?.number ?? 0).0.0"
        }
    }

    /// The API database's `migrate_version` as the release's `api_db sync` leaves it: repository `nova_api`, version
    /// NovaKnowledge.apiLastVersion (known for Ocata…Queens, read back on real code; other releases leave no row).
    static func stampAPI(_ api: inout SimDatabase, _ release: String) {
        api.flags["repository_id"] = "nova_api"
        api.flags["migrate_version"] = NovaKnowledge.apiLastVersion[release].map(String.init)
    }

    /// The simulated database answers `SELECT COUNT(*) FROM <table>` from `rows:<table>`.
    static func mirrorRows(_ api: inout SimDatabase) {
        for table in ["cell_mappings", "host_mappings", "resource_providers"] {
            api.counters["rows:\(table)"] = api.counters[table] ?? 0
        }
    }

    private func invalidCategory(_ command: SimCommand, _ category: String) -> SimOutcome {
        .fail("usage: nova-manage [-h] [--config-dir DIR] [--config-file PATH] [--debug] [--version] {…} ...\n"
            + "nova-manage: error: argument category: invalid choice: '\(category)'", code: 2, duration: 1)
    }

    private func newer(_ db: String, _ current: String, _ tool: String) -> SimOutcome {
        .fail("ERROR: the \(db) database is at \(current), newer than this nova-manage (\(tool)); "
            + "nova never downgrades a database (restore a backup instead)", duration: 3)
    }

    private func apiSync(tool: String, state: inout SimState, context: any SimContext) -> SimOutcome {
        // The sim has no [api_database]/connection to check: the database exists once synced.
        var api = state.databases["nova_api"] ?? SimDatabase(component: "nova")
        let current = api.schema["main"]
        if let c = Sim.index(current), let t = Sim.index(tool), c > t { return newer("nova_api", current!, tool) }
        if Sim.atLeast(tool, "wallaby"), current == nil || Sim.before(current, "train") {
            return .fail("ERROR: the nova_api database is older than Train: \(tool)'s migrations start at 067_train. "
                + "Run the Train release's nova-manage api_db sync first.", duration: 5)
        }
        if Sim.atLeast(tool, "ocata"), Sim.before(current, "ocata") || current == nil, (api.counters["cell_mappings"] ?? 0) < 2 {
            return .fail("ERROR: Cell mappings are not created, but required for Ocata. Please run nova-manage cell_v2 "
                + "simple_cell_setup before continuing. (030_require_cell_setup)", duration: 5)
        }
        api.schema["main"] = tool
        Self.stampAPI(&api, tool)
        state.databases["nova_api"] = api
        return Sim.ok("", duration: context.duration("nova-manage api_db sync", 60))
    }

    private func dbSync(tool: String, state: inout SimState, context: any SimContext) -> SimOutcome {
        var db = state.databases["nova"]!
        let current = db.schema["main"]
        if let c = Sim.index(current), let t = Sim.index(tool), c > t { return newer("nova", current!, tool) }
        let flavors = db.counters["flavor_migration_pending"] ?? 0
        if tool == "liberty", flavors > 0 {
            return .fail("ERROR: There are still \(flavors) unmigrated flavor records. Migration cannot continue until all instance "
                + "flavor records have been migrated to the new format. Please run `nova-manage db migrate_flavor_data' first. "
                + "(291_enforce_flavors_migrated)", duration: 5)
        }
        let blockers: [(tool: String, pending: String, migration: String)] = [
            ("newton", "mitaka", "330_enforce_mitaka_online_migrations"),
            ("ocata", "newton", "345_require_online_migration_completion"),
        ]
        for b in blockers where tool == b.tool && db.pending(b.pending) > 0 {
            return .fail("ERROR: There are still \(db.pending(b.pending)) unmigrated records from \(b.pending)'s online data "
                + "migrations. Migration cannot continue until all records have been migrated. Run the \(b.pending) release's "
                + "`nova-manage db online_data_migrations` until it exits 0. (\(b.migration))", duration: 5)
        }
        if tool == "train", db.pending(upTo: "stein") > 0 {
            return .fail("ERROR: Some services have no uuid yet (\(db.pending(upTo: "stein")) rows). Run `nova-manage db "
                + "online_data_migrations` first. (400_enforce_service_uuid)", duration: 5)
        }
        if Sim.atLeast(tool, "wallaby"), Sim.before(current, "train") {
            return .fail("ERROR: the nova database is older than Train: \(tool)'s migrations start at 402_train. "
                + "Run the Train release's nova-manage db sync first.", duration: 5)
        }
        if Sim.atLeast(tool, "2023.2"), Sim.before(current, "xena") {
            return .fail("ERROR: the nova database was never synced by Alembic (Xena or later): \(tool) no longer carries the "
                + "sqlalchemy-migrate migrations. Run a Xena…2023.1 release's nova-manage db sync first.", duration: 5)
        }
        db.schema["main"] = tool
        db.flags["migrate_version"] = NovaKnowledge.lastVersion[tool].map(String.init)
        if current != tool {
            let computes = context.computes
            let rows: Int
            switch tool {
            case "mitaka", "ocata", "pike", "queens", "rocky", "stein", "train": rows = computes * 2
            case "newton": rows = computes * 4
            case "victoria", "2023.2": rows = computes
            default: rows = 0
            }
            if rows > 0 { db.addPending(tool, rows) }
        }
        state.databases["nova"] = db
        if Sim.atLeast(tool, "ocata"), var cell0 = state.databases["nova_cell0"], (state.databases["nova_api"]?.counters["cell_mappings"] ?? 0) >= 1 {
            cell0.schema["main"] = tool
            cell0.flags["migrate_version"] = db.flags["migrate_version"]
            state.databases["nova_cell0"] = cell0
        }
        return Sim.ok("", duration: context.duration("nova-manage db sync", 40 * 60))
    }

    /// The first cell's identity, fixed so runbooks can find it in `list_cells`.
    static let cell1UUID = "5f3b8c2e-1d4a-4e6b-9c7d-2a8e0f1b3c4d"

    /// `[DEFAULT]/transport_url` of a host's nova.conf, as nova-manage reads it when the
    /// command gives none.
    static func configuredTransportURL(_ state: SimState, host: String) -> String? {
        state.hosts[host]?.files["/etc/nova/nova.conf"].flatMap { IniDocument($0).get("DEFAULT", "transport_url") }
    }

    /// The broker a Kilo-era nova.conf names: the first host of `rabbit_old`.
    static func oldTransportURL(_ state: SimState) -> String {
        "rabbit://nova@\(Sim.hosts(state, in: "rabbit_old").first ?? "controller"):5672/"
    }

    private func cells(_ action: String, command: SimCommand, args: ManageArguments, tool: String, state: inout SimState,
                       context: any SimContext) -> SimOutcome? {
        let host = command.host
        guard var api = state.databases["nova_api"] else {
            return .fail("ERROR: [api_database]/connection is not set: create the nova_api database and run nova-manage api_db sync first",
                         duration: 3)
        }
        defer {
            Self.mirrorRows(&api)
            state.databases["nova_api"] = api
        }
        let mappings = api.counters["cell_mappings"] ?? 0
        switch action {
        case "simple_cell_setup":
            if mappings >= 2 { return Sim.ok("Cell0 is already setup", duration: 3) }
            if context.computes == 0 { return .fail("No hosts found to map to cell, exiting.", duration: 3) }
            if state.databases["nova_cell0"] == nil { state.databases["nova_cell0"] = SimDatabase(component: "nova") }
            api.counters["cell_mappings"] = 2
            api.counters["cell0_mapped"] = 1
            api.counters["host_mappings"] = context.computes
            api.flags["cell1_transport_url"] = args.options["--transport-url"]
                ?? Self.configuredTransportURL(state, host: host) ?? Self.oldTransportURL(state)
            return Sim.ok("", duration: context.duration("nova-manage cell_v2 simple_cell_setup", 30 + Double(context.computes) * 0.05))
        case "map_cell0":
            if (api.counters["cell0_mapped"] ?? 0) == 0 {
                api.counters["cell0_mapped"] = 1
                api.counters["cell_mappings"] = mappings + 1
                if state.databases["nova_cell0"] == nil { state.databases["nova_cell0"] = SimDatabase(component: "nova") }
            }
            return Sim.ok("", duration: 3)
        case "create_cell":
            api.counters["cell_mappings"] = mappings + 1
            return Sim.ok("", duration: 3)
        case "discover_hosts":
            api.counters["host_mappings"] = context.computes
            return Sim.ok("", duration: context.duration("nova-manage cell_v2 discover_hosts", 10 + Double(context.computes) * 0.02))
        case "list_cells":
            var rows = ["+-------+--------------------------------------+----------------+", "|  Name |                 UUID                 |  Transport URL |",
                        "+-------+--------------------------------------+----------------+"]
            if (api.counters["cell0_mapped"] ?? (mappings >= 2 ? 1 : 0)) > 0 {
                rows.append("| cell0 | 00000000-0000-0000-0000-000000000000 |     none:/     |")
            }
            for i in 0..<max(0, mappings - 1) {
                let uuid = i == 0 ? Self.cell1UUID : String(Self.cell1UUID.dropLast(2)) + String(format: "%02d", i)
                rows.append("| cell\(i + 1) | \(uuid) | \(i == 0 ? api.flags["cell1_transport_url"] ?? Self.oldTransportURL(state) : "…") |")
            }
            return Sim.ok(rows.joined(separator: "\n"), duration: 2)
        case "update_cell":
            guard Sim.atLeast(tool, "pike") else { return Sim.invalidChoice(command, category: "cell_v2", choice: "update_cell") }
            guard let uuid = args.options["--cell_uuid"], mappings >= 2, uuid == Self.cell1UUID else {
                return SimOutcome(exitCode: 1, stderr: "Cell with uuid \(args.options["--cell_uuid"] ?? "") was not found.\n", duration: 3)
            }
            guard let url = args.options["--transport-url"] ?? Self.configuredTransportURL(state, host: host) else {
                return SimOutcome(exitCode: 2, stderr: "Must specify --transport-url if [DEFAULT]/transport_url is not set in the configuration file.\n", duration: 3)
            }
            api.flags["cell1_transport_url"] = url
            return Sim.ok("", duration: 3)
        default:
            return nil
        }
    }

    /// Whether a controller runs nova's placement API (its httpd/apache2 unit, started with nova's code).
    static func placementRunning(_ state: SimState, release: String) -> Bool {
        let units = Set(NovaKnowledge.knowledge.units(.rpm, role: "placement-api", release: release)
            + NovaKnowledge.knowledge.units(.deb, role: "placement-api", release: release))
        return state.hosts.values.contains { h in
            h.services.contains { units.contains($0.key) && $0.value.component == "nova" && $0.value.running }
        }
    }

    private func status(_ command: SimCommand, tool: String, state: SimState, context: any SimContext) -> SimOutcome {
        var findings: [StatusCheckSimulation.Finding] = []
        let api = state.databases["nova_api"]
        if (api?.counters["cell_mappings"] ?? 0) < 2 {
            findings.append(.init(check: "Cells v2", code: 2, details: "There needs to be at least two cell mappings, one for cell0 "
                + "and one for your first cell. Run command 'nova-manage cell_v2 simple_cell_setup' and then retry."))
        }
        if !Sim.hasEndpoint(state, type: "placement") {
            findings.append(.init(check: "Placement API", code: 2, details: "Placement API endpoint not found."))
        } else if Sim.atLeast(tool, "ocata") && Sim.before(tool, "stein") && !Self.placementRunning(state, release: tool) {
            // Until Stein placement ships in nova's packages, served by httpd/apache2 on the controllers.
            findings.append(.init(check: "Placement API", code: 2,
                                  details: "Unable to establish connection to http://controller:8778/: no placement-api is running."))
        }
        if (api?.counters["host_mappings"] ?? 0) < context.computes {
            findings.append(.init(check: "Resource Providers", code: 1,
                                  details: "There are fewer hosts mapped to cells than compute nodes: run nova-manage cell_v2 discover_hosts."))
        }
        return StatusCheckSimulation.run(command, tool: tool, component: "nova", state: state, context: context, findings: findings)
    }

    private func placement(_ command: SimCommand, tool: String, state: inout SimState, context: any SimContext) -> SimOutcome? {
        guard Sim.atLeast(tool, "stein") else { return Sim.notInstalled(command) }
        let words = ManageArguments(command.argv).words
        var db = state.databases["placement"] ?? SimDatabase(component: "placement")
        switch (words.first, words.dropFirst().first) {
        case ("db", "sync"):
            if let c = Sim.index(db.schema["main"]), let t = Sim.index(tool), c > t { return newer("placement", db.schema["main"]!, tool) }
            db.schema["main"] = tool
            state.databases["placement"] = db
            return Sim.ok("", duration: context.duration("placement-manage db sync", 30))
        case ("db", "stamp"):
            guard words.count >= 3 else { return Sim.unrecognized(command, words) }
            db.flags["alembic_version"] = words[2]
            if db.schema["main"] == nil { db.schema["main"] = "stein" }
            state.databases["placement"] = db
            return Sim.ok("", duration: 2)
        case ("db", "version"):
            return Sim.ok(db.flags["alembic_version"] ?? db.schema["main"] ?? "None", duration: 2)
        default:
            return nil
        }
    }
}
