import FerryCore
import FerrySimulation
import Foundation
import Testing

/// A drill whose upgrade fails says why (issue 12): the failing step, its first distinct
/// messages in full with their host counts, then what the rollback made of it.
@Suite struct DrillFailureSummaryTests {
    static let overloading = """
        runbook { name = "agents" }
        step "restart-agents" {
          on = "computes", batch = 500, parallel = 1000, max_fail = "1%",
          run = function(host) host:run("systemctl restart neutron-openvswitch-agent") end,
          undo = function(host) host:run("true") end,
        }
        """

    @Test func aDrillWhoseUpgradeFailedOfOverloadNamesTheStepAndItsMessagesWithHostCounts() async throws {
        let s = try await SimulationTests.make(runbook: Self.overloading, simulate: "seed: 3", computes: 2000)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 1).run(id: "drill-test-overload")
        #expect(outcome.failedUpgrades == [1])
        let report = try await Report.load("drill-test-overload", from: s.engine.journal)
        let drill = try #require(report.drill)
        let rep = try #require(drill.repetitions.first)
        // Every failed host is counted under its message; the messages are whole (not truncated).
        let failed = try await s.engine.journal.hosts(rep.runID, step: 0, phase: .run).filter { $0.status == .failed }
        let first = try #require(rep.upgradeFailure.first)
        // Grouped as the report groups them: the host's own name taken out of its message.
        let expected = Dictionary(grouping: failed, by: { ($0.message ?? "").replacingOccurrences(of: "\($0.host): ", with: "") }).mapValues(\.count)
        #expect(first.hasPrefix("restart-agents: "), "\(first)")
        let counted = rep.upgradeFailure.compactMap { line -> Int? in
            guard let m = line.range(of: #"^restart-agents: (\d+) hosts? failed: "#, options: .regularExpression) else { return nil }
            let message = String(line[m.upperBound...])
            #expect(message.contains("Neutron database overloaded: Threads_running"), "\(line)")
            #expect(expected[message] != nil, "a message no host gave, or cut short: \(message)")
            let n = Int(line[m].split(separator: " ")[1])!
            #expect(n == expected[message], "\(line)")
            return n
        }
        #expect(!counted.isEmpty && counted.count <= StepTimeline.failureLimit)
        // With the rest, every failed host is accounted for.
        let rest = rep.upgradeFailure.last.flatMap { line -> Int? in
            guard let m = line.range(of: #"^restart-agents: \d+ more host"#, options: .regularExpression) else { return nil }
            return Int(line[m].split(separator: " ")[1])
        } ?? 0
        #expect(counted.reduce(0, +) + rest == failed.count, "\(rep.upgradeFailure)")
        #expect(failed.count > 20)
        // Then the rollback's outcome.
        #expect(rep.rollbackOutcome.first?.hasPrefix("rolled back in ") == true, "\(rep.rollbackOutcome)")
        // The drill's page shows the same.
        let html = HTMLReport.render(report)
        #expect(html.contains("Why the upgrade failed"))
        #expect(html.contains("restart-agents: \(counted.first ?? 0) host"))
    }
}
