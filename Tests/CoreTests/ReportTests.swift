import FerryCore
import Foundation
import LuaBridge
import Testing

@Suite struct ReportTests {
    static let runbook = """
        runbook { name = "report-test" }
        check "always-ok" { probe = function(ctx) return true end }
        step "prepare-workdir" {
          run = function(ctx) ctx.state.prepared = true end,
          undo = function(ctx) ctx.state.prepared = nil end,
        }
        step "upgrade-computes" {
          on = "computes", batch = 3, parallel = 3, max_fail = 1, gate = "always-ok",
          run = function(host, ctx)
            if host.name == "cmp005" then fail("agent broken on " .. host.name) end
          end,
          undo = function(host, ctx) end,
        }
        step "record-finish" { run = function(ctx) end, undo = function(ctx) end }
        """
    static let stepNames = ["prepare-workdir", "upgrade-computes", "record-finish"]

    @Test func runReportHasEveryStepInBothPhasesWithSaneTimes() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded)
        let rolled = try await engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack)
        try await engine.journal.flush()

        let report = try await Report.load("last", from: engine.journal)
        #expect(report.kind == .run)
        let run = try #require(report.runs.first)
        #expect(run.id == outcome.runID)
        #expect(run.status == "rolled_back")
        #expect(run.runbook == "report-test")
        #expect(!run.simulatedTime)
        for name in Self.stepNames {
            for phase in ["run", "undo"] {
                #expect(run.steps.contains { $0.name == name && $0.phase == phase && $0.status == "done" }, "\(name) \(phase)")
            }
        }
        for step in run.steps {
            #expect(step.start >= 0 && step.end >= step.start && step.end <= run.duration + 0.001, "\(step.name)")
            #expect(abs(step.duration - (step.end - step.start)) < 0.002)
        }
        // The upgrade in runbook order, then the rollback newest first.
        #expect(run.steps("run").map(\.name) == Self.stepNames)
        #expect(run.steps("undo").map(\.name) == Self.stepNames.reversed())
        let upgrade = try #require(run.upgrade)
        let rollback = try #require(run.rollback)
        #expect(upgrade.end <= rollback.start + 0.001)
        #expect(upgrade.steps == 3 && rollback.steps == 3)
        #expect(upgrade.failedHosts == 1)

        let computes = try #require(run.steps.first { $0.name == "upgrade-computes" && $0.phase == "run" })
        #expect(computes.hostsTotal == 10 && computes.hostsOK == 9 && computes.hostsFailed == 1)
        #expect(computes.waves.map(\.number) == [1, 2, 3, 4])
        #expect(computes.waves.map(\.hosts) == [3, 3, 3, 1])
        #expect(computes.waves.map(\.failed).reduce(0, +) == 1)
        for wave in computes.waves {
            #expect(wave.start >= computes.start - 0.001 && wave.end <= computes.end + 0.001)
        }
        #expect(computes.failedHosts.map(\.host) == ["cmp005"])
        #expect(computes.failedHosts.first?.message?.contains("agent broken on cmp005") == true)
        #expect(run.checks.contains { $0.name == "always-ok" && $0.phase == "gate" && $0.passed })
        #expect(run.events.contains { $0.kind == "decision" && $0.message.contains("rollback approved") })

        // The JSON gives the same data back.
        let decoded = try Report.decode(try report.jsonData())
        #expect(decoded.runs.first?.steps.count == run.steps.count)
        #expect(decoded.runs.first?.steps.map(\.name) == run.steps.map(\.name))
        let json = String(decoding: try report.jsonData(), as: UTF8.self)
        #expect(json.contains("\"phase\" : \"undo\""))
        #expect(json.contains("\"hostsFailed\" : 1"))
    }

    @Test func htmlReportOpensWithoutNetworkAndContainsEveryStep() async throws {
        let f = try Fixture(runbook: Self.runbook + """

            step "break-here" { run = function(ctx) fail("the database said no") end }
            """)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        _ = try await engine.rollback(outcome.runID, yes: true)
        try await engine.journal.flush()

        let report = try await Report.load(outcome.runID, from: engine.journal)
        let html = HTMLReport.render(report)
        let file = f.directory + "/report.html"
        try html.write(toFile: file, atomically: true, encoding: .utf8)
        let page = try String(contentsOfFile: file, encoding: .utf8)

        Self.expectSelfContained(page)
        for name in Self.stepNames + ["break-here"] { #expect(page.contains(name), "\(name)") }
        #expect(page.contains("<svg"))
        #expect(page.contains("Rollback"))
        #expect(page.contains(outcome.runID))
        // The failures are named, in red.
        #expect(page.contains("What failed"))
        #expect(page.contains("the database said no"))
        #expect(page.contains("cmp005"))
        #expect(page.contains("class=\"wave-failed\""))
    }

    @Test func drillReportComparesUpgradeAndRollbackOfEveryRepetition() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let engine = try await f.engine()
        let drill = "drill-test-" + UUID().uuidString.prefix(8).lowercased()
        for repetition in 1...3 {
            var options = RunOptions()
            options.drill = drill
            options.repetition = repetition
            let outcome = try await engine.run(options)
            #expect(outcome.status == .succeeded)
            _ = try await engine.rollback(outcome.runID, yes: true)
        }
        // A run outside the drill is left out.
        _ = try await engine.run(RunOptions())
        try await engine.journal.flush()

        #expect(try await engine.journal.runs(drill: drill).map(\.options.repetition) == [1, 2, 3])
        let report = try await Report.load(drill, from: engine.journal)
        #expect(report.kind == .drill)
        #expect(report.runs.count == 3)
        let summary = try #require(report.drill)
        #expect(summary.id == drill)
        #expect(summary.repetitions.map(\.number) == [1, 2, 3])
        for rep in summary.repetitions {
            #expect(rep.status == "rolled_back")
            #expect((rep.upgradeSeconds ?? -1) >= 0 && (rep.rollbackSeconds ?? -1) >= 0)
            #expect(rep.failedStep == nil)
        }
        for stats in [summary.upgrade, summary.rollback] {
            let s = try #require(stats)
            #expect(s.count == 3)
            #expect(s.min <= s.p50 && s.p50 <= s.p95 && s.p95 <= s.max && s.min <= s.mean && s.mean <= s.max)
        }
        #expect(summary.steps.map(\.name) == Self.stepNames)
        #expect(summary.steps.allSatisfy { $0.upgrade?.count == 3 && $0.rollback?.count == 3 })

        let page = HTMLReport.render(report)
        Self.expectSelfContained(page)
        #expect(page.contains(drill))
        #expect(page.contains("Upgrade and rollback, per repetition"))
        for name in Self.stepNames { #expect(page.contains(name)) }

        await #expect(throws: FerryError.self) { try await Report.load("drill-nothing-here", from: engine.journal) }
    }

    @Test func thousandsOfHostsDrawAsWavesNotOneBarPerHost() async throws {
        let f = try Fixture(
            runbook: """
                runbook { name = "wide" }
                for i = 1, 39 do step("step-" .. i) { run = function(ctx) end } end
                step "restart-agents" {
                  on = "computes", batch = 100, parallel = 100, max_fail = 1,
                  run = function(host, ctx) if host.name == "cmp1234" then fail("agent down") end end,
                }
                """,
            region: """
                region: wide
                inventory:
                  groups:
                    computes: "cmp[0001:2000]"
                ssh: { transport: local }
                """)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded)
        let journal = engine.journal
        let runID = outcome.runID
        let report = try await Report.load(runID, from: journal)
        let step = try #require(report.runs.first?.steps.first { $0.name == "restart-agents" })
        #expect(step.waves.count == 20)
        #expect(step.hostsFailed == 1)
        #expect(step.waves.map(\.hosts).allSatisfy { $0 == 100 })
        let page = HTMLReport.render(report)
        let rects = page.components(separatedBy: "<rect").count - 1
        #expect(rects < 400, "\(rects) rects")
        for index in 1...39 { #expect(page.contains(" step-\(index)<")) }
        Self.expectSelfContained(page)
    }

    @Test func percentilesAreNearestRank() throws {
        let s = try #require(DurationStatistics((1...20).map(Double.init)))
        #expect(s.p50 == 10 && s.p95 == 19 && s.max == 20 && s.min == 1 && s.mean == 10.5)
        let one = try #require(DurationStatistics([4]))
        #expect(one.p50 == 4 && one.p95 == 4)
        #expect(DurationStatistics([]) == nil)
    }

    /// Nothing on the page is fetched: no URL, no external script, style, image or font.
    static func expectSelfContained(_ page: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for needle in ["http://", "https://", "src=", "@import", "<script", "<link", "//cdn", "@font-face", "xlink:href"] {
            #expect(!page.lowercased().contains(needle), "the page contains \(needle)", sourceLocation: sourceLocation)
        }
        // url(...) only ever points inside the page.
        var rest = page[...]
        while let r = rest.range(of: "url(") {
            #expect(rest[r.upperBound...].hasPrefix("#"), "url() outside the page", sourceLocation: sourceLocation)
            rest = rest[r.upperBound...]
        }
        #expect(page.hasPrefix("<!DOCTYPE html>"), sourceLocation: sourceLocation)
        #expect(page.contains("</html>"), sourceLocation: sourceLocation)
    }
}
