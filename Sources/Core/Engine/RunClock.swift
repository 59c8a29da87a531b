import Foundation
import Synchronization

/// Where a run's times come from. The wall clock for real regions; a virtual clock
/// for the simulated region, so hours of simulated work replay in seconds and are
/// journaled (and reported) as the simulated times.
///
/// Virtual time has one timeline for the engine's coordinator (steps, checks, waves)
/// and one lane per host while a per-host step runs: hosts that start together begin
/// at the coordinator's time, each advances by what its commands take, and the
/// coordinator moves to the latest of them when it waits for them.
public protocol RunClock: Sendable {
    var isVirtual: Bool { get }
    /// Now, on the host's lane (nil: the coordinator's).
    func now(host: String?) -> Date
    /// Waits: for real on the wall clock, by moving the lane forward on a virtual one.
    func sleep(_ seconds: Double, host: String?) async throws
    /// These hosts start now, together (their lanes begin at the coordinator's time).
    func begin(hosts: [String])
    /// The coordinator has waited for these hosts: it moves to the latest of their lanes.
    func join(hosts: [String])
    /// Lanes that start on `parent`'s timeline (nil: the coordinator's) and, when joined,
    /// move it to the latest of them: concurrent work inside one host's or the run's time.
    func fork(_ lanes: [String], from parent: String?)
    func merge(_ lanes: [String], into parent: String?)
    /// Time a simulated action took on the host's lane (nil: the coordinator's).
    func advance(_ seconds: Double, host: String?)
    /// The step the engine is running now (the simulation's faults can name steps).
    func enter(step: String?)
    /// A host of a per-host step is done (called before the journal records it).
    func hostDone(_ host: String)
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
    public var isVirtual: Bool { false }
    public func now(host: String?) -> Date { Date() }
    public func sleep(_ seconds: Double, host: String?) async throws {
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
    public func begin(hosts: [String]) {}
    public func join(hosts: [String]) {}
    public func fork(_ lanes: [String], from parent: String?) {}
    public func merge(_ lanes: [String], into parent: String?) {}
    public func hostDone(_ host: String) {}
    public func advance(_ seconds: Double, host: String?) {}
    public func enter(step: String?) {}
}

/// Simulated time: nothing waits for real; every wait and every simulated command
/// moves a timeline forward.
public final class VirtualClock: RunClock {
    struct State {
        var coordinator: Double
        var lanes: [String: Double] = [:]
        var step: String?
    }
    private let state: Mutex<State>

    /// - Parameter start: seconds since 1970 where the timeline begins.
    public init(start: Double) { state = Mutex(State(coordinator: start)) }

    public var isVirtual: Bool { true }

    /// The coordinator's time, in seconds since 1970 (saved with the simulated region).
    public var seconds: Double { state.withLock { $0.coordinator } }
    public var step: String? { state.withLock { $0.step } }
    /// Hosts running together now (lanes open).
    public var cohort: Int { state.withLock { $0.lanes.count } }
    /// The simulation's hooks, in a plain class behind a lock: handed through a generic
    /// `Mutex`, a closure came back wrapped in reabstraction thunks that nested deeper at
    /// every call (half the CPU time of a 5,000-host run went into them).
    final class Hooks: @unchecked Sendable {
        private let lock = NSLock()
        private var joinedHook: (@Sendable () -> Void)?
        private var stepEndedHook: (@Sendable () -> Void)?
        private var hostDoneHook: (@Sendable (String, Double) -> Void)?
        func setJoined(_ f: @escaping @Sendable () -> Void) { lock.lock(); joinedHook = f; lock.unlock() }
        func setStepEnded(_ f: @escaping @Sendable () -> Void) { lock.lock(); stepEndedHook = f; lock.unlock() }
        func setHostDone(_ f: @escaping @Sendable (String, Double) -> Void) { lock.lock(); hostDoneHook = f; lock.unlock() }
        var joined: (@Sendable () -> Void)? { lock.lock(); defer { lock.unlock() }; return joinedHook }
        var stepEnded: (@Sendable () -> Void)? { lock.lock(); defer { lock.unlock() }; return stepEndedHook }
        var hostDone: (@Sendable (String, Double) -> Void)? { lock.lock(); defer { lock.unlock() }; return hostDoneHook }
    }
    let hooks = Hooks()
    /// Called after the coordinator joined a group of hosts (the simulation commits their load).
    public func onJoin(_ body: @escaping @Sendable () -> Void) { hooks.setJoined(body) }
    /// Called when a step ends (`enter(step: nil)`): the simulation saves its model.
    public func onStepEnd(_ body: @escaping @Sendable () -> Void) { hooks.setStepEnded(body) }
    /// Called when a host is done, before the journal says so (the simulation records the host).
    public func onHostDone(_ body: @escaping @Sendable (String, Double) -> Void) { hooks.setHostDone(body) }
    public func hostDone(_ host: String) {
        let t = state.withLock { $0.lanes[host] ?? $0.coordinator }
        hooks.hostDone?(host, t)
    }

    public func now(host: String?) -> Date {
        let lane = host ?? RunLane.current
        return Date(timeIntervalSince1970: state.withLock { s in lane.flatMap { s.lanes[$0] } ?? s.coordinator })
    }

    public func sleep(_ seconds: Double, host: String?) async throws {
        try Task.checkCancellation()
        advance(seconds, host: host)
    }

    public func begin(hosts: [String]) {
        state.withLock { s in
            for h in hosts { s.lanes[h] = s.coordinator }
        }
    }

    public func join(hosts: [String]) {
        state.withLock { s in
            for h in hosts {
                if let t = s.lanes.removeValue(forKey: h) { s.coordinator = max(s.coordinator, t) }
            }
        }
        hooks.joined?()
    }

    public func fork(_ lanes: [String], from parent: String?) {
        state.withLock { s in
            let start = parent.flatMap { s.lanes[$0] } ?? s.coordinator
            for l in lanes { s.lanes[l] = start }
        }
    }

    public func merge(_ lanes: [String], into parent: String?) {
        state.withLock { s in
            var end = parent.flatMap { s.lanes[$0] } ?? s.coordinator
            for l in lanes { if let t = s.lanes.removeValue(forKey: l) { end = max(end, t) } }
            if let parent, s.lanes[parent] != nil { s.lanes[parent] = end } else { s.coordinator = end }
        }
    }

    public func advance(_ seconds: Double, host: String?) {
        guard seconds > 0 else { return }
        let lane = host ?? RunLane.current
        state.withLock { s in
            if let lane, let t = s.lanes[lane] { s.lanes[lane] = t + seconds } else { s.coordinator += seconds }
        }
    }

    public func enter(step: String?) {
        state.withLock { $0.step = step }
        if step == nil { hooks.stepEnded?() }
    }
}
