import Foundation
import Synchronization

/// The pacing rule for new SSH connections, as plain arithmetic (no clock, no waiting),
/// so it can be tested step by step.
///
/// At most `window` handshakes are in flight (never more than `max_handshakes`) and at
/// most `rate` start per second (never more than `connect_rate`). When adaptive, a
/// handshake that finishes within `fast` seconds grows both by one (so they double
/// about once per round of handshakes, like TCP's slow start); one that takes longer
/// than `slow` seconds, or times out, halves the window (fewer waiting at once is what
/// makes each one quicker) and halves the rate, but not below the rate at which
/// handshakes are completing now: starting them faster than the server finishes them
/// only queues them, slower only wastes it. Only a handshake that started after the
/// last cut can cut again: the ones already in flight when the server slowed down say
/// nothing new about the smaller window.
public struct HandshakeControl: Sendable, Equatable {
    public let ceiling: Double
    public let maxInFlight: Int
    public let adaptive: Bool
    /// Seconds within which a handshake counts as quick (grow).
    public let fast: Double
    /// Seconds past which a handshake counts as slow (halve).
    public let slow: Double
    public private(set) var rate: Double
    public private(set) var window: Int
    /// When (seconds on the pacer's clock) the rate was last halved.
    public private(set) var lastCut: Double = -.infinity
    public private(set) var cuts = 0

    /// `timeout` is the connect timeout: quick is within an eighth of it, slow is past a quarter.
    public init(ceiling: Double, maxInFlight: Int, adaptive: Bool, timeout: Double) {
        self.ceiling = ceiling
        self.maxInFlight = max(1, maxInFlight)
        self.adaptive = adaptive
        fast = timeout / 8
        slow = timeout / 4
        // Adaptive pacing starts at the window's worth per second and grows from there.
        rate = adaptive ? min(ceiling, max(20, Double(self.maxInFlight))) : ceiling
        window = self.maxInFlight
    }

    /// A handshake that started at `started` ended at `now`; `timedOut` when it gave up.
    /// `completing` is how many handshakes completed in the last second. Handshakes that
    /// failed for another reason (refused, unreachable, rejected key) are not recorded:
    /// they say nothing about how loaded the server is.
    public mutating func record(started: Double, now: Double, timedOut: Bool, completing: Double = 0) {
        guard adaptive else { return }
        let took = now - started
        if timedOut || took > slow {
            guard started >= lastCut else { return }
            rate = max(min(1, ceiling), min(rate, max(rate / 2, completing)))
            window = max(1, window / 2)
            lastCut = now
            cuts += 1
        } else if took <= fast {
            rate = min(ceiling, rate + 1)
            window = min(maxInFlight, window + 1)
        }
    }
}

/// What the pacer saw during a run, for the operator (and the benchmark).
public struct HandshakeStats: Sendable {
    public var started = 0
    public var succeeded = 0
    public var timedOut = 0
    public var failed = 0
    public var peakInFlight = 0
    /// The most handshakes that finished within one second (a sliding second).
    public var peakPerSecond = 0
    public var slowest: Double = 0
    /// From the first start to the last finish, seconds.
    public var span: Double = 0
    public var finalRate: Double = 0
    public var lowestRate: Double = 0
    public var halvings = 0

    /// One line: "500 SSH handshakes in 9.1s (55/s, peak 71/s; 64 at once at most; slowest 1.2s); …".
    public var summary: String {
        let per = span > 0 ? Double(succeeded) / span : 0
        var text = "\(succeeded) SSH handshake\(succeeded == 1 ? "" : "s") in \(DurationText.format(span)) "
            + "(\(String(format: "%.0f", per))/s, peak \(peakPerSecond)/s; \(peakInFlight) at once at most; "
            + "slowest \(DurationText.format(slowest)))"
        if timedOut + failed > 0 { text += "; \(timedOut) timed out, \(failed) failed" }
        if halvings > 0 {
            text += "; paced down \(halvings) time\(halvings == 1 ? "" : "s") to \(String(format: "%.0f", lowestRate))/s, ended at \(String(format: "%.0f", finalRate))/s"
        }
        return text
    }
}

/// Hands out the right to start an SSH handshake: waits for a place among those in
/// flight, then for the next start time the rate allows. The connect timeout is the
/// caller's and starts when ``handshake(_:)`` calls its body, not while it waits here.
public final class HandshakePacer: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var control: HandshakeControl
        var inFlight = 0
        var nextStart: ContinuousClock.Instant
        var waiters: [Waiter] = []
        var nextID = 0
        var stats = HandshakeStats()
        var first: ContinuousClock.Instant?
        var last: ContinuousClock.Instant?
        /// When recent handshakes completed (seconds on the pacer's clock), the last second's
        /// worth: the rate completing now, and its peak for the stats.
        var recent: [Double] = []
    }
    private let state: Mutex<State>
    private let origin = ContinuousClock.now

    public init(control: HandshakeControl) {
        var s = State(control: control, nextStart: .now)
        s.stats.lowestRate = control.rate
        s.stats.finalRate = control.rate
        state = Mutex(s)
    }

    /// Seconds since the pacer was made.
    private func seconds(_ instant: ContinuousClock.Instant) -> Double { (instant - origin).seconds }

    /// Runs `body` (one handshake) once pacing allows, and records how it went.
    /// `isTimeout` tells a timed-out handshake from other failures.
    public func handshake<T: Sendable>(isTimeout: @Sendable (any Error) -> Bool,
                                       _ body: () async throws -> T) async throws -> T
    {
        try await enter()
        let start = ContinuousClock.now
        do {
            let result = try await body()
            leave(started: start, outcome: .succeeded)
            return result
        } catch {
            leave(started: start, outcome: isTimeout(error) ? .timedOut : .failed)
            throw error
        }
    }

    private enum Outcome { case succeeded, timedOut, failed }

    /// Waits for a place in flight (first come, first served), then for a start time.
    private func enter() async throws {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                // Decided under the lock the cancellation handler takes too: either it
                // finds this waiter, or the task is already marked cancelled here.
                let admitted = state.withLock { s -> Bool? in
                    if Task.isCancelled { return nil }
                    if s.waiters.isEmpty && s.inFlight < s.control.window {
                        s.inFlight += 1
                        return true
                    }
                    s.waiters.append(Waiter(id: id, continuation: c))
                    return false
                }
                switch admitted {
                case nil: c.resume(throwing: CancellationError())
                case true?: c.resume()
                case false?: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        // Holding a place now: take the next start time the rate allows.
        let startAt = state.withLock { s -> ContinuousClock.Instant in
            let now = ContinuousClock.now
            let at = max(now, s.nextStart)
            s.nextStart = at + .seconds(1 / s.control.rate)
            s.stats.started += 1
            s.stats.peakInFlight = max(s.stats.peakInFlight, s.inFlight)
            if s.first == nil { s.first = at }
            return at
        }
        do {
            if startAt > .now { try await Task.sleep(until: startAt, clock: .continuous) }
        } catch {
            release()
            throw error
        }
    }

    private func leave(started: ContinuousClock.Instant, outcome: Outcome) {
        let now = ContinuousClock.now
        state.withLock { s in
            switch outcome {
            case .succeeded:
                s.stats.succeeded += 1
                s.stats.slowest = max(s.stats.slowest, (now - started).seconds)
                s.recent.append(seconds(now))
                if let i = s.recent.firstIndex(where: { $0 > seconds(now) - 1 }), i > 0 { s.recent.removeFirst(i) }
                s.stats.peakPerSecond = max(s.stats.peakPerSecond, s.recent.count)
            case .timedOut: s.stats.timedOut += 1
            case .failed: s.stats.failed += 1
            }
            let at = seconds(now)
            if outcome != .failed {
                s.control.record(started: seconds(started), now: at, timedOut: outcome == .timedOut,
                                 completing: Double(s.recent.count))
            }
            s.last = now
            s.stats.finalRate = s.control.rate
            s.stats.lowestRate = min(s.stats.lowestRate, s.control.rate)
            s.stats.halvings = s.control.cuts
        }
        release()
    }

    /// Frees a place and admits waiters while the window has room.
    private func release() {
        let admitted = state.withLock { s -> [Waiter] in
            s.inFlight -= 1
            var out: [Waiter] = []
            while !s.waiters.isEmpty && s.inFlight < s.control.window {
                out.append(s.waiters.removeFirst())
                s.inFlight += 1
            }
            return out
        }
        for w in admitted { w.continuation.resume() }
    }

    public var stats: HandshakeStats {
        state.withLock { s in
            var stats = s.stats
            if let first = s.first, let last = s.last { stats.span = max(0, (last - first).seconds) }
            return stats
        }
    }
}
