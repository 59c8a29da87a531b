import FerryCore
@testable import FerryPlugins
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// A real component step: Glance's own `glance-manage db_sync` (Debian glance-common)
/// run through the SSH transport against the lab's MariaDB, with a backup before it
/// and a rollback that restores it.
@Suite(.serialized) struct GlanceDBSyncTests {
    /// The lab's database password file.
    static func passwordFile() throws -> String {
        let lab = try String(contentsOfFile: TestEnvironment.testenv + "/region.yaml", encoding: .utf8)
        guard let range = lab.range(of: "password: { file: "), let end = lab[range.upperBound...].firstIndex(of: " ") else {
            throw FerryError.failed("the lab region has no database password file: run scripts/testenv/up hosts mariadb")
        }
        return String(lab[range.upperBound..<end])
    }

    /// The Alembic head the Glance plugin says a full sync of `release` ends at.
    static func expected(_ release: String) throws -> String {
        try #require(GlanceKnowledge.alembicVersion[release], "the Glance plugin has no alembic_version for \(release)")
    }

    /// A runbook that empties `database`, optionally brings it to `start` with the real
    /// `glance-manage db_upgrade`, backs it up (undo: restore), runs the real `db_sync`
    /// and records the versions before and after.
    static func syncRun(host: String, database: String, start: String?) async throws -> LabRun {
        let passwordFile = try passwordFile()
        let versions = """
            local function versions(name)
              local c = db.connect("keystone")
              local has = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'alembic_version'", name)
              local out = {}
              if has > 0 then
                for i, r in ipairs(c:query("SELECT version_num FROM " .. name .. ".alembic_version ORDER BY version_num")) do out[i] = r.version_num end
              end
              local tables = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", name)
              c:close()
              return { has_table = has > 0, versions = out, tables = tables }
            end
            """
        let upgrade = start.map { "host:run(\"glance-manage --config-file \" .. ctx.vars.conf .. \" db_upgrade " + $0 + "\")" } ?? ""
        return try await LabRun(runbook: """
            runbook { name = "glance-db-sync", from = "kilo", to = "zed" }
            \(versions)
            step "empty-db" { run = function(ctx)
              -- Its own database, so other tests that use `glance` run undisturbed.
              local c = db.connect("keystone")
              c:exec("DROP DATABASE IF EXISTS \(database)")
              c:exec("CREATE DATABASE \(database)")
              c:close()
            end }
            step "glance-config" { on = "\(host)", run = function(host, ctx)
              host:ini(ctx.vars.conf):set("database", "connection",
                "mysql+pymysql://ferry:" .. secret(ctx.vars.db_password) .. "@127.0.0.1:23306/\(database)")
            end }
            step "start-schema" { on = "\(host)", timeout = "5m", run = function(host, ctx)
              \(upgrade)
            end }
            step "record-before" { run = function(ctx) ctx.state.before = versions("\(database)") end }
            step "backup-db" {
              run = function(ctx) ctx.state.dump = db.backup("glance_sync") end,
              undo = function(ctx) db.restore(ctx.state.dump) end,
            }
            step "db-sync" {
              on = "\(host)", timeout = "5m",
              run = function(host, ctx) host:run("glance-manage --config-file " .. ctx.vars.conf .. " db_sync") end,
              undo = function(host, ctx) log.info("the schema goes back with the database restore") end,
            }
            step "record-version" { run = function(ctx)
              local c = db.connect("glance_sync")
              ctx.state.versions = c:alembic_versions()
              ctx.state.tables = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(database)'")
              c:close()
            end, undo = function(ctx) end }
            """, transport: "nio", regionEdit: { lab in
                editSection(lab, "databases", "\n  glance: {", "\n  glance_sync: { host: 127.0.0.1, port: 23306, user: ferry, password: { file: \(passwordFile) }, database: \(database) }\n  glance: {")
                    + "\nvars: { conf: \"\(NSTemporaryDirectory())ferry-glance-api-\(UInt32.random(in: 0..<UInt32.max)).conf\", db_password: { file: \(passwordFile) } }\n"
            })
    }

    /// The database as the lab's MariaDB has it now: whether it exists, its alembic_version rows, its table count.
    static func look(_ database: String) async throws -> LuaValue {
        let check = try await LabRun(runbook: """
            runbook { name = "check" }
            step "look" { run = function(ctx)
              local c = db.connect("keystone")
              ctx.state.exists = c:scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(database)'")
              ctx.state.tables = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(database)'")
              ctx.state.alembic_table = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(database)' AND TABLE_NAME = 'alembic_version'")
              local out = {}
              if ctx.state.alembic_table > 0 then
                for i, r in ipairs(c:query("SELECT version_num FROM \(database).alembic_version ORDER BY version_num")) do out[i] = r.version_num end
              end
              ctx.state.versions = out
              c:close()
            end }
            """)
        let outcome = try await check.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        return try await check.state(outcome)
    }

    static func drop(_ database: String) async throws {
        let r = try await LabRun(runbook: """
            runbook { name = "drop" }
            step "drop" { run = function(ctx) local c = db.connect("keystone"); c:exec("DROP DATABASE IF EXISTS \(database)"); c:close() end }
            """)
        _ = try await r.run()
    }

    @Test func glanceManageDbSyncRunsAsAStepAndRollbackRestoresTheDatabase() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let passwordFile = try Self.passwordFile()
        let expected = try Self.expected("zed")
        let database = "glance_sync"
        let r = try await Self.syncRun(host: host, database: database, start: nil)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.state(outcome)
        // Before: an empty database, no alembic_version table.
        #expect(state["before"]["has_table"] == false, "\(state["before"])")
        #expect(state["before"]["tables"] == 0)
        // After: exactly the head the Glance plugin says Zed's sync ends at.
        #expect(state["versions"] == .array([.string(expected)]), "\(state["versions"]) != [\(expected)]")
        #expect((state["tables"].intValue ?? 0) > 10)
        // The database password never reaches the journal.
        let password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try await r.engine.journal.flush()
        #expect(try shellOutput("grep -rl -- '\(password)' \(r.directory) || true").isEmpty)

        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
        // Back to before: the database is there, empty, with no alembic_version table.
        let after = try await Self.look(database)
        #expect(after["exists"] == 1, "\(after)")
        #expect(after["alembic_table"] == 0, "\(after)")
        #expect(after["tables"] == 0, "\(after)")
        await r.engine.transport.shutdown()
    }

    @Test func aDatabaseAtAnEarlierSchemaSyncsToTheReleaseHeadAndRollbackReturnsItsVersion() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let start = try Self.expected("ussuri"), expected = try Self.expected("zed")
        #expect(start != expected)
        let database = "glance_sync_\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await Self.syncRun(host: host, database: database, start: start)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.state(outcome)
        // The real glance-manage put the database at Ussuri's head, then synced it to Zed's.
        #expect(state["before"]["versions"] == .array([.string(start)]), "\(state["before"])")
        let tablesBefore = try #require(state["before"]["tables"].intValue)
        #expect(tablesBefore > 10)
        #expect(state["versions"] == .array([.string(expected)]), "\(state["versions"]) != [\(expected)]")

        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
        // Rollback returns the schema version (and the tables) to what they were before the sync.
        let after = try await Self.look(database)
        #expect(after["exists"] == 1, "\(after)")
        #expect(after["versions"] == .array([.string(start)]), "\(after["versions"]) != [\(start)]")
        #expect(after["tables"] == .int(Int64(tablesBefore)), "\(after)")
        await r.engine.transport.shutdown()
        try await Self.drop(database)
    }
}
