import FerryCore
import Foundation
import Testing

@Suite struct CLIReportTests {
    @Test func reportWritesHTMLPrintsJSONAndSummarises() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "cli-report" }
            step "first-step" { run = function(ctx) end, undo = function(ctx) end }
            step "wave-step" {
              on = "computes", batch = 4,
              run = function(h, ctx) end, undo = function(h, ctx) end,
            }
            """)
        let run = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--yes", "--journal", "j.db"], in: dir)
        #expect(run.code == 0, "\(run.stderr)")
        let back = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(back.code == 0, "\(back.stderr)")

        let html = try await FerryProcess.run(["report", "last", "--html", "report.html", "--journal", "j.db"], in: dir)
        #expect(html.code == 0, "\(html.stderr)")
        let page = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(page.contains("first-step") && page.contains("wave-step") && page.contains("<svg"))
        #expect(!page.contains("http://") && !page.contains("https://") && !page.contains("src="))

        let json = try await FerryProcess.run(["report", "last", "--json", "--journal", "j.db"], in: dir)
        #expect(json.code == 0, "\(json.stderr)")
        let report = try Report.decode(Data(json.stdout.utf8))
        #expect(report.runs.first?.steps.count == 4)
        #expect(report.runs.first?.status == "rolled_back")

        let text = try await FerryProcess.run(["report", "last", "--journal", "j.db"], in: dir)
        #expect(text.code == 0)
        #expect(text.stdout.contains("wave-step") && text.stdout.contains("undo first-step"), "\(text.stdout)")
        #expect(text.stdout.contains("in 3 waves"), "\(text.stdout)")

        let missing = try await FerryProcess.run(["report", "nope", "--journal", "j.db"], in: dir)
        #expect(missing.code == 2)
        let noDrill = try await FerryProcess.run(["report", "drill-nope", "--journal", "j.db"], in: dir)
        #expect(noDrill.code == 2)
        #expect(noDrill.stderr.contains("no run of drill"))
    }

    /// `ferry report --json` and the summary say who approved what: here `--yes`, for the
    /// step's question and the rollback's.
    @Test func reportNamesTheApprovalsAndTheRunbookDigest() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "cli-approvals" }
            step "switch" { desc = "Point the VIP at the new servers", confirm = "Switch now?",
                            run = function(ctx) end, undo = function(ctx) end }
            """)
        let run = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--yes", "--journal", "j.db"], in: dir)
        #expect(run.code == 0, "\(run.stderr)")
        let back = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(back.code == 0, "\(back.stderr)")

        let json = try await FerryProcess.run(["report", "last", "--json", "--journal", "j.db"], in: dir)
        #expect(json.code == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let first = try #require((object["runs"] as? [[String: Any]])?.first)
        let approvals = try #require(first["approvals"] as? [[String: Any]])
        #expect(approvals.map { $0["by"] as? String } == ["--yes", "--yes"])
        #expect(approvals.map { $0["rollback"] as? Bool } == [false, true])
        #expect(approvals.first?["question"] as? String == "Switch now?")
        let digest = try #require(first["runbookDigest"] as? String)
        #expect(digest.count == 64)
        let steps = try #require(first["steps"] as? [[String: Any]])
        #expect(steps.first?["desc"] as? String == "Point the VIP at the new servers")

        let text = try await FerryProcess.run(["report", "last", "--journal", "j.db"], in: dir)
        #expect(text.stdout.contains("approved step switch by --yes"), "\(text.stdout)")
        #expect(text.stdout.contains("approved the rollback by --yes"), "\(text.stdout)")
        #expect(text.stdout.contains("sha256:\(digest)"), "\(text.stdout)")
    }
}
