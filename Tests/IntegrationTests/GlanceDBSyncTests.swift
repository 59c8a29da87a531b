import FerryCore
import Foundation
import LuaBridge
import Testing

/// A real component step: Glance's own `glance-manage db_sync` (Debian glance-common)
/// run through the SSH transport against the lab's MariaDB, with a backup before it
/// and a rollback that restores it.
@Suite(.serialized) struct GlanceDBSyncTests {
    @Test func glanceManageDbSyncRunsAsAStepAndRollbackRestoresTheDatabase() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let lab = try String(contentsOfFile: TestEnvironment.testenv + "/region.yaml", encoding: .utf8)
        guard let range = lab.range(of: "password: { file: "), let end = lab[range.upperBound...].firstIndex(of: " ") else {
            throw FerryError.failed("the lab region has no database password file: run scripts/testenv/up hosts mariadb")
        }
        let passwordFile = String(lab[range.upperBound..<end])
        let r = try await LabRun(runbook: """
            runbook { name = "glance-db-sync", from = "kilo", to = "zed" }
            step "empty-db" { run = function(ctx)
              -- Its own database, so other tests that use `glance` run undisturbed.
              local c = db.connect("keystone")
              c:exec("DROP DATABASE IF EXISTS glance_sync")
              c:exec("CREATE DATABASE glance_sync")
              c:close()
            end }
            step "backup-db" {
              run = function(ctx) ctx.state.dump = db.backup("glance_sync") end,
              undo = function(ctx) db.restore(ctx.state.dump) end,
            }
            step "glance-config" { on = "\(host)", run = function(host, ctx)
              host:ini(ctx.vars.conf):set("database", "connection",
                "mysql+pymysql://ferry:" .. secret(ctx.vars.db_password) .. "@127.0.0.1:23306/glance_sync")
            end }
            step "db-sync" {
              on = "\(host)", timeout = "5m",
              run = function(host, ctx) host:run("glance-manage --config-file " .. ctx.vars.conf .. " db_sync") end,
              undo = function(host, ctx) log.info("the schema goes back with the database restore") end,
            }
            step "record-version" { run = function(ctx)
              local c = db.connect("glance_sync")
              ctx.state.versions = c:alembic_versions()
              ctx.state.tables = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'glance_sync'")
              c:close()
            end, undo = function(ctx) end }
            """, transport: "nio", regionEdit: { lab in
                editSection(lab, "databases", "\n  glance: {", "\n  glance_sync: { host: 127.0.0.1, port: 23306, user: ferry, password: { file: \(passwordFile) }, database: glance_sync }\n  glance: {")
                    + "\nvars: { conf: \"\(TestEnvironment.root)/.testenv/glance-api-\(UInt32.random(in: 0..<UInt32.max)).conf\", db_password: { file: \(passwordFile) } }\n"
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.state(outcome)
        #expect(state["versions"].arrayValue?.isEmpty == false, "\(state["versions"])")
        #expect(state["versions"][0].stringValue?.contains("contract") == true || state["versions"][0].stringValue?.isEmpty == false)
        #expect((state["tables"].intValue ?? 0) > 10)
        // The database password never reaches the journal.
        let password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try await r.engine.journal.flush()
        #expect(try shellOutput("grep -rl -- '\(password)' \(r.directory) || true").isEmpty)

        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
        let check = try await LabRun(runbook: """
            runbook { name = "check" }
            step "count" { run = function(ctx)
              local c = db.connect("keystone")
              ctx.state.tables = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'glance_sync'")
            end }
            """)
        let checked = try await check.run()
        #expect(try await check.state(checked)["tables"] == 0)
        await r.engine.transport.shutdown()
    }
}
