import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// A runbook run against the lab region (scripts/testenv/up … mariadb).
/// Replaces text only inside one top-level section of a region file (e.g. `databases:`).
func editSection(_ lab: String, _ section: String, _ of: String, _ with: String) -> String {
    guard let start = lab.range(of: "\n\(section):") else { return lab }
    let rest = lab[start.upperBound...]
    let end = rest.range(of: "\n[a-z_]+:", options: .regularExpression)?.lowerBound ?? lab.endIndex
    let body = String(lab[start.upperBound..<end]).replacingOccurrences(of: of, with: with)
    return String(lab[..<start.upperBound]) + body + String(lab[end...])
}

/// Replaces the `password:` of one entry: a line `  NAME: { … }` inside a section, or
/// with `topLevel` a top-level `NAME: { … }`.
func replacePassword(_ lab: String, entry: String, topLevel: Bool = false, with value: String) -> String {
    let pattern = "(\\n\(topLevel ? "" : "  ")\(entry): \\{[^\\n]*?)password: (?:\\{ [a-z]+: [^}]* \\}|[^,}]+)"
    guard let regex = try? NSRegularExpression(pattern: pattern) else { return lab }
    let range = NSRange(lab.startIndex..., in: lab)
    guard let match = regex.firstMatch(in: lab, range: range), let r = Range(match.range, in: lab),
        let prefix = Range(match.range(at: 1), in: lab)
    else { return lab }
    return lab.replacingCharacters(in: r, with: String(lab[prefix]) + "password: " + value)
}

/// Lua text defining `settle_sessions(database, expected)`: waits (within the hang guard) until exactly
/// `expected` sessions have `database` (its name on the server) as their current database, the
/// sessions `db.restore` counts (information_schema.PROCESSLIST). A connection just closed, by
/// `conn:close()` or by the `mysqldump` of a `db.backup`, can stay listed for a moment after the
/// client let go of it; waiting for the count keeps that moment out of what a test asserts. It
/// reads through a connection to `watch`, another database, so that it does not count itself.
func settleSessionsLua(watch: String) -> String {
    """
    local function settle_sessions(database, expected)
      local watcher = db.connect("\(watch)")
      wait_until(function()
        local n = watcher:scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?", database)
        return n == expected, tostring(n) .. " session(s) use " .. database .. ", waiting for " .. expected
      end, { within = "\(Wait.hangGuardSeconds)s", every = "100ms" })
      watcher:close()
    end
    """
}

struct LabRun {
    let directory: String
    let engine: Engine

    init(runbook: String, requiring section: String = "\ndatabases:", transport: String = "local",
         regionEdit: (String) -> String = { $0 }) async throws
    {
        directory = try TestEnvironment.directory()
        try runbook.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        let lab = try String(contentsOfFile: TestEnvironment.testenv + "/region.yaml", encoding: .utf8)
        guard lab.contains(section) else {
            throw FerryError.failed("the lab region has no \(section.trimmingCharacters(in: .whitespacesAndNewlines)) section: run `scripts/testenv/up` with its service (scripts/test does)")
        }
        try regionEdit(lab).write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: directory + "/region.yaml")
        let chosen: any Transport = transport == "nio" ? NIOSSHTransport(region: region, journalDirectory: directory) : LocalTransport()
        engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"), region: region,
                        transport: chosen, journal: try RunJournal(path: directory + "/journal.db"))
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
            """, regionEdit: { replacePassword($0, entry: "glance", with: "wrong-password") })
        let outcome = try await r.run()
        let message = outcome.message ?? ""
        #expect(message.contains("db glance: access denied for ferry"), "\(message)")
        #expect(message.contains("runbook.lua:2:"))

        let down = try await LabRun(runbook: """
            runbook { name = "db-down" }
            step "connect" { run = function(ctx) db.connect("glance") end }
            """, regionEdit: { editSection($0, "databases", "port: 23306", "port: 1") })
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
              local id = math.tointeger(conn:scalar("SELECT CONNECTION_ID()"))
              parallel({ 1, 2 }, function(i)
                if i == 1 then
                  -- As long as the hang guard, so it cannot end on its own before the kill.
                  local ok, err = pcall(conn.query, conn, "SELECT SLEEP(\(Wait.hangGuardSeconds))")
                  ctx.state.error = err
                else
                  -- Kill only once the server runs the query: then the kill interrupts it.
                  wait_until(function()
                    local n = killer:scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE 'SELECT SLEEP%'", id)
                    return n > 0, "connection " .. id .. " is not running SELECT SLEEP yet"
                  end, { within = "\(Wait.hangGuardSeconds)s", every = "100ms" })
                  killer:exec("KILL " .. id)
                end
              end)
            end }
            """)
        // The kill interrupted the query (the error says so; an uninterrupted SLEEP ends
        // without one). No wall-clock bound: load is not this behaviour.
        let outcome = try await r.run()
        let error = try await r.state(outcome)["error"].stringValue ?? ""
        #expect(error.contains("lost the connection") || error.contains("interrupted"), "\(error)")
    }
}

@Suite(.serialized) struct DatabaseBackupTests {
    @Test func backupVerifyAndRestoreRoundTrip() async throws {
        let table = "ferry_b_\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await LabRun(runbook: """
            runbook { name = "backup" }
            \(settleSessionsLua(watch: "keystone"))
            step "seed" { run = function(ctx)
              local c = db.connect("cinder")
              c:exec("CREATE TABLE \(table) (id INT PRIMARY KEY, v VARCHAR(20))")
              c:exec("INSERT INTO \(table) VALUES (1, 'before')")
              c:close()
            end }
            step "backup" {
              run = function(ctx) ctx.state.dump = db.backup("cinder") end,
              undo = function(ctx)
                -- The connections of "change" are closed: wait until the server lets go of them.
                settle_sessions(ctx.state.database, 0)
                db.restore(ctx.state.dump)
              end,
            }
            step "change" { run = function(ctx)
              local c = db.connect("cinder")
              ctx.state.database = c:scalar("SELECT DATABASE()")
              c:exec("UPDATE \(table) SET v = 'after' WHERE id = 1")
              ctx.state.verified = db.verify(ctx.state.dump)
              c:close()
            end }
            """)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.state(outcome)
        #expect(state["verified"] == true)
        let path = try #require(state["dump"]["path"].stringValue)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect((state["dump"]["bytes"].intValue ?? 0) > 100)
        #expect(state["dump"]["sha256"].stringValue?.count == 64)
        let artifacts = try await r.engine.journal.artifacts(outcome.runID)
        #expect(artifacts.first?.kind == "db-backup")
        #expect(artifacts.first?.data["path"].stringValue == path)

        // Rolling back restores the dump taken before the change.
        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
        let check = try await LabRun(runbook: """
            runbook { name = "read" }
            step "read" { run = function(ctx)
              local c = db.connect("cinder")
              ctx.state.v = c:scalar("SELECT v FROM \(table) WHERE id = 1")
              c:exec("DROP TABLE \(table)")
            end }
            """)
        let read = try await check.run()
        #expect(try await check.state(read)["v"] == "before")
    }

    @Test func restoreRefusesWhileAConnectionHoldsTheDatabase() async throws {
        let r = try await LabRun(runbook: """
            runbook { name = "refuse" }
            \(settleSessionsLua(watch: "keystone"))
            step "try" { run = function(ctx)
              local dump = db.backup("nova")
              local holder = db.connect("nova")
              local database = holder:scalar("SELECT DATABASE()")
              -- The holder alone: mysqldump's connection may still be listed for a moment.
              settle_sessions(database, 1)
              local ok, err = pcall(db.restore, dump)
              ctx.state.refused = not ok
              ctx.state.error = err
              holder:close()
              settle_sessions(database, 0)
              db.restore(dump)
              ctx.state.restored = true
            end }
            """)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["refused"] == true)
        let error = s["error"].stringValue ?? ""
        #expect(error.contains("db nova: refusing to restore while 1 connection(s) use it: id "), "\(error)")
        #expect(error.contains("force = true"))
        #expect(s["restored"] == true)
    }

    /// `force = true` skips the refusal; the restore then runs with the bounded
    /// `lock_wait` (DatabaseBackups.restore): past idle connections it succeeds, and
    /// against a transaction holding a metadata lock it gives up within that bound,
    /// clearly, and leaves the database as it was.
    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func aForcedRestoreSucceedsPastIdleHoldersAndGivesUpWithinLockWaitOnALock() async throws {
        let database = "ferry_force_\(UInt32.random(in: 0..<UInt32.max))"
        let lab = try String(contentsOfFile: TestEnvironment.testenv + "/region.yaml", encoding: .utf8)
        guard let range = lab.range(of: "password: { file: "), let end = lab[range.upperBound...].firstIndex(of: " ") else {
            throw FerryError.failed("the lab region has no database password file: run scripts/testenv/up mariadb")
        }
        let passwordFile = String(lab[range.upperBound..<end])
        let r = try await LabRun(runbook: """
            runbook { name = "force" }
            step "force" { run = function(ctx)
              local admin = db.connect("keystone")
              admin:exec("CREATE DATABASE \(database)")
              local function tables()
                return admin:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(database)'")
              end
              local c = db.connect("scratch")
              c:exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
              c:exec("INSERT INTO t VALUES (1, 'backed-up')")
              local dump = db.backup("scratch")
              c:exec("UPDATE t SET v = 'changed' WHERE id = 1")
              c:exec("CREATE TABLE later (id INT)")

              -- 1. Another connection holds the database, idle: refused without force, done with it.
              local holder = db.connect("scratch")
              holder:scalar("SELECT COUNT(*) FROM t")
              local ok, err = pcall(db.restore, dump)
              ctx.state.unforced_refused = not ok
              ctx.state.unforced_error = tostring(err)
              ctx.state.v_after_refusal = c:scalar("SELECT v FROM t WHERE id = 1")
              local started = os.time()
              db.restore(dump, { force = true, lock_wait = "600s" })
              ctx.state.forced_seconds = os.time() - started
              ctx.state.v_after_forced = holder:scalar("SELECT v FROM t WHERE id = 1")
              ctx.state.tables_after_forced = tables()

              -- 2. A transaction that read the table holds its metadata lock: the forced
              --    restore waits at most lock_wait, fails clearly, and changes nothing.
              c:exec("UPDATE t SET v = 'changed-again' WHERE id = 1")
              c:exec("CREATE TABLE later2 (id INT)")
              holder:transaction(function(h)
                h:scalar("SELECT v FROM t WHERE id = 1")
                local t0 = os.time()
                local ok2, err2 = pcall(db.restore, dump, { force = true, lock_wait = "25s" })
                ctx.state.locked_seconds = os.time() - t0
                ctx.state.locked_failed = not ok2
                ctx.state.locked_error = tostring(err2)
              end)
              ctx.state.v_after_locked = c:scalar("SELECT v FROM t WHERE id = 1")
              ctx.state.tables_after_locked = tables()
              ctx.state.dump_path = dump.path
              holder:close()
              c:close()
              admin:exec("DROP DATABASE \(database)")
              admin:close()
            end }
            """, regionEdit: { lab in
                editSection(lab, "databases", "\n  glance: {",
                            "\n  scratch: { host: 127.0.0.1, port: 23306, user: ferry, password: { file: \(passwordFile) }, database: \(database) }\n  glance: {")
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["unforced_refused"] == true, "\(s["unforced_error"])")
        #expect(s["unforced_error"].stringValue?.contains("db scratch: refusing to restore while") == true, "\(s["unforced_error"])")
        #expect(s["v_after_refusal"] == "changed")
        // Forced past an idle holder: the data and the tables are those of the dump, at once
        // (well within its lock_wait of 600 s: it did not wait for the idle holders). A
        // genuine bound, kept wide (300 s) so that a loaded machine's slow mysql client
        // cannot reach it while a wait for the holders still would.
        #expect(s["v_after_forced"] == "backed-up", "\(s["v_after_forced"])")
        #expect(s["tables_after_forced"] == 1, "the table created after the backup is gone")
        #expect((s["forced_seconds"].intValue ?? 999) < 300, "\(s["forced_seconds"])")
        // Forced against a metadata lock: fails after lock_wait (25 s), not the 10 s default,
        // naming the database, the dump and MariaDB's lock wait timeout, and the database is
        // untouched. Told apart by a lower bound (at least 20 s: the default would give up
        // after 10), which a loaded machine cannot break; that it gives up at all the hang
        // guard checks.
        let path = try #require(s["dump_path"].stringValue)
        #expect(s["locked_failed"] == true)
        let error = s["locked_error"].stringValue ?? ""
        #expect(error.contains("db scratch: restore of \(path) failed on this machine:"), "\(error)")
        #expect(error.contains("Lock wait timeout exceeded"), "\(error)")
        let seconds = s["locked_seconds"].intValue ?? -1
        #expect(seconds >= 20, "gave up after \(seconds)s")
        #expect(s["v_after_locked"] == "changed-again")
        #expect(s["tables_after_locked"] == 2)
    }

    @Test func aPlantedSecretNeverReachesTheJournalOrLogs() async throws {
        let secret = "planted-\(UUID().uuidString)"
        let r = try await LabRun(runbook: """
            runbook { name = "secret" }
            step "use" { run = function(ctx)
              local ok, err = pcall(db.connect, "glance")
              ctx.state.failed = not ok
              log.info("connect said: " .. tostring(err))
              local dump_ok = pcall(db.backup, "glance")
              ctx.state.backup_failed = not dump_ok
            end }
            """, regionEdit: { replacePassword($0, entry: "glance", with: "{ env: FERRY_PLANTED_SECRET }") })
        setenv("FERRY_PLANTED_SECRET", secret, 1)
        defer { unsetenv("FERRY_PLANTED_SECRET") }
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded)
        #expect(try await r.state(outcome)["failed"] == true)
        try await r.engine.journal.flush()
        // Grep every file Ferry wrote: the journal (and its WAL) and the run's output.
        let found = try shellOutput("grep -rl -- '\(secret)' \(r.directory) || true")
        #expect(found.isEmpty, "the secret leaked into: \(found)")
    }
}

@Suite(.serialized) struct DatabaseBackupViaHostTests {
    @Test func backupRunsOnTheBackupViaHostAndStreamsBack() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let r = try await LabRun(runbook: """
            runbook { name = "via" }
            step "dump" { run = function(ctx)
              ctx.state.dump = db.backup("keystone", { via = "\(host)" })
              ctx.state.ok = db.verify(ctx.state.dump)
            end }
            """, transport: "nio")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["ok"] == true)
        #expect(s["dump"]["source"] == .string("mysqldump on \(host)"))
        let text = try String(contentsOfFile: s["dump"]["path"].stringValue ?? "", encoding: .utf8)
        #expect(text.contains("CREATE DATABASE"))
        #expect(text.contains("-- Dump completed"))
        await r.engine.transport.shutdown()
    }

    @Test func restoreRunsOnTheBackupViaHost() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let lab = try String(contentsOfFile: TestEnvironment.testenv + "/region.yaml", encoding: .utf8)
        guard let range = lab.range(of: "password: { file: "), let end = lab[range.upperBound...].firstIndex(of: " ") else {
            throw FerryError.failed("the lab region has no database password file: run scripts/testenv/up hosts mariadb")
        }
        let passwordFile = String(lab[range.upperBound..<end])
        let name = "ferry_via_\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await LabRun(runbook: """
            runbook { name = "restore-via" }
            \(settleSessionsLua(watch: "glance"))
            step "round-trip" { run = function(ctx)
              local admin = db.connect("glance")
              admin:exec("CREATE DATABASE \(name)")
              admin:close()
              local c = db.connect("scratch")
              c:exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(16))")
              c:exec("INSERT INTO t VALUES (1, 'before')")
              c:close()
              local dump = db.backup("scratch")
              c = db.connect("scratch")
              c:exec("UPDATE t SET v = 'after' WHERE id = 1")
              c:exec("CREATE TABLE later (id INT)")
              c:close()
              settle_sessions("\(name)", 0)
              db.restore(dump)
              c = db.connect("scratch")
              ctx.state.v = c:scalar("SELECT v FROM t WHERE id = 1")
              ctx.state.later = c:scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'later'", "\(name)")
              c:exec("DROP DATABASE \(name)")
              c:close()
            end }
            """, transport: "nio", regionEdit: { lab in
                editSection(lab, "databases", "\n  glance: {", "\n  scratch: { host: 127.0.0.1, port: 23306, user: ferry, password: { file: \(passwordFile) }, database: \(name), backup_via: \(host) }\n  glance: {")
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["v"] == "before")
        #expect(s["later"] == 0)
        let logs = try await r.engine.journal.events(outcome.runID).filter { $0.kind == "log" }.map(\.message)
        #expect(logs.contains { $0.hasPrefix("restored scratch") && $0.contains("on \(host)") }, "\(logs)")
        await r.engine.transport.shutdown()
    }
}

@Suite(.serialized) struct DatabaseThroughSSHTests {
    @Test func aDatabaseReachedThroughAnSSHHost() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let r = try await LabRun(runbook: """
            runbook { name = "tunnel" }
            step "query" { run = function(ctx)
              local c = db.connect("glance")
              ctx.state.one = c:scalar("SELECT 1 + 1")
              ctx.state.db = c:scalar("SELECT DATABASE()")
            end }
            """, transport: "nio", regionEdit: { editSection($0, "databases", "\n  glance: {", "\n  glance: { via: \(host),") })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["one"] == 2)
        #expect(s["db"] == "glance")
        await r.engine.transport.shutdown()

        // The path really goes through SSH: a host that refuses us fails the connect.
        let dir = try TestEnvironment.directory()
        _ = try shellOutput("ssh-keygen -q -t ed25519 -N '' -f \(dir)/stranger")
        let bad = try await LabRun(runbook: """
            runbook { name = "tunnel-refused" }
            step "query" { run = function(ctx) db.connect("glance") end }
            """, transport: "nio", regionEdit: { lab in
                editSection(lab, "databases", "\n  glance: {", "\n  glance: { via: \(host),")
                    .replacingOccurrences(of: "identity: \(TestEnvironment.ssh)/id_ed25519", with: "identity: \(dir)/stranger")
            })
        let failed = try await bad.run()
        #expect(failed.message?.contains("cannot reach 127.0.0.1:23306 through \(host)") == true, "\(failed.message ?? "")")
        #expect(failed.message?.contains("rejected") == true)
        await bad.engine.transport.shutdown()
    }
}
