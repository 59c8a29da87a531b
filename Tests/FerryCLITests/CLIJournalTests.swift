import FerryCore
import FerryTestSupport
import Foundation
import GRDB
import LuaBridge
import Testing

/// A workspace whose journal `j.db` holds one finished run.
private func journalWithOneRun() async throws -> String {
    let dir = try workspace(runbook: """
        runbook { name = "one" }
        step "hosts" { on = "computes", run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/ran") end }
        """, hosts: 2)
    let run = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
    #expect(run.code == 0, "\(run.stderr)")
    return dir
}

/// Changes the journal as another tool (or another Ferry) would; the connection is closed on return.
private func alter(_ path: String, _ sql: String) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { try $0.execute(sql: sql) }
}

private func scalar(_ path: String, _ sql: String) throws -> Int {
    try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: sql) ?? -1 }
}

@Suite struct CLIJournalTests {
    /// A journal from a newer Ferry is refused, by writers and readers, and left as it was.
    @Test func journalFromANewerFerryIsRefusedAndLeftAlone() async throws {
        let dir = try await journalWithOneRun()
        let journal = dir + "/j.db"
        try alter(journal, "PRAGMA user_version = 99")
        let expected = "journal j.db has schema version 99, newer than this Ferry knows (4)"
        for args in [["run", "runbook.lua", "-r", "region.yaml"], ["status"], ["status", "last"], ["report", "last"], ["resume", "last"]] {
            let r = try await FerryProcess.run(args + ["--journal", "j.db"], in: dir)
            #expect(r.code == 1, "\(args): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains(expected), "\(args): \(r.stderr)")
        }
        #expect(try scalar(journal, "SELECT count(*) FROM runs") == 1, "a run was written to a newer journal")
        #expect(try scalar(journal, "PRAGMA user_version") == 99)
        #expect(try String(contentsOfFile: dir + "/out/ran", encoding: .utf8).split(separator: "\n").count == 2)
    }

    /// A column missing from a table: a clear refusal naming the file, the table and the
    /// column, not a crash in the middle of reading a row.
    @Test func journalMissingAColumnIsRefusedNotCrashedOn() async throws {
        let dir = try await journalWithOneRun()
        try alter(dir + "/j.db", "ALTER TABLE runs DROP COLUMN kind")
        for args in [["status"], ["status", "last", "--json"], ["report", "last"], ["resume", "last"], ["rollback", "last", "--yes"]] {
            let r = try await FerryProcess.run(args + ["--journal", "j.db"], in: dir)
            #expect(r.code == 1, "\(args): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("journal j.db is damaged: table runs has no column kind, which schema version 4 has (this Ferry's is 4)"),
                    "\(args): \(r.stderr)")
        }
        // Not a Ferry journal at all: refused before anything is written to it.
        try alter(dir + "/other.db", "CREATE TABLE notes (text TEXT)")
        let other = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "other.db"], in: dir)
        #expect(other.code == 1)
        #expect(other.stderr.contains("journal other.db is not a Ferry journal"), "\(other.stderr)")
        #expect(try scalar(dir + "/other.db", "SELECT count(*) FROM sqlite_master WHERE name = 'runs'") == 0)
    }

    /// A journal nobody here may write (a 0444 file in a 0555 directory): status and report
    /// read it; run and resume say plainly why they cannot write it.
    @Test func readOnlyJournalIsReadByStatusAndReport() async throws {
        let dir = try await journalWithOneRun()
        let runID = try await DatabaseQueue(path: dir + "/j.db").read { try String.fetchOne($0, sql: "SELECT id FROM runs") } ?? "?"
        // Root may write anything: the commands run as an unprivileged user then.
        func asUser(_ args: [String]) async throws -> (code: Int32?, stdout: String, stderr: String) {
            let out = getuid() == 0
                ? try await ChildProcess.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", FerryProcess.binary] + args, in: dir)
                : try await ChildProcess.run(FerryProcess.binary, args, in: dir)
            return (out.code, out.stdout, out.stderr)
        }
        chmod(dir + "/j.db", 0o444)
        chmod(dir, 0o555)
        defer {
            chmod(dir, 0o755)
            chmod(dir + "/j.db", 0o644)
        }
        let list = try await asUser(["status", "--journal", "j.db"])
        #expect(list.code == 0, "\(list.stderr)")
        #expect(list.stdout.contains(runID) && list.stdout.contains("succeeded"), "\(list.stdout)")
        let one = try await asUser(["status", "last", "--json", "--journal", "j.db"])
        #expect(one.code == 0, "\(one.stderr)")
        #expect(try LuaValue.fromJSON(one.stdout)["status"] == "succeeded", "\(one.stdout)")
        let report = try await asUser(["report", "last", "--journal", "j.db"])
        #expect(report.code == 0, "\(report.stderr)")
        #expect(report.stdout.contains("Run \(runID): one on region cli"), "\(report.stdout)")

        let resume = try await asUser(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"])
        #expect(resume.code == 1)
        #expect(resume.stderr.contains("journal j.db cannot be written: the file is read-only for this user (mode 0444)"), "\(resume.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/j.db-wal"), "nothing was written beside the journal")
    }
}
