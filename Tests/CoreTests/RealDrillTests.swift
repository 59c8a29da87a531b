import FerryCore
import Foundation
import LuaBridge
import Testing

/// A drill on a real region (no model): what it can read of the region (catalog, broker
/// policies, each VIP's state) before and after each repetition is compared. Here the
/// "balancer" is a file driven by the `command` VIP driver's real shell commands.
@Suite struct RealDrillTests {
    static func drill(undo: String) async throws -> (Drill.Outcome, String) {
        let dir = NSTemporaryDirectory() + "ferry-real-drill-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pool = dir + "/pool"
        try "pool-a\n".write(toFile: pool, atomically: true, encoding: .utf8)
        try """
            region: lb-lab
            inventory: { groups: { lb: [lb1] } }
            ssh: { transport: local }
            vips:
              api: { driver: command, get: "cat \(pool)", switch: "echo {targets} > \(pool)", restore: "echo {before} > \(pool)", maintenance: "true" }
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        try """
            runbook { name = "switch" }
            step "switch" {
              run = function(ctx) ctx.state.previous = vip.switch("api", { "pool-b" }) end,
              undo = function(ctx) \(undo) end,
            }
            """.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        let engine = Engine(runbook: try await RunbookLoader.load(path: dir + "/runbook.lua"),
                            region: try RegionLoader.load(path: dir + "/region.yaml"),
                            transport: LocalTransport(), journal: try RunJournal(path: dir + "/journal.db"))
        let outcome = try await Drill(engine: engine, model: nil, times: 2).run()
        return (outcome, try String(contentsOfFile: pool, encoding: .utf8))
    }

    @Test func aRollbackThatPutsTheVIPBackPassesTwice() async throws {
        let (outcome, pool) = try await Self.drill(undo: "vip.restore(ctx.state.previous)")
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "")")
        #expect(outcome.repetitions.count == 2)
        #expect(outcome.repetitions.allSatisfy { $0.differences.isEmpty })
        #expect(pool.trimmingCharacters(in: .whitespacesAndNewlines) == "pool-a")
    }

    @Test func aRollbackThatLeavesTheVIPSwitchedStopsTheDrillSayingHow() async throws {
        let (outcome, pool) = try await Self.drill(undo: "log.info('forgot to switch back')")
        #expect(!outcome.succeeded)
        #expect(outcome.repetitions.count == 1)
        #expect(pool == "pool-b\n")
        let why = outcome.stoppedBecause ?? ""
        #expect(why.contains("left the region different"), "\(why)")
        #expect(why.contains("vip api: output = pool-b") && why.contains("(new)"), "\(why)")
        #expect(why.contains("vip api: output = pool-a") && why.contains("(gone)"), "\(why)")
    }
}
