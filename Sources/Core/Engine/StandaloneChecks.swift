import Foundation
import LuaBridge

extension Engine {
    public struct CheckResult: Sendable {
        public var name: String
        public var passed: Bool
        public var message: String?
        public var duration: Double
    }

    /// Runs health checks on their own (`ferry check`), all of them or those named.
    /// - Parameter runID: journal the results under this run (a drill's repetition); nil: a throwaway id.
    public func runChecks(_ names: [String], runID given: String? = nil) async throws -> [CheckResult] {
        for n in names where runbook.checks[n] == nil {
            throw FerryError.usage("no check named '\(n)' (checks: \(runbook.checkOrder.joined(separator: ", ")))")
        }
        let runID = given ?? "check-" + RunJournal.newRunID()
        return try await withRunEnvironment(runID: runID, dryRun: false) { try await checks(names, runID: runID) }
    }

    func checks(_ names: [String], runID: String) async throws -> [CheckResult] {
        let ctx = try await makeContext(runID: runID, dryRun: false, state: .map([:]))
        let runner = CheckRunner(engine: self, runID: runID, ctx: ctx)
        var results: [CheckResult] = []
        for name in names.isEmpty ? runbook.checkOrder : names {
            let outcome = try await runner.run(runbook.checks[name]!, phase: "standalone", step: nil)
            results.append(CheckResult(name: name, passed: outcome.passed, message: outcome.message, duration: outcome.duration))
        }
        await vm.release(ctx)
        return results
    }
}
