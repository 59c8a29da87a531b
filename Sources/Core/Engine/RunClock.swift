import Foundation
import Synchronization

/// Where a run's times come from. The wall clock for real regions; a virtual clock
/// for the simulated region, so hours of simulated work replay in seconds and are
/// journaled (and reported) as the simulated times.
///
/// Virtual time has one timeline for the engine's coordinator (steps, checks, waves)
/// and one lane per item of a ``Window`` (a host of a per-host step, a target of
/// `ssh.run`, an item of `parallel`): an item starts where the one whose slot it takes
/// ended (the first ones at their parent's time), advances by what its commands take,
/// and its parent moves to the latest of them when the window ends.
public protocol RunClock: Sendable {
    /// Now, on the host's lane (nil: the coordinator's).
    func now(host: String?) -> Date
    /// A reading in seconds for measuring spans and deadlines on `host`'s lane: monotonic
    /// on the wall clock (immune to clock changes), the lane's simulated time on a virtual one.
    func reading(host: String?) -> Double
    /// Waits: for real on the wall clock, by moving the lane forward on a virtual one.
    func sleep(_ seconds: Double, host: String?) async throws
    /// A lane of a ``Window`` begins: at `time` (when the slot it takes over freed, read
    /// with ``laneTime(_:)``) or else at `parent`'s time (nil: the coordinator's), sharing
    /// `parent`'s time limit. `cohort`: how many of the window's items run with it.
    func open(_ lane: String, parent: String?, at time: Double?, cohort: Int)
    /// The lane is over (its slot was taken over, or its window ended): `parent` (nil: the
    /// coordinator) moves to at least the lane's end.
    func close(_ lane: String, into parent: String?)
    /// The lane's own time, when the clock keeps one (a virtual clock); nil on the wall
    /// clock, where every lane is a real task and is always at now.
    func laneTime(_ lane: String) -> Double?
    /// Time a simulated action took on the host's lane (nil: the coordinator's).
    func advance(_ seconds: Double, host: String?)
    /// The step the engine is running now (the simulation's faults can name steps).
    func enter(step: String?)
    /// A host of a per-host step is done (called before the journal records it). Throws
    /// when what the host did cannot be kept (the simulated model's log on a full disk):
    /// the host is then journaled as failed, and a resume runs it again.
    func hostDone(_ host: String) throws
    /// Runs `body` with a time limit of `seconds` on `lane`'s time (nil: the coordinator's),
    /// cancelling it and throwing ``StepTimeout`` when the limit is reached. The engine
    /// calls this the same way on every clock: only where the time comes from differs
    /// (a timer on the wall clock; the lane's simulated time on a virtual one).
    func withDeadline<T: Sendable>(_ seconds: Double, lane: String?, what: String,
                                   _ body: @escaping @Sendable () async throws -> T) async throws -> T
}

/// A step (or a step on one host) that ran out of time.
struct StepTimeout: Error, CustomStringConvertible {
    let what: String
    let seconds: Double
    var description: String { "\(what) did not finish within \(DurationText.format(seconds)) (timeout); it was stopped" }
}

/// Runs `body` within `seconds` (nil: no limit) of the clock's time on `lane`.
func withTimeout<T: Sendable>(_ seconds: Double?, clock: any RunClock, lane: String?, what: String,
                              _ body: @escaping @Sendable () async throws -> T) async throws -> T
{
    guard let seconds else { return try await body() }
    return try await clock.withDeadline(seconds, lane: lane, what: what, body)
}

extension RunClock {
    public func now() -> Date { now(host: nil) }
}

/// The host lane the current task works for (a per-host step's host, a check's host):
/// time a driver spends without naming a host (a query, an HTTP call) counts there.
public enum RunLane {
    @TaskLocal public static var current: String?
}

/// The real clock.
public struct WallClock: RunClock {
    public init() {}
    public func now(host: String?) -> Date { Date() }
    public func reading(host: String?) -> Double { Monotonic.seconds() }
    public func sleep(_ seconds: Double, host: String?) async throws {
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
    public func open(_ lane: String, parent: String?, at time: Double?, cohort: Int) {}
    public func close(_ lane: String, into parent: String?) {}
    public func laneTime(_ lane: String) -> Double? { nil }
    public func hostDone(_ host: String) {}
    public func advance(_ seconds: Double, host: String?) {}
    public func enter(step: String?) {}

    public func withDeadline<T: Sendable>(_ seconds: Double, lane: String?, what: String,
                                          _ body: @escaping @Sendable () async throws -> T) async throws -> T
    {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            if let value = first { return value }
            throw StepTimeout(what: what, seconds: seconds)
        }
    }
}

/// A time limit on a virtual clock's lane: reached when the lane's simulated time gets
/// to `at`. Its fields are only touched under the clock's lock.
final class VirtualDeadline: @unchecked Sendable {
    let at: Double
    var expired = false
    var waiter: CheckedContinuation<Void, Never>?
    init(at: Double) { self.at = at }

    /// Marks it reached; the caller resumes the returned waiter outside the lock.
    func expire() -> CheckedContinuation<Void, Never>? {
        expired = true
        defer { waiter = nil }
        return waiter
    }
}

/// Simulated time: nothing waits for real; every wait and every simulated command
/// moves a timeline forward.
public final class VirtualClock: RunClock {
    struct LaneMeta {
        var cohort: Int
        var horizon: Int
        var parent: String?
    }
    struct State {
        var coordinator: Double
        var lanes: [String: Double] = [:]
        var step: String?
        /// Time limits by lane ("" is the coordinator's).
        var deadlines: [String: VirtualDeadline] = [:]
        /// What each open lane of a window began with.
        var meta: [String: LaneMeta] = [:]
        /// Lanes of outermost windows closed so far.
        var closed = 0

        /// The lane a time belongs to: an open lane, else the coordinator ("").
        func key(_ lane: String?) -> String {
            if let lane, lanes[lane] != nil { return lane }
            return ""
        }
        func time(_ key: String) -> Double { key.isEmpty ? coordinator : lanes[key] ?? coordinator }
        mutating func set(_ key: String, _ t: Double) {
            if key.isEmpty { coordinator = t } else { lanes[key] = t }
        }

        /// Moves the lane forward by `seconds`, but not past its time limit: reaching the
        /// limit marks it expired. Returns the waiter to resume and whether the limit was hit.
        mutating func move(_ key: String, by seconds: Double) -> (CheckedContinuation<Void, Never>?, Bool) {
            let t = time(key)
            if let d = deadlines[key] {
                if d.expired { return (nil, true) }
                if t + seconds >= d.at {
                    set(key, max(t, d.at))
                    return (d.expire(), true)
                }
            }
            set(key, t + seconds)
            return (nil, false)
        }
    }
    private let state: Mutex<State>

    /// - Parameter start: seconds since 1970 where the timeline begins.
    public init(start: Double) { state = Mutex(State(coordinator: start)) }

    public func reading(host: String?) -> Double { now(host: host).timeIntervalSince1970 }

    /// The coordinator's time, in seconds since 1970 (saved with the simulated region).
    public var seconds: Double { state.withLock { $0.coordinator } }
    public var step: String? { state.withLock { $0.step } }
    /// The simulation's hooks, in a plain class behind a lock: handed through a generic
    /// `Mutex`, a closure came back wrapped in reabstraction thunks that nested deeper at
    /// every call (half the CPU time of a 5,000-host run went into them).
    final class Hooks: @unchecked Sendable {
        private let lock = NSLock()
        private var closedHook: (@Sendable (String, String?, Int?) -> Void)?
        private var stepEndedHook: (@Sendable () -> Void)?
        private var hostDoneHook: (@Sendable (String, Double) throws -> Void)?
        func setClosed(_ f: @escaping @Sendable (String, String?, Int?) -> Void) { lock.lock(); closedHook = f; lock.unlock() }
        func setStepEnded(_ f: @escaping @Sendable () -> Void) { lock.lock(); stepEndedHook = f; lock.unlock() }
        func setHostDone(_ f: @escaping @Sendable (String, Double) throws -> Void) { lock.lock(); hostDoneHook = f; lock.unlock() }
        var closed: (@Sendable (String, String?, Int?) -> Void)? { lock.lock(); defer { lock.unlock() }; return closedHook }
        var stepEnded: (@Sendable () -> Void)? { lock.lock(); defer { lock.unlock() }; return stepEndedHook }
        var hostDone: (@Sendable (String, Double) throws -> Void)? { lock.lock(); defer { lock.unlock() }; return hostDoneHook }
    }
    let hooks = Hooks()
    /// Called when a window's lane closes, with its parent lane (nil: outermost) and, for an
    /// outermost lane, its place in the order lanes closed (the simulation commits its load).
    public func onClose(_ body: @escaping @Sendable (_ lane: String, _ parent: String?, _ ordinal: Int?) -> Void) {
        hooks.setClosed(body)
    }
    /// Called when a step ends (`enter(step: nil)`): the simulation saves its model.
    public func onStepEnd(_ body: @escaping @Sendable () -> Void) { hooks.setStepEnded(body) }
    /// Called when a host is done, before the journal says so (the simulation records the host).
    public func onHostDone(_ body: @escaping @Sendable (String, Double) throws -> Void) { hooks.setHostDone(body) }
    public func hostDone(_ host: String) throws {
        let t = state.withLock { $0.lanes[host] ?? $0.coordinator }
        try hooks.hostDone?(host, t)
    }

    public func now(host: String?) -> Date {
        let lane = host ?? RunLane.current
        return Date(timeIntervalSince1970: state.withLock { s in lane.flatMap { s.lanes[$0] } ?? s.coordinator })
    }

    /// Moves the lane forward; a sleep that reaches the lane's time limit ends there and
    /// throws, as a sleeping task that a real timeout cancels does.
    public func sleep(_ seconds: Double, host: String?) async throws {
        try Task.checkCancellation()
        let lane = host ?? RunLane.current
        let (waiter, limited) = state.withLock { s in s.move(s.key(lane), by: max(0, seconds)) }
        waiter?.resume()
        if limited { throw CancellationError() }
    }

    public func open(_ lane: String, parent: String?, at time: Double?, cohort: Int) {
        state.withLock { s in
            let key = s.key(parent)
            let start = time ?? s.time(key)
            s.lanes[lane] = start
            s.deadlines[lane] = s.deadlines[key]
            // A nested window's items run alongside their parent's cohort; they see what their
            // parent saw when it began.
            let outer = key.isEmpty ? nil : s.meta[key]
            s.meta[lane] = LaneMeta(cohort: max(1, cohort) * (outer?.cohort ?? 1),
                                    horizon: outer?.horizon ?? s.closed, parent: key.isEmpty ? nil : key)
        }
    }

    public func close(_ lane: String, into parent: String?) {
        let closed = state.withLock { s -> (LaneMeta?, Int?) in
            let key = s.key(parent)
            if let t = s.lanes.removeValue(forKey: lane) { s.set(key, max(s.time(key), t)) }
            s.deadlines[lane] = nil
            guard let meta = s.meta.removeValue(forKey: lane) else { return (nil, nil) }
            if meta.parent != nil { return (meta, nil) }
            s.closed += 1
            return (meta, s.closed)
        }
        if let meta = closed.0 { hooks.closed?(lane, meta.parent, closed.1) }
    }

    public func laneTime(_ lane: String) -> Double? { state.withLock { $0.lanes[lane] } }

    /// How many items of its window (times its parent's cohort) ran with the lane when it began.
    public func cohort(lane: String?) -> Int {
        state.withLock { s in lane.flatMap { s.meta[$0]?.cohort } ?? 0 }
    }

    /// The lanes closed (outermost windows, in the order their slots were taken over) before
    /// this lane began: what it may know of the others' effects. Nil: the coordinator's (all).
    public func horizon(lane: String?) -> Int? {
        state.withLock { s in lane.flatMap { s.meta[$0]?.horizon } }
    }

    /// Time a simulated action took; it ends at the lane's time limit if it reaches it
    /// (the action was stopped there), and the limit's holder is told.
    public func advance(_ seconds: Double, host: String?) {
        guard seconds > 0 else { return }
        let lane = host ?? RunLane.current
        let (waiter, _) = state.withLock { s in s.move(s.key(lane), by: seconds) }
        waiter?.resume()
    }

    /// Whether the time limit of the lane (host, or the current lane) has been reached.
    public func limitReached(host: String?) -> Bool {
        let lane = host ?? RunLane.current
        return state.withLock { s in s.deadlines[s.key(lane)]?.expired ?? false }
    }

    public func withDeadline<T: Sendable>(_ seconds: Double, lane: String?, what: String,
                                          _ body: @escaping @Sendable () async throws -> T) async throws -> T
    {
        let deadline = state.withLock { s -> VirtualDeadline in
            let key = s.key(lane)
            let d = VirtualDeadline(at: s.time(key) + seconds)
            s.deadlines[key] = d
            return d
        }
        defer {
            state.withLock { s in
                for (k, d) in s.deadlines where d === deadline { s.deadlines[k] = nil }
            }
        }
        let reached = { self.state.withLock { _ in deadline.expired } }
        do {
            let value = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    await self.reaching(deadline)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { throw CancellationError() }
                return first
            }
            // Whichever task ended first, a limit reached means the step timed out (even if
            // the body caught the error its sleep threw, as a real timeout cancels it anyway).
            if let value, !reached() { return value }
            throw StepTimeout(what: what, seconds: seconds)
        } catch let e as StepTimeout {
            throw e
        } catch {
            if reached() { throw StepTimeout(what: what, seconds: seconds) }
            throw error
        }
    }

    /// Returns once the deadline is reached, or when the waiting task is cancelled.
    private func reaching(_ deadline: VirtualDeadline) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { _ -> Bool in
                    if deadline.expired || Task.isCancelled { return true }
                    deadline.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { _ -> CheckedContinuation<Void, Never>? in
                defer { deadline.waiter = nil }
                return deadline.waiter
            }
            waiter?.resume()
        }
    }

    public func enter(step: String?) {
        state.withLock { $0.step = step }
        if step == nil { hooks.stepEnded?() }
    }
}
