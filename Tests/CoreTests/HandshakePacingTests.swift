@testable import FerryCore
import Foundation
import Synchronization
import FerryTestSupport
import Testing

/// How the nio transport paces SSH handshakes: in flight, per second, adapting.
@Suite struct HandshakePacingTests {
    @Test func quickHandshakesGrowTheRateAndTheWindowUpToTheirCeilings() {
        var c = HandshakeControl(ceiling: 100, maxInFlight: 64, adaptive: true, timeout: 10)
        #expect(c.rate == 64 && c.window == 64)
        #expect(c.fast == 1.25 && c.slow == 2.5)
        for i in 0..<50 { c.record(started: Double(i), now: Double(i) + 0.2, timedOut: false) }
        #expect(c.rate == 100, "never past connect_rate")
        #expect(c.window == 64, "never past max_handshakes")
        // Between quick and slow: held where it is.
        var held = HandshakeControl(ceiling: 100, maxInFlight: 64, adaptive: true, timeout: 10)
        held.record(started: 0, now: 2, timedOut: false)
        #expect(held.rate == 64 && held.cuts == 0)
    }

    @Test func aSlowOrTimedOutHandshakeHalvesOncePerRound() {
        var c = HandshakeControl(ceiling: 400, maxInFlight: 64, adaptive: true, timeout: 10)
        c.record(started: 0, now: 3, timedOut: false)
        #expect(c.rate == 32 && c.window == 32 && c.cuts == 1)
        // Handshakes that started before that halving were launched at the old rate: they
        // say nothing new, however slow.
        c.record(started: 1, now: 5, timedOut: true)
        c.record(started: 2.9, now: 6, timedOut: false)
        #expect(c.rate == 32 && c.cuts == 1)
        // One that started after it, and timed out, halves again.
        c.record(started: 3.5, now: 13.5, timedOut: true)
        #expect(c.rate == 16 && c.window == 16 && c.cuts == 2)
        // Down to one a second and one at a time, never to nothing.
        for i in 0..<20 { c.record(started: 20 + Double(i) * 20, now: 30 + Double(i) * 20, timedOut: true) }
        #expect(c.rate == 1 && c.window == 1)
        // Quick handshakes bring it back up.
        for i in 0..<10 { c.record(started: 500 + Double(i), now: 500.1 + Double(i), timedOut: false) }
        #expect(c.rate == 11 && c.window == 11)
    }

    /// Slow handshakes halve the window, but the rate only down to what the server is
    /// completing: the server finishing 28 a second is not helped by starting 8.
    @Test func theRateIsNotCutBelowWhatIsCompleting() {
        var c = HandshakeControl(ceiling: 400, maxInFlight: 64, adaptive: true, timeout: 10)
        c.record(started: 0, now: 3, timedOut: false, completing: 40)
        #expect(c.window == 32 && c.rate == 40)
        c.record(started: 4, now: 7, timedOut: false, completing: 28)
        #expect(c.window == 16 && c.rate == 28)
        // Never above the rate it had, whatever completed.
        c.record(started: 8, now: 11, timedOut: true, completing: 300)
        #expect(c.window == 8 && c.rate == 28)
    }

    @Test func aFixedRateNeverMoves() {
        var c = HandshakeControl(ceiling: 400, maxInFlight: 64, adaptive: false, timeout: 10)
        #expect(c.rate == 400)
        c.record(started: 0, now: 30, timedOut: true)
        c.record(started: 40, now: 40.01, timedOut: false)
        #expect(c.rate == 400 && c.window == 64 && c.cuts == 0)
    }

    /// Many handshakes at once: never more than the window inside, every one done. The
    /// first `cap` wait inside until all `cap` places are taken (a latch, no timing).
    @Test func handshakesInFlightNeverExceedTheCap() async throws {
        let cap = 8
        let pacer = HandshakePacer(control: HandshakeControl(ceiling: 10_000, maxInFlight: cap, adaptive: false, timeout: 10))
        let inside = Inside()
        let gate = Latch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    try await pacer.handshake(isTimeout: { _ in false }) {
                        let n = inside.state.withLock { s -> Int in
                            s.now += 1
                            s.peak = max(s.peak, s.now)
                            return s.now
                        }
                        if n == cap { gate.open() }
                        await gate.wait()
                        inside.state.withLock { $0.now -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(inside.state.withLock { $0.peak } == cap)
        let stats = pacer.stats
        #expect(stats.started == 100 && stats.succeeded == 100 && stats.peakInFlight == cap)
    }

    /// A caller cancelled while it waits for a place stops waiting, and takes no place.
    @Test func aCancelledWaiterLeavesWithoutAPlace() async throws {
        let pacer = HandshakePacer(control: HandshakeControl(ceiling: 10_000, maxInFlight: 1, adaptive: false, timeout: 10))
        let holding = Latch()
        let release = Latch()
        let first = Task {
            try await pacer.handshake(isTimeout: { _ in false }) {
                holding.open()
                await release.wait()
            }
        }
        await holding.wait()
        let second = Task { try await pacer.handshake(isTimeout: { _ in false }) { 2 } }
        second.cancel()
        await #expect(throws: CancellationError.self) { try await second.value }
        release.open()
        try await first.value
        // The place the first one held is free again: a third goes straight in.
        #expect(try await pacer.handshake(isTimeout: { _ in false }) { 3 } == 3)
        #expect(pacer.stats.succeeded == 2)
    }

    @Test func failuresAreCountedApartFromTimeouts() async throws {
        struct Refused: Error {}
        struct TimedOut: Error {}
        let pacer = HandshakePacer(control: HandshakeControl(ceiling: 10_000, maxInFlight: 4, adaptive: true, timeout: 10))
        await #expect(throws: Refused.self) { try await pacer.handshake(isTimeout: { $0 is TimedOut }) { throw Refused() } }
        await #expect(throws: TimedOut.self) { try await pacer.handshake(isTimeout: { $0 is TimedOut }) { throw TimedOut() } }
        let stats = pacer.stats
        #expect(stats.failed == 1 && stats.timedOut == 1 && stats.halvings == 1, "\(stats.summary)")
        #expect(stats.summary.contains("1 timed out, 1 failed"))
    }

    @Test func theRegionFileSetsPacingAndRefusesNonsense() throws {
        let defaults = try RegionLoader.parse("region: r\n", file: "r.yaml")
        #expect(defaults.ssh.maxHandshakes == 64 && defaults.ssh.adaptiveConnect)
        let set = try RegionLoader.parse("region: r\nssh: { max_handshakes: 16, adaptive_connect: false, connect_rate: 30 }\n", file: "r.yaml")
        #expect(set.ssh.maxHandshakes == 16 && !set.ssh.adaptiveConnect && set.ssh.connectRate == 30)
        for (bad, says) in [("max_handshakes: 0", "max_handshakes"), ("max_handshakes: lots", "max_handshakes"),
                            ("adaptive_connect: maybe", "adaptive_connect"), ("connect_rate: 0", "connect_rate")] {
            do {
                _ = try RegionLoader.parse("region: r\nssh: { \(bad) }\n", file: "r.yaml")
                Issue.record("\(bad) was accepted")
            } catch {
                #expect("\(error)".contains(says) && "\(error)".contains("r.yaml"), "\(error)")
            }
        }
    }
}

/// Handshakes inside the pacer now, and the most at once.
final class Inside: Sendable {
    let state = Mutex((now: 0, peak: 0))
}
