@testable import FerryCore
import Foundation
import GRDB
import LuaBridge
import Testing

/// Issue 15, the report's header and decisions: which runbook ran (digest, git commit),
/// what each step is for (`desc`), and who approved what.
@Suite struct ReportHeaderTests {
    static let runbook = """
        runbook { name = "identity" }
        step "drain" { desc = "Move the instances off the old computes", run = function(ctx) end, undo = function(ctx) end }
        step "switch" { confirm = "Send traffic to the new servers?", run = function(ctx) end, undo = function(ctx) end }
        step "cleanup" { confirm = "Remove the old packages?", run = function(ctx) end }
        """

    @discardableResult
    static func git(_ arguments: [String], in directory: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory, "-c", "user.name=Test", "-c", "user.email=test@example.com",
                             "-c", "commit.gpgsign=false"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FerryError.failed("git \(arguments) failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static var hasGit: Bool { (try? git(["--version"], in: "/")) != nil }

    @Test(.enabled(if: hasGit)) func headerNamesDigestAndCommitAndStepsTheirDescription() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let rb = f.directory + "/rb"
        try Self.git(["init", "-q"], in: rb)
        try Self.git(["add", "."], in: rb)
        try Self.git(["commit", "-q", "-m", "runbook"], in: rb)
        let head = try Self.git(["rev-parse", "HEAD"], in: rb)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .waiting)
        try await engine.journal.flush()
        let expectedDigest = try await f.load().snapshot.digest

        let report = try await Report.load(outcome.runID, from: engine.journal)
        let object = try #require(try JSONSerialization.jsonObject(with: try report.jsonData()) as? [String: Any])
        let run = try #require((object["runs"] as? [[String: Any]])?.first)
        #expect(run["runbookDigest"] as? String == expectedDigest)
        #expect(run["runbookCommit"] as? String == head)
        let steps = try #require(run["steps"] as? [[String: Any]])
        #expect(steps.first { $0["name"] as? String == "drain" }?["desc"] as? String == "Move the instances off the old computes")

        let page = HTMLReport.render(report)
        let header = try #require(page.range(of: "</header>").map { String(page[..<$0.lowerBound]) })
        #expect(header.contains("sha256:\(expectedDigest)"))
        #expect(header.contains("<code class=\"commit\">\(head)</code>"))
        #expect(!header.contains("uncommitted"))
        #expect(page.contains("<div class=\"desc\">Move the instances off the old computes</div>"))

        // An edit not committed: the commit is marked dirty.
        try (Self.runbook + "\n-- edited\n").write(toFile: f.runbookPath, atomically: true, encoding: .utf8)
        let second = try await (try await f.engine()).run(RunOptions())
        let dirty = try #require(try await Report.load(second.runID, from: engine.journal).runs.first)
        #expect(dirty.runbookCommit == head + "-dirty")
        #expect(HTMLReport.render(Report(kind: .run, runs: [dirty])).contains("uncommitted changes"))
    }

    @Test func outsideACheckoutThereIsNoCommit() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let outcome = try await (try await f.engine()).run(RunOptions())
        let run = try #require(try await Report.load(outcome.runID, from: try f.journal()).runs.first)
        #expect(run.runbookCommit == nil)
        #expect(run.runbookDigest == (try await f.load().snapshot.digest))
        #expect(!HTMLReport.render(Report(kind: .run, runs: [run])).contains("Git commit"))
    }

    /// Answers every question, naming a different approver per step.
    struct Approvers: ApprovalProvider {
        func approve(step: String, question: String) async -> Bool? { true }
        func approver(for step: String) -> String { step == "switch" ? "--approve switch" : "alice at the terminal" }
    }

    @Test func approvalsSayWhoApprovedWhatAndWhen() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let engine = try await f.engine(approvals: Approvers())
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded)
        _ = try await engine.rollback(outcome.runID, yes: true)
        try await engine.journal.flush()

        let report = try await Report.load(outcome.runID, from: engine.journal)
        let object = try #require(try JSONSerialization.jsonObject(with: try report.jsonData()) as? [String: Any])
        let run = try #require((object["runs"] as? [[String: Any]])?.first)
        let approvals = try #require(run["approvals"] as? [[String: Any]])
        #expect(approvals.map { $0["via"] as? String } == ["--approve", "terminal", "--yes"])
        #expect(approvals.map { $0["stepName"] as? String } == ["switch", "cleanup", nil])
        #expect(approvals.map { $0["rollback"] as? Bool } == [false, false, true])
        #expect(approvals.map { $0["decision"] as? String } == ["approved", "approved", "approved"])
        #expect(approvals[0]["by"] as? String == "--approve switch")
        #expect(approvals[0]["question"] as? String == "Send traffic to the new servers?")
        #expect(approvals[1]["user"] as? String == "alice")
        // In the order given, each within the run, the step's before its step ran.
        let times = approvals.compactMap { $0["at"] as? Double }
        #expect(times.count == 3 && times == times.sorted() && times.allSatisfy { $0 >= 0 })
        let steps = try #require(run["steps"] as? [[String: Any]])
        let switchStart = try #require(steps.first { $0["name"] as? String == "switch" && $0["phase"] as? String == "run" }?["start"] as? Double)
        #expect(times[0] <= switchStart + 0.001)

        let page = HTMLReport.render(report)
        let section = try #require(page.range(of: "<h2>Approvals</h2>").map { String(page[$0.upperBound...]) })
        let table = String(section[..<(section.range(of: "</table>")?.lowerBound ?? section.endIndex)])
        let rows = table.components(separatedBy: "<tr data-via=").dropFirst()
        #expect(rows.count == 3)
        #expect(rows.map { String($0.prefix { $0 != ">" }) } == ["\"--approve\"", "\"terminal\"", "\"--yes\""])
        #expect(rows[rows.startIndex].contains("<code>--approve switch</code>"))
        #expect(rows[rows.startIndex + 1].contains("<strong>alice</strong> at the terminal"))
        #expect(rows[rows.startIndex + 2].contains("rollback"))
    }

    /// A version-3 journal (no commit or descriptions) reads as it is, read-only, and is
    /// migrated to version 4 by the first command that writes.
    @Test func versionThreeJournalReadsAndMigrates() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let outcome = try await (try await f.engine()).run(RunOptions())
        let path = f.directory + "/journal.db"
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: """
                ALTER TABLE runbook_versions DROP COLUMN git_commit;
                ALTER TABLE runbook_versions DROP COLUMN step_descriptions;
                PRAGMA user_version = 3;
                """)
        }
        try queue.close()
        let reader = try RunJournal(path: path, access: .readOnly)
        let old = try #require(try await Report.load(outcome.runID, from: reader).runs.first)
        #expect(old.runbookDigest != nil && old.runbookCommit == nil && old.steps.allSatisfy { $0.desc == nil })

        let writer = try RunJournal(path: path)
        #expect(try await DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == 4)
        let engine = Engine(runbook: try await f.load(), region: try f.region(), transport: LocalTransport(), journal: writer,
                            observer: NoObserver(), approvals: NobodyToAsk())
        let next = try await engine.run(RunOptions())
        let run = try #require(try await Report.load(next.runID, from: writer).runs.first)
        #expect(run.steps.first { $0.name == "drain" }?.desc == "Move the instances off the old computes")
    }
}
