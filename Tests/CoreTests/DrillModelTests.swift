import FerryCore
import Foundation
import Synchronization
import Testing

/// The drill's seam for a region's model (`DrillModel`): Core compares whatever model it is
/// handed, before and after each repetition, and knows nothing of the simulation behind it.
@Suite struct DrillModelTests {
    /// A model that is a directory's files and their contents.
    final class DirectoryModel: DrillModel {
        let path: String
        let saves = Mutex(0)
        init(path: String) { self.path = path }

        func capture() -> [String: String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return Dictionary(uniqueKeysWithValues: names.map { ($0, (try? String(contentsOfFile: path + "/" + $0, encoding: .utf8)) ?? "") })
        }

        func differences(from before: [String: String]) -> [String] {
            let now = capture()
            return Set(before.keys).union(now.keys).sorted().filter { before[$0] != now[$0] }.map { "file \($0) \(now[$0] == nil ? "removed" : before[$0] == nil ? "created" : "changed")" }
        }

        func save() throws { saves.withLock { $0 += 1 } }
    }

    static func drill(undo: String, times: Int) async throws -> (Drill.Outcome, DirectoryModel) {
        let f = try Fixture(runbook: """
            runbook { name = "model" }
            step "write" {
              run = function(ctx) inventory.host("ctl1"):run("echo upgraded > " .. ctx.vars.out .. "/marker") end,
              undo = function(ctx) \(undo) end,
            }
            """)
        let model = DirectoryModel(path: f.out)
        let outcome = try await Drill(engine: try await f.engine(), model: model, times: times).run()
        return (outcome, model)
    }

    @Test func aModelPutBackPassesEveryRepetitionAndIsSavedAfterEach() async throws {
        let (outcome, model) = try await Self.drill(undo: #"inventory.host("ctl1"):run("rm -f " .. ctx.vars.out .. "/marker")"#, times: 2)
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "")")
        #expect(outcome.repetitions.count == 2)
        #expect(outcome.repetitions.allSatisfy { $0.differences.isEmpty })
        #expect(model.saves.withLock { $0 } == 2)
    }

    @Test func aModelLeftChangedStopsTheDrillWithTheModelsOwnWords() async throws {
        let (outcome, _) = try await Self.drill(undo: "log.info('forgot to remove the marker')", times: 3)
        #expect(!outcome.succeeded)
        #expect(outcome.repetitions.count == 1)
        #expect(outcome.repetitions.first?.differences == ["file marker created"])
        #expect(outcome.stoppedBecause == "repetition 1 left the region different from where it began:\n  file marker created")
    }
}
