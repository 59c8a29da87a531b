import FerryCore
import FerryPlugins
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

extension LabHAProxy {
/// The Glance plugin against the lab's real services: its `db_sync` chain step runs the
/// real `glance-manage` (Debian's, Zed) where the region's `releases:` says Zed's tools
/// live, on a real MariaDB database, and ends at the schema the plugin's data says Zed
/// reaches; its health probe asks the real HAProxy VIP; the backup step's undo puts
/// the database back.
@Suite(.serialized) struct GlancePluginTests {
    /// A host of the lab, the lab's region file, and its database password file.
    /// `text` without its top-level section `key:` (the line and the indented lines under it).
    static func dropping(_ key: String, from text: String) -> String {
        var out: [Substring] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(key + ":") { inside = true; continue }
            if inside, line.first == " " || line.first == "\t" || line.isEmpty { continue }
            inside = false
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    static func lab() throws -> (host: String, region: String, passwordFile: String) {
        let host = try TestEnvironment.addresses(1)[0].name
        // The region's own `releases:` (service "releases", when it is up) is replaced by the tests' Zed entry.
        let lab = Self.dropping("releases", from: try String(contentsOfFile: TestEnvironment.testenv + "/region.yaml", encoding: .utf8))
        guard lab.contains("maintenance_map"), let range = lab.range(of: "password: { file: "),
            let end = lab[range.upperBound...].firstIndex(of: " ")
        else {
            throw FerryError.failed("the lab region needs mariadb and haproxy: run scripts/testenv/up hosts mariadb haproxy")
        }
        return (host, lab, String(lab[range.upperBound..<end]))
    }

    @Test func glanceModuleSyncsARealDatabaseToThePluginsExpectedVersion() async throws {
        let (host, lab, passwordFile) = try Self.lab()
        let database = "glance_plugin_\(UInt32.random(in: 0..<UInt32.max))"
        let conf = "\(NSTemporaryDirectory())ferry-glance-plugin-\(UInt32.random(in: 0..<UInt32.max)).conf"
        let directory = try TestEnvironment.directory()
        try """
            local glance = require "ferry.glance"
            runbook { name = "glance-plugin", from = "yoga", to = "zed" }
            \(settleSessionsLua(watch: "keystone"))
            -- Retried: HAProxy sends traffic to a server only once its health check passes,
            -- however long that takes on a loaded machine (within the hang guard).
            check "glance-api" { probe = glance.health, within = "\(Wait.hangGuardSeconds)s", every = "2s" }
            step "empty-db" { run = function(ctx)
              local c = db.connect("keystone")
              c:exec("CREATE DATABASE \(database)")
              c:close()
            end, undo = function(ctx)
              local c = db.connect("keystone")
              c:exec("DROP DATABASE IF EXISTS \(database)")
              c:close()
            end }
            step "glance-config" { on = "\(host)", run = function(host, ctx)
              host:ini(ctx.vars.conf):set("database", "connection",
                "mysql+pymysql://ferry:" .. secret(ctx.vars.db_password) .. "@127.0.0.1:23306/\(database)")
            end }
            step "backup-glance-db" {
              before = { "glance-api" },
              run = function(ctx) ctx.state.dump = db.backup("glance_plugin") end,
              undo = function(ctx)
                -- glance-manage's and the record step's connections are closed: wait until the
                -- server lets go of them (a restore refuses while sessions use the database).
                settle_sessions("\(database)", 0)
                db.restore(ctx.state.dump)
              end,
            }
            glance.db_sync { from = "yoga", to = "zed", config_files = { "\(conf)" }, timeout = "5m" }
            step "record" { run = function(ctx)
              ctx.state.versions = glance.schema_version("glance_plugin")
            end }
            """.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        let region = editSection(lab, "databases", "\n  glance: {",
                                 "\n  glance_plugin: { host: 127.0.0.1, port: 23306, user: ferry, password: { file: \(passwordFile) }, database: \(database) }\n  glance: {")
            + "\nreleases: { zed: { host: \(host), venv: /usr } }\nvars: { conf: \"\(conf)\", db_password: { file: \(passwordFile) } }\n"
        try region.write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        let r = try RegionLoader.load(path: directory + "/region.yaml")
        let engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua", extensions: PluginRegistry.extensions),
                            region: r, transport: NIOSSHTransport(region: r, journalDirectory: directory),
                            journal: try RunJournal(path: directory + "/journal.db"))
        // The chain step is named after the release and planned as irreversible (schema migrations are one-way).
        let plan = try Plan.build(engine.runbook, region: r).render()
        #expect(plan.contains("glance-db-sync-zed"), "\(plan)")
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await engine.journal.run(outcome.runID).state
        // The real glance-manage ends where the plugin's data says Zed ends.
        #expect(state["versions"] == .array(["wallaby_contract01"]), "\(state["versions"])")
        let commands = try await engine.journal.allHosts(outcome.runID).filter { $0.record.host == host }
        #expect(!commands.isEmpty)
        let checks = try await engine.journal.checks(outcome.runID)
        #expect(checks.contains { $0.name == "glance-api" && $0.passed })

        let back = try await engine.rollback(outcome.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(back.irreversible.contains("glance-db-sync-zed"))
        let probe = try shellOutput("mysql --defaults-extra-file=\(TestEnvironment.testenv)/mariadb/client.cnf -N -e \"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(database)'\" 2>&1")
        #expect(probe.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(probe)")
        await engine.transport.shutdown()
    }

    /// The Glance part of the Kilo → Queens runbook, built from the same library steps, on
    /// the lab: block writes at the real HAProxy, back up the real database, run the real
    /// glance-manage where `releases:` says, switch the real VIP to the new server, let
    /// users back in; then roll it all back. (The lab has no Glance systemd units and only
    /// Zed's tools, so the services' stop/start and the Kilo chain are left to the
    /// simulated drill.)
    @Test func theGlancePartOfTheLibraryRunsAndRollsBackOnRealServices() async throws {
        let (host, lab, passwordFile) = try Self.lab()
        let database = "glance_part_\(UInt32.random(in: 0..<UInt32.max))"
        let conf = "\(NSTemporaryDirectory())ferry-glance-part-\(UInt32.random(in: 0..<UInt32.max)).conf"
        // Beside the repository's scripts/, so `require "lib.upgrade"` finds the library.
        let directory = "\(TestEnvironment.root)/.testenv/rb-glance-part-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            local lib = require "lib.upgrade"
            runbook { name = "glance-part", from = "yoga", to = "zed" }
            \(settleSessionsLua(watch: "keystone"))
            local api = lib.api_check { component = "glance" }
            step "empty-db" { run = function(ctx)
              local c = db.connect("keystone"); c:exec("CREATE DATABASE \(database)"); c:close()
            end, undo = function(ctx)
              local c = db.connect("keystone"); c:exec("DROP DATABASE IF EXISTS \(database)"); c:close()
            end }
            step "glance-config" { on = "\(host)", run = function(host, ctx)
              host:ini(ctx.vars.conf):set("database", "connection",
                "mysql+pymysql://ferry:" .. secret(ctx.vars.db_password) .. "@127.0.0.1:23306/\(database)")
            end }
            lib.maintenance { component = "glance", mode = "writes" }
            lib.backup_databases { names = { "glance" }, name = "backup-glance" }
            lib.db_sync { component = "glance", from = "yoga", to = "zed", config_files = { "\(conf)" }, timeout = "5m" }
            lib.switch_vip { component = "glance", after = { api } }
            lib.end_maintenance { component = "glance", mode = "writes" }
            step "record" { run = function(ctx)
              local c = db.connect("glance"); ctx.state.versions = c:alembic_versions(); c:close()
              ctx.state.vip = vip.get("glance")
            end, undo = function(ctx)
              -- The first undo of the rollback; the backup's restore comes later and refuses while
              -- sessions use the database: wait until the server let go of the closed ones
              -- (glance-manage's, this step's).
              settle_sessions("\(database)", 0)
            end }
            """.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        // This region's `glance` database is the scratch one.
        let region = editSection(lab, "databases", "\n  glance: {", "\n  glance: { host: 127.0.0.1, port: 23306, user: ferry, password: { file: \(passwordFile) }, database: \(database) }\n  glance_lab: {")
            + "\nreleases: { zed: { host: \(host), venv: /usr } }\nvars: { conf: \"\(conf)\", db_password: { file: \(passwordFile) } }\n"
        try region.write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        let r = try RegionLoader.load(path: directory + "/region.yaml")
        let engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua", extensions: PluginRegistry.extensions),
                            region: r, transport: NIOSSHTransport(region: r, journalDirectory: directory),
                            journal: try RunJournal(path: directory + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await engine.journal.run(outcome.runID).state
        #expect(state["versions"] == .array(["wallaby_contract01"]), "\(state["versions"])")
        #expect(state["vip"]["servers"]["glance-new"]["state"] == "ready", "\(state["vip"])")
        #expect(state["vip"]["servers"]["glance-old"]["state"] == "maint", "\(state["vip"])")

        let back = try await engine.rollback(outcome.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(back.irreversible == ["glance-db-sync-zed"])
        let check = try await RunbookLoader.load(path: { () -> String in
            let path = directory + "/after.lua"
            try? "runbook { name = \"after\" }\nstep \"look\" { run = function(ctx) ctx.state.vip = vip.get(\"glance\") end }\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }())
        let after = Engine(runbook: check, region: r, transport: LocalTransport(), journal: try RunJournal(path: directory + "/after.db"))
        let looked = try await after.run(RunOptions())
        let vipAfter = try await after.journal.run(looked.runID).state["vip"]
        #expect(vipAfter["servers"]["glance-old"]["state"] == "ready", "\(vipAfter)")
        #expect(vipAfter["servers"]["glance-new"]["state"] == "maint", "\(vipAfter)")
        let probe = try shellOutput("mysql --defaults-extra-file=\(TestEnvironment.testenv)/mariadb/client.cnf -N -e \"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(database)'\" 2>&1")
        #expect(probe.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(probe)")
        await engine.transport.shutdown()
    }
}
}
