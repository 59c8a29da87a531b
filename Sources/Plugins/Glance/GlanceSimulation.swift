import FerryCore
import FerrySimulation

/// Glance in the simulated region: `glance-manage` against the `glance` database.
struct GlanceSimulation: SimComponent {
    let component = "glance"
    let programs: Set<String> = ["glance-manage", "glance-status"]
    let apis = [SimAPI(name: "glance", port: 9292, versionStatus: 300)]

    /// `COUNT(*)` over images: the images without a visibility (before ocata01), those
    /// `saving` (uploads in progress), or all of them.
    func countKey(table: String, query: String) -> String? {
        guard table == "images" else { return nil }
        return query.contains("VISIBILITY IS NULL") ? "images_without_visibility" : query.contains("SAVING") ? "images_saving" : "images"
    }

    /// glance-api reads glance-api.conf, judged against its release's schema (GlanceKnowledge.config).
    func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict {
        guard GlanceKnowledge.knowledge.units(.rpm, role: "api").contains(unit) || GlanceKnowledge.knowledge.units(.deb, role: "api").contains(unit)
        else { return SimConfigVerdict() }
        return GlanceKnowledge.config.judge(unit: unit, host: host, release: release, files: GlanceKnowledge.configFiles, state: state)
    }

    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        Sim.installOldAndNew(&state, component: "glance", release: release, newRelease: newRelease) {
            GlanceKnowledge.knowledge.units($1, release: $0)
        }
        var db = SimDatabase(component: "glance")
        Self.synced(&db, to: release)
        db.counters["images"] = context.computes * 5
        db.counters["images_saving"] = 0
        // images.visibility arrives with ocata01 (is_public before it).
        db.flags["column-from:images.visibility"] = "ocata"
        state.databases["glance"] = db
        Sim.addCatalog(&state, name: "glance", type: "image", url: "http://controller:9292", description: "OpenStack Image")
    }

    /// The database as a full sync with `release`'s tools leaves it.
    static func synced(_ db: inout SimDatabase, to release: String) {
        db.schema["main"] = release
        if Sim.atLeast(release, "ocata") {
            db.schema["expand"] = release
            db.schema["migrate"] = release
            db.schema["contract"] = release
            db.flags["alembic_version"] = GlanceKnowledge.alembicVersion[release]
            // ocata01 gives every image a visibility from is_public (members: 'shared').
            db.flags["column:images.visibility"] = "1"
            db.counters["images_without_visibility"] = 0
        } else if let v = GlanceKnowledge.migrateVersion[release] {
            db.flags["migrate_version"] = String(v)
        }
    }

    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? {
        guard let tool = Sim.tool(command, state, component: "glance") else { return Sim.notInstalled(command) }
        if command.program == "glance-status" {
            return StatusCheckSimulation.run(command, tool: tool, component: "glance", state: state, context: context)
        }
        let args = ManageArguments(command.argv)
        var words = args.words
        if words.first == "db_sync" { words = ["db", "sync"] + words.dropFirst() }
        if words.first == "db_version" { words = ["db", "version"] }
        guard words.first == "db", words.count >= 2 else { return nil }
        var db = state.databases["glance"] ?? SimDatabase(component: "glance")
        let current = db.schema["main"]
        let ocataTools = Sim.atLeast(tool, "ocata")

        switch words[1] {
        case "version":
            let v = ocataTools ? db.flags["alembic_version"] ?? db.flags["migrate_version"] : db.flags["migrate_version"]
            return Sim.ok(v ?? "None", duration: 2)
        case "sync", "expand", "migrate", "contract":
            if words[1] != "sync" && !ocataTools { return Sim.invalidChoice(command, category: "db", choice: words[1]) }
            if ocataTools, Sim.before(current, "liberty") {
                return .fail("The current database version is not supported any more. Please upgrade to Liberty release first.", duration: 3)
            }
            if let c = Sim.index(current), let t = Sim.index(tool), c > t {
                return .fail("ERROR: the glance database is at \(current!), newer than this glance-manage (\(tool)); "
                    + "glance-manage cannot downgrade (restore a backup instead)", duration: 3)
            }
            let duration = context.duration("glance-manage db_sync", tool == "ocata" ? 180 : 60)
            switch words[1] {
            case "expand":
                db.schema["expand"] = tool
            case "migrate":
                guard db.schema["expand"] == tool else {
                    return .fail("ERROR: run glance-manage db expand before db migrate (the database is not expanded to \(tool))", duration: 3)
                }
                db.schema["migrate"] = tool
            case "contract":
                guard db.schema["migrate"] == tool else {
                    return .fail("ERROR: run glance-manage db migrate before db contract (data not migrated to \(tool))", duration: 3)
                }
                Self.synced(&db, to: tool)
            default:
                Self.synced(&db, to: tool)
            }
            state.databases["glance"] = db
            let version = db.flags[ocataTools ? "alembic_version" : "migrate_version"] ?? tool
            return Sim.ok(ocataTools ? "Database is synced successfully. (\(version))" : "", duration: duration)
        default:
            return nil
        }
    }
}
