@testable import FerryCore
import FerryTestSupport
import Foundation
import Synchronization
import Testing

/// The one scheduler: a sliding window on every clock. On a virtual clock the schedule is
/// the one real time would give, and it does not depend on how the tasks interleave.
@Suite struct WindowTests {
    /// Runs items taking `durations` simulated seconds through a window of `limit`; returns
    /// when each began and where the coordinator ended.
    static func schedule(_ durations: [Double], limit: Int,
                         hold: (@Sendable (Int) async -> Void)? = nil,
                         done: (@Sendable (Int) -> Void)? = nil) async throws -> (starts: [Double], end: Double)
    {
        let clock = VirtualClock(start: 0)
        let starts = try await Window(clock: clock, parent: nil, limit: limit).run(count: durations.count, lane: { "item\($0)" }) {
            i, lane in
            let start = clock.now(host: lane).timeIntervalSince1970
            await hold?(i)
            try await clock.sleep(durations[i], host: nil)
            done?(i)
            return start
        }
        return (starts, clock.seconds)
    }

    @Test func aFreedSlotIsTakenAtOnceNotWhenTheWholeGroupEnds() async throws {
        let (starts, end) = try await Self.schedule([600, 60, 60, 60], limit: 2)
        // item0 holds its slot for 10 minutes; the other slot runs items 1, 2 and 3 one after another.
        #expect(starts == [0, 0, 60, 120])
        #expect(end == 600)
    }

    @Test func theScheduleDoesNotDependOnWhichTaskEndsFirstForReal() async throws {
        // item1 is short in simulated time but, for real, only goes on once item0 (ten
        // minutes simulated) has finished: the slot that frees first is still item1's.
        let item0Done = Latch()
        let (starts, end) = try await Self.schedule(
            [600, 60, 60, 60], limit: 2,
            hold: { i in if i == 1 { await item0Done.wait() } },
            done: { i in if i == 0 { item0Done.open() } })
        #expect(starts == [0, 0, 60, 120])
        #expect(end == 600)
    }

    @Test func equalEndsGoInItemOrder() async throws {
        let (starts, _) = try await Self.schedule([30, 30, 30, 30, 30], limit: 2)
        #expect(starts == [0, 0, 30, 30, 60])
    }

    @Test func aWindowWiderThanItsItemsStartsThemTogether() async throws {
        let (starts, end) = try await Self.schedule([5, 7, 3], limit: 50)
        #expect(starts == [0, 0, 0])
        #expect(end == 7)
    }

    @Test func itemsStartWithinTheirParentsTimeAndMoveItOn() async throws {
        let clock = VirtualClock(start: 1000)
        let outer = Window(clock: clock, parent: nil, limit: 1)
        let inner = try await outer.run(count: 1, lane: { _ in "host" }) { _, lane in
            try await clock.sleep(100, host: lane)
            let starts = try await Window(clock: clock, parent: lane, limit: 2).run(count: 3, lane: { "host-\($0)" }) { i, sub in
                let start = clock.now(host: sub).timeIntervalSince1970
                try await clock.sleep(Double(10 * (i + 1)), host: sub)
                return start
            }
            #expect(clock.now(host: lane).timeIntervalSince1970 == 1100 + 40, "the host waits for its slowest item")
            return starts
        }
        #expect(inner == [[1100, 1100, 1110]])
        #expect(clock.seconds == 1140)
    }

    @Test func anErrorStopsTheWindowAndIsRethrown() async throws {
        struct Boom: Error {}
        let clock = VirtualClock(start: 0)
        let started = Mutex(0)
        await #expect(throws: Boom.self) {
            _ = try await Window(clock: clock, parent: nil, limit: 1).run(count: 5, lane: { "i\($0)" }) { i, _ in
                started.withLock { $0 += 1 }
                if i == 1 { throw Boom() }
                return i
            }
        }
        #expect(started.withLock { $0 } == 2, "items after the failing one are not started")
    }

    @Test func aSimulatedStepRunsItsHostsInASlidingWindow() async throws {
        // Four hosts, two at a time: cmp0001 sleeps ten minutes, the others one. A sliding
        // window ends the step after ten minutes; groups of two would take eleven.
        let s = try await SimulationTests.make(runbook: """
            runbook { name = "window" }
            step "hosts" { on = "computes", parallel = 2, run = function(host)
              sleep(host.name == "cmp0001" and "10m" or "1m")
            end }
            """, simulate: "seed: 1", computes: 4)
        var options = RunOptions()
        options.virtualTime = true
        let outcome = try await s.engine.run(options)
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let step = try #require(try await s.engine.journal.steps(outcome.runID).first)
        let took = try #require(step.duration)
        #expect(took >= 600 && took < 605, "\(took)")
        let hosts = try await s.engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        let begun = Dictionary(uniqueKeysWithValues: hosts.map { ($0.host, $0.startedAt!.timeIntervalSince(step.startedAt!)) })
        #expect(abs(begun["cmp0004"]! - 120) < 2, "cmp0004 takes the slot cmp0003 frees after two minutes: \(begun)")
    }
}
