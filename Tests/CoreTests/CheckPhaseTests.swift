import FerryCore
import Foundation
import Testing

/// Issue 15, "Checks with a phase": `check { phase = "before" | "after" | "always" }`; the
/// drill runs what fits after the upgrade (after, always) and after the rollback (before,
/// always), and its summary names every failing check.
@Suite struct CheckPhaseTests {
    /// A marker the upgrade writes and the rollback removes; checks that each hold on one side.
    static let runbook = """
        runbook { name = "phases" }
        local function marked()
          return inventory.host("cmp0001"):run("test -e /etc/marker", { check = false }).code == 0
        end
        check "old-running" { phase = "before", probe = function(ctx) return not marked(), "the marker is there" end }
        check "new-running" { phase = "after", probe = function(ctx) return marked(), "no marker" end }
        check "region-answers" { probe = function(ctx) return true end }
        step "mark" { on = "cmp0001",
          run = function(host, ctx) host:run("echo x > /etc/marker") end,
          undo = function(host, ctx) host:run("rm -f /etc/marker") end }
        """

    @Test func theDrillRunsTheChecksThatFitEachSide() async throws {
        let s = try await SimulationTests.make(runbook: Self.runbook, simulate: "seed: 2", computes: 3)
        #expect(s.engine.runbook.checks["old-running"]?.phase == .before)
        #expect(s.engine.runbook.checks["region-answers"]?.phase == .always)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 2).run()
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "") \(outcome.failedChecksAfterUpgrade.map(\.check.name))")
        for r in outcome.repetitions {
            #expect(r.checksAfterRun.map(\.name) == ["new-running", "region-answers"])
            #expect(r.checksAfterRollback.map(\.name) == ["old-running", "region-answers"])
            #expect((r.checksAfterRun + r.checksAfterRollback).allSatisfy { $0.passed })
        }
    }

    @Test func theDrillSummaryNamesEveryFailingCheck() async throws {
        // Two checks claim the upgraded region lacks the marker: both fail after the upgrade.
        let runbook = Self.runbook
            .replacingOccurrences(of: "phase = \"before\", probe", with: "phase = \"after\", probe")
            + "\ncheck \"also-unmarked\" { phase = \"after\", probe = function(ctx) return not marked(), \"marked too\" end }\n"
        let s = try await SimulationTests.make(runbook: runbook, simulate: "seed: 2", computes: 3)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 1).run(id: "drill-phase-summary")
        #expect(!outcome.succeeded)
        #expect(outcome.failedChecksAfterUpgrade.map(\.check.name) == ["old-running", "also-unmarked"])
        let report = try await Report.load("drill-phase-summary", from: s.engine.journal)
        let failed = try #require(report.drill?.repetitions.first?.failedChecks)
        #expect(failed == [
            "check old-running failed after the upgrade: the marker is there",
            "check also-unmarked failed after the upgrade: marked too",
        ])
    }

    @Test func checksFailingAfterTheRollbackAreAllNamedWhenTheDrillStops() async throws {
        // Declared "always", two checks that hold only on the upgraded side fail after the
        // rollback: the drill stops naming both.
        let runbook = Self.runbook.replacingOccurrences(of: "phase = \"after\", ", with: "")
            + "\ncheck \"marked-too\" { probe = function(ctx) return marked(), \"still no marker\" end }\n"
        let s = try await SimulationTests.make(runbook: runbook, simulate: "seed: 2", computes: 3)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 2).run()
        let why = try #require(outcome.stoppedBecause)
        #expect(why.hasPrefix("repetition 1: 2 check(s) fail after the rollback:"), "\(why)")
        #expect(why.contains("new-running: no marker") && why.contains("marked-too: still no marker"), "\(why)")
        #expect(outcome.failedChecksAfterRollback.map(\.check.name) == ["new-running", "marked-too"])
    }

    @Test func ferryCheckPicksTheChecksOfAMoment() async throws {
        let s = try await SimulationTests.make(runbook: Self.runbook, simulate: "seed: 2", computes: 3)
        let before = try await s.engine.runChecks([], moment: .before).map(\.name)
        let after = try await s.engine.runChecks([], moment: .after).map(\.name)
        let all = try await s.engine.runChecks([]).map(\.name)
        // Named, a check runs whatever its phase.
        let named = try await s.engine.runChecks(["new-running"], moment: .before).map(\.name)
        #expect(before == ["old-running", "region-answers"])
        #expect(after == ["new-running", "region-answers"])
        #expect(all == ["old-running", "new-running", "region-answers"])
        #expect(named == ["new-running"])
    }

    @Test func aPhaseThatIsNoneOfTheThreeIsAValidationError() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "bad-phase" }
            check "c" { phase = "befor", probe = function(ctx) return true end }
            step "a" { run = function(ctx) end }
            """)
        do {
            _ = try await f.load()
            Issue.record("loaded")
        } catch let e as ValidationErrors {
            #expect(e.problems.first?.hasSuffix(
                "runbook.lua:2: check \"c\": phase must be \"before\", \"after\" or \"always\", got \"befor\" (did you mean 'before'?)") == true,
                "\(e.problems)")
        }
    }

    /// A drill's runs carry its inputs (`ferry drill -e`): its steps and the checks it runs see them.
    @Test func aDrillsRunsAndChecksSeeItsInputs() async throws {
        let s = try await SimulationTests.make(runbook: """
            runbook { name = "drill-inputs" }
            check "flag-seen" { probe = function(ctx) return ctx.vars.flag == "on", "flag is " .. tostring(ctx.vars.flag) end }
            step "use" { run = function(ctx) ctx.state.flag = ctx.vars.flag end, undo = function(ctx) end }
            """, simulate: "seed: 2", computes: 2)
        var drill = Drill(engine: s.engine, model: s.sim, times: 1)
        drill.options.vars = ["flag": "on"]
        let outcome = try await drill.run()
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "") \(outcome.failedChecksAfterUpgrade.map { $0.check.message ?? "" })")
        let run = try await s.engine.journal.run(try #require(outcome.repetitions.first?.runID))
        #expect(run.options.vars == ["flag": "on"])
        #expect((outcome.repetitions.first?.checksAfterRun.map(\.passed) ?? []) == [true])
    }
}
