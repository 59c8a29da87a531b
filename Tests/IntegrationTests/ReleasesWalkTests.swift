import FerryCore
@testable import FerryPlugins
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// The schema walk Ocata → Pike → Queens on real upstream code: each release's own manage
/// commands from the lab's `releases` virtualenvs (scripts/testenv/services/releases.sh),
/// run by scripts/testenv/releases-walk from a runbook step, against the lab's MariaDB. The
/// schema versions it ends at are read back through Ferry's own `db` module and compared with
/// what the plugins' knowledge files say each release's sync ends at.
///
/// Not part of scripts/test yet: a cold build of the virtualenvs takes about an hour on this
/// machine (docs/region-file.md), so the suite runs once `scripts/testenv/up hosts mariadb
/// releases` has built them (the cache outlives the clone) and is skipped, saying so, before.
enum ReleasesLab {
    static let walk = ["ocata", "pike", "queens"]

    /// Why the suite cannot run here, or nil.
    static var missing: String? {
        let absent = walk.filter { !FileManager.default.fileExists(atPath: TestEnvironment.testenv + "/releases/\($0)/venv/bin/python") }
        return absent.isEmpty ? nil
            : "no \(absent.joined(separator: ", ")) virtualenv in the lab: run `scripts/testenv/up hosts mariadb releases` once per machine"
    }
}

@Suite(.serialized, .enabled(if: ReleasesLab.missing == nil, Comment(rawValue: ReleasesLab.missing ?? "")))
struct ReleasesWalkTests {
    static let walk = ReleasesLab.walk

    /// The releases service's virtualenvs; fails loudly when they are not there.
    static func requireReleases() throws {
        for r in walk where !FileManager.default.fileExists(atPath: TestEnvironment.testenv + "/releases/\(r)/venv/bin/python") {
            throw FerryError.failed("the lab has no \(r) virtualenv: run `scripts/testenv/up mariadb releases` (scripts/test does)")
        }
    }

    @Test func ocataToQueensOnRealCodeEndsAtTheVersionsThePluginsKnow() async throws {
        try Self.requireReleases()
        let host = try TestEnvironment.addresses(1)[0].name
        let prefix = "ferry_walk_it_\(UInt32.random(in: 0..<UInt32.max))_"
        let dbs = ["nova", "nova_api", "nova_cell0", "cinder", "glance", "neutron", "keystone"]
        let script = TestEnvironment.root + "/scripts/testenv/releases-walk"
        let r = try await LabRun(runbook: """
            runbook { name = "releases-walk" }
            step "walk" { on = "\(host)", timeout = "45m", run = function(host, ctx)
              local r = host:run("TESTENV_DIR=\(TestEnvironment.testenv) WALK_PREFIX=\(prefix) WALK_OUT=\(TestEnvironment.testenv)/releases-walk-it.md \(script) --keep \(Self.walk.joined(separator: " ")) 2>&1",
                { check = false, timeout = "45m" })
              ctx.state.code = r.code
              ctx.state.output = r.stdout
            end }
            step "versions" { run = function(ctx)
              local c = db.connect("keystone")
              local out = {}
              for _, d in ipairs { \(dbs.map { "\"\($0)\"" }.joined(separator: ", ")) } do
                local name = "\(prefix)" .. d
                local function has(t)
                  return c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", name, t) > 0
                end
                local v = { migrate = {}, alembic = {} }
                if has("migrate_version") then
                  for _, row in ipairs(c:query("SELECT repository_id, version FROM " .. name .. ".migrate_version")) do
                    v.migrate[row.repository_id] = row.version
                  end
                end
                if has("alembic_version") then
                  for i, row in ipairs(c:query("SELECT version_num FROM " .. name .. ".alembic_version ORDER BY version_num")) do
                    v.alembic[i] = row.version_num
                  end
                end
                v.tables = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", name)
                out[d] = v
              end
              for _, d in ipairs { \(dbs.map { "\"\($0)\"" }.joined(separator: ", ")) } do c:exec("DROP DATABASE IF EXISTS \(prefix)" .. d) end
              c:close()
              ctx.state.versions = out
            end }
            """, transport: "local")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.state(outcome)
        let output = state["output"].stringValue ?? ""
        // Each command's line: `<release> <command…> rc=<code> <time>s …` (or `skipped: …`).
        var codes: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let rc = words.firstIndex(where: { $0.hasPrefix("rc=") }), rc >= 2 else { continue }
            codes[words[0..<rc].joined(separator: " ")] = String(words[rc].dropFirst(3))
        }
        // Every command of every release ran (or was skipped for want of a registry package).
        for release in Self.walk {
            for command in ["nova-manage api_db sync", "nova-manage db sync", "cinder-manage db sync", "neutron-db-manage upgrade heads"] {
                #expect(codes["\(release) \(command)"] == "0", "\(release) \(command): \(codes["\(release) \(command)"] ?? "did not run")\n\(output)")
            }
        }
        // Found on real code: Queens' keystone-manage db_sync cannot run on MariaDB 10.3 or later
        // (the lab's is 10.11): its expand migration adds a column named `system`, a reserved
        // word since MariaDB 10.3 (system-versioned tables), and Queens' SQLAlchemy (1.2.1 in
        // its upper-constraints) does not quote it: `ALTER TABLE application_credential ADD
        // system VARCHAR(64)` fails with 1064. Every other command exits 0.
        #expect(codes["queens keystone-manage db_sync"] == "1", "\(output)")
        #expect(output.contains("ADD system VARCHAR(64)"), "\(output)")
        for (command, code) in codes where command != "queens keystone-manage db_sync" && !command.contains("simple_cell_setup") {
            #expect(code == "0", "\(command): rc=\(code)")
        }
        let v = state["versions"]
        // Nova (main and cell0) and Cinder end at Queens' last legacy migration.
        let nova = try #require(NovaKnowledge.lastVersion["queens"])
        let cinder = try #require(CinderKnowledge.lastVersion["queens"])
        #expect(v["nova"]["migrate"]["nova"].intValue == nova, "nova: \(v["nova"])")
        #expect(v["nova_cell0"]["migrate"]["nova"].intValue == nova, "nova_cell0: \(v["nova_cell0"])")
        #expect(v["cinder"]["migrate"]["cinder"].intValue == cinder, "cinder: \(v["cinder"])")
        #expect((v["nova_api"]["migrate"]["nova_api"].intValue ?? 0) > 0, "nova_api: \(v["nova_api"])")
        // Glance's last installable release of the walk is Pike (16.x, Queens, is not on the registry).
        let glance = try #require(GlanceKnowledge.alembicVersion["pike"])
        #expect(v["glance"]["alembic"] == .array([.string(glance)]), "glance: \(v["glance"])")
        // Neutron: the expand and contract heads.
        #expect(v["neutron"]["alembic"].arrayValue?.count == 2, "neutron: \(v["neutron"])")
        // Keystone: its main repository and the expand/data-migration/contract repositories.
        #expect((v["keystone"]["migrate"]["keystone"].intValue ?? 0) > 0, "keystone: \(v["keystone"])")
        await r.engine.transport.shutdown()
    }
}
