import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// A step's timeout stops Lua that never yields (no instruction budget to save it): the
/// cancelled coroutine is stopped from the count hook, even when it catches errors.
@Suite(.serialized) struct BusyLoopTimeoutTests {
    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes)), arguments: [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
    ])
    func aStepTimeoutStopsABusyLoop(body: String) async throws {
        let f = try Fixture(runbook: """
            runbook { name = "busy" }
            step "spin" { timeout = "1s", run = function(ctx) \(body) end }
            step "after" { run = function(ctx) ctx.state.after = true end }
            """)
        let engine = Engine(runbook: try await RunbookLoader.load(path: f.runbookPath, instructionBudget: 0), region: try f.region(),
                            transport: LocalTransport(), journal: try f.journal())
        // Alone among the busy loops of all suites (InterruptAndMemoryTests'): see BusyLua.
        let outcome = try await BusyLua.alone { try await engine.run(RunOptions()) }
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("step spin did not finish within 1") == true, "\(outcome.message ?? "")")
        #expect(try await engine.journal.run(outcome.runID).state["after"] == .nil)
    }
}
