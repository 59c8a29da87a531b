import Foundation
import LuaBridge

extension Engine {
    public struct CheckResult: Sendable {
        public var name: String
        public var passed: Bool
        public var message: String?
        public var duration: Double
    }

    /// Runs health checks on their own (`ferry check`), those named, else every one whose
    /// phase fits `moment` (``CheckPhase/fits(_:)``; `.always`: all of them).
    /// - Parameter runID: journal the results under this run (a drill's repetition); nil: a throwaway id.
    /// - Parameter label: the phase the journal records them under (a drill's `after-upgrade`).
    /// - Parameter inputs: `ctx.vars` over the region's (`ferry check -e`); for a journaled run, its own.
    public func runChecks(_ names: [String], runID given: String? = nil, moment: CheckPhase = .always,
                          label: String = "standalone", inputs: [String: LuaValue]? = nil) async throws -> [CheckResult]
    {
        for n in names where runbook.checks[n] == nil {
            throw FerryError.usage("no check named '\(n)' (checks: \(runbook.checkOrder.joined(separator: ", ")))")
        }
        let runID = given ?? "check-" + RunJournal.newRunID()
        let chosen = names.isEmpty ? runbook.checkOrder.filter { runbook.checks[$0]!.phase.fits(moment) } : names
        if chosen.isEmpty { return [] }
        // A drill's checks run under its repetition's run: they see that run's inputs.
        let journaled = given == nil ? nil : try? await journal.run(runID).options.vars
        let vars = inputs ?? journaled
        return try await withRunEnvironment(runID: runID, dryRun: false) {
            try await checks(chosen, runID: runID, label: label, inputs: vars)
        }
    }

    func checks(_ names: [String], runID: String, label: String, inputs: [String: LuaValue]?) async throws -> [CheckResult] {
        let ctx = try await makeContext(runID: runID, dryRun: false, state: .map([:]), inputs: inputs)
        let runner = CheckRunner(engine: self, runID: runID, ctx: ctx)
        var results: [CheckResult] = []
        for name in names {
            let outcome = try await runner.run(runbook.checks[name]!, phase: label, step: nil)
            results.append(CheckResult(name: name, passed: outcome.passed, message: outcome.message, duration: outcome.duration))
        }
        await vm.release(ctx)
        return results
    }
}
