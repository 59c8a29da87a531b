import FerryCore
import Foundation
import LuaBridge
import Testing

/// A runbook run against the lab region (scripts/testenv/up … mariadb).
struct LabRun {
    let directory: String
    let engine: Engine

    init(runbook: String, regionEdit: (String) -> String = { $0 }) async throws {
        directory = try TestEnvironment.directory()
        try runbook.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        let lab = try String(contentsOfFile: TestEnvironment.root + "/.testenv/region.yaml", encoding: .utf8)
        guard lab.contains("\ndatabases:") else {
            throw FerryError.failed("the lab region has no databases: run `scripts/testenv/up hosts mariadb` (scripts/test does)")
        }
        try regionEdit(lab).write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: directory + "/region.yaml")
        engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"), region: region,
                        transport: LocalTransport(), journal: try RunJournal(path: directory + "/journal.db"))
    }

    func run() async throws -> RunOutcome { try await engine.run(RunOptions()) }
    func state(_ outcome: RunOutcome) async throws -> LuaValue { try await engine.journal.run(outcome.runID).state }
}

@Suite(.serialized) struct DatabaseTests {
    @Test func queriesBindParametersAndTypeResults() async throws {
        let table = "ferry_t_\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await LabRun(runbook: """
            runbook { name = "db" }
            step "sql" { run = function(ctx)
              local conn = db.connect("glance")
              conn:exec("CREATE TABLE \(table) (id INT PRIMARY KEY, name VARCHAR(64), ratio DOUBLE, note TEXT NULL)")
              ctx.state.inserted = conn:exec("INSERT INTO \(table) VALUES (?, ?, ?, ?), (?, ?, ?, ?)",
                1, "o'brien; DROP TABLE \(table); --", 0.5, nil, 2, "plain", 1.25, "note")
              ctx.state.rows = conn:query("SELECT id, name, ratio, note FROM \(table) WHERE id >= ? ORDER BY id", 1)
              ctx.state.count = conn:scalar("SELECT COUNT(*) FROM \(table)")
              ctx.state.threads = conn:status("Threads_connected")
              conn:transaction(function(c) c:exec("UPDATE \(table) SET name = ? WHERE id = ?", "committed", 2) end)
              local ok = pcall(conn.transaction, conn, function(c)
                c:exec("UPDATE \(table) SET name = ? WHERE id = ?", "rolled-back", 1)
                error("abort the transaction")
              end)
              ctx.state.rolled_back = not ok
              ctx.state.after = conn:query("SELECT name FROM \(table) ORDER BY id")
              conn:exec("DROP TABLE \(table)")
            end }
            """)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["inserted"] == 2)
        #expect(s["rows"][0]["name"] == .string("o'brien; DROP TABLE \(table); --"))
        #expect(s["rows"][0]["ratio"] == 0.5)
        #expect(s["rows"][0]["note"].isNil)
        #expect(s["rows"][1]["id"] == 2)
        #expect(s["count"] == 2)
        #expect((s["threads"].intValue ?? 0) >= 1)
        #expect(s["rolled_back"] == true)
        #expect(s["after"] == [["name": .string("o'brien; DROP TABLE \(table); --")], ["name": "committed"]])
    }

    @Test func wrongPasswordAndDownServerAreClearErrors() async throws {
        let r = try await LabRun(runbook: """
            runbook { name = "db-errors" }
            step "connect" { run = function(ctx) db.connect("glance") end }
            """, regionEdit: { lab in
                lab.replacingOccurrences(of: "\n  glance: {", with: "\n  glance: { password: wrong-password,")
                    .replacingOccurrences(of: "password: { file:", with: "_unused: { file:")
            })
        let outcome = try await r.run()
        let message = outcome.message ?? ""
        #expect(message.contains("db glance: access denied for ferry"), "\(message)")
        #expect(message.contains("runbook.lua:2:"))

        let down = try await LabRun(runbook: """
            runbook { name = "db-down" }
            step "connect" { run = function(ctx) db.connect("glance") end }
            """, regionEdit: { $0.replacingOccurrences(of: "port: 23306", with: "port: 1") })
        let failed = try await down.run()
        #expect(failed.message?.contains("db glance: cannot connect to 127.0.0.1:1 (is the server running?)") == true,
                "\(failed.message ?? "")")
    }

    @Test func aConnectionKilledMidQueryIsReported() async throws {
        let r = try await LabRun(runbook: """
            runbook { name = "db-killed" }
            step "slow" { run = function(ctx)
              local conn = db.connect("glance")
              local killer = db.connect("glance")
              local id = conn:scalar("SELECT CONNECTION_ID()")
              parallel({ 1, 2 }, function(i)
                if i == 1 then
                  local ok, err = pcall(conn.query, conn, "SELECT SLEEP(10)")
                  ctx.state.error = err
                else
                  sleep("500ms")
                  killer:exec("KILL " .. math.tointeger(id))
                end
              end)
            end }
            """)
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await r.run()
        #expect(clock.now - start < .seconds(8))
        let error = try await r.state(outcome)["error"].stringValue ?? ""
        #expect(error.contains("lost the connection") || error.contains("interrupted"), "\(error)")
    }
}
