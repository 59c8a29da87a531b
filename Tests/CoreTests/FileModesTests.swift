import FerryCore
import Foundation
import Testing

/// What a run writes on this machine (the journal, command output) is its owner's
/// alone: files 0600, directories 0700, whatever the umask.
@Suite struct FileModesTests {
    static func mode(_ path: String) -> Int? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o777)
    }

    @Test func journalAndOutputAreOwnerOnlyAfterARun() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "modes" }
            step "talk" { on = "ctl1", run = function(host, ctx) host:run("echo secret; echo more >&2") end }
            """)
        let state = f.directory + "/state/nested"
        let journal = try RunJournal(path: state + "/journal.db")
        let engine = Engine(runbook: try await f.load(), region: try f.region(), transport: LocalTransport(), journal: journal)
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let run = state + "/runs/" + outcome.runID
        let step = run + "/000-talk"
        for dir in [f.directory + "/state", state, state + "/runs", run, step] {
            #expect(Self.mode(dir) == 0o700, "\(dir): \(String(Self.mode(dir) ?? -1, radix: 8))")
        }
        // The journal is open (WAL mode): its -wal and -shm files exist now.
        for file in [state + "/journal.db", state + "/journal.db-wal", state + "/journal.db-shm", step + "/ctl1.out", step + "/ctl1.err"] {
            #expect(Self.mode(file) == 0o600, "\(file): \(String(Self.mode(file) ?? -1, radix: 8))")
        }
        _ = journal
    }

    @Test func anExistingJournalIsMadeOwnerOnly() throws {
        let dir = NSTemporaryDirectory() + "ferry-modes-" + UUID().uuidString + "/.ferry"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        FileManager.default.createFile(atPath: dir + "/journal.db", contents: nil, attributes: [.posixPermissions: 0o644])
        _ = try RunJournal(path: dir + "/journal.db")
        #expect(Self.mode(dir + "/journal.db") == 0o600)
        #expect(Self.mode(dir) == 0o700)
    }
}
