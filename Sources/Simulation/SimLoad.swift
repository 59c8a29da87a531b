import FerryCore
import Foundation
import Synchronization

/// The load model: a database's `Threads_running` under the restarts a component's
/// ``SimLoadModel`` says weigh on it. Each restart is a pulse of `per_agent` threads fading
/// linearly over `resync`; the figures are the region's `simulate.load`.
///
/// What a lane sees depends only on the schedule, never on how the real tasks interleaved:
/// a restart counts for others once its lane has closed (in the order lanes close, which the
/// virtual clock fixes), and a lane sees the pulses of lanes closed before it began plus its
/// own cohort (the lanes running with it). So a drill gives the same figures every time.
final class SimLoad: Sendable {
    let settings: SimConfig.Load
    let clock: VirtualClock
    /// The databases whose load restarts raise; any other answers `base`.
    let databases: Set<String>
    private let pulses = Mutex(Pulses())

    struct Pulse { var database: String; var start: Double; var weight: Double; var ordinal = 0 }
    struct Pulses {
        /// Restarts of hosts whose slots were handed over (they set the database's load), each
        /// with the place its lane closed in (``VirtualClock/horizon(lane:)``).
        var committed: [Pulse] = []
        /// Restarts by the lanes running now; they count once their lane closes.
        var pending: [String: [Pulse]] = [:]
    }

    init(settings: SimConfig.Load, clock: VirtualClock, databases: Set<String>) {
        self.settings = settings
        self.clock = clock
        self.databases = databases
    }

    /// `Threads_running` of `database` at a moment, as seen from a lane: the base load, the
    /// restarts still resyncing that the lane may know of (those of lanes closed before it
    /// began), and the restarts running with it (its cohort).
    func threadsRunning(database: String, at t: Double, lane: String?) -> Double {
        let l = settings
        guard databases.contains(database) else { return l.base }
        let horizon = clock.horizon(lane: lane) ?? Int.max
        let fromPast = pulses.withLock { all in
            all.committed.reduce(0.0) { sum, p in
                let age = t - p.start
                guard p.database == database, p.ordinal <= horizon, age >= 0, age < l.resync else { return sum }
                return sum + p.weight * (1 - age / l.resync)
            }
        }
        return l.base + fromPast + Double(clock.cohort(lane: lane)) * l.perAgent
    }

    /// A restart on `lane` at `t` that weighs on `database` (`extra`: threads it set off
    /// beyond its own resync, ``SimLoadSurge``).
    func restarted(database: String, at t: Double, lane: String, extra: Double = 0) {
        pulses.withLock { $0.pending[lane, default: []].append(Pulse(database: database, start: t, weight: settings.perAgent + extra)) }
    }

    /// A lane closed: its restarts go to its parent's (a nested window), or now weigh on
    /// the database, in the order the lanes closed.
    func laneClosed(_ lane: String, parent: String?, ordinal: Int?) {
        pulses.withLock { p in
            guard let pending = p.pending.removeValue(forKey: lane) else { return }
            if let parent {
                p.pending[parent, default: []] += pending
                return
            }
            p.committed += pending.map { var x = $0; x.ordinal = ordinal ?? 0; return x }
        }
    }

    /// At a step's end no lane is open: restarts older than `resync` no longer weigh.
    func stepEnded() {
        let horizon = clock.seconds - settings.resync
        pulses.withLock { p in p.committed.removeAll { $0.start < horizon } }
    }

    /// A fresh region: no restart weighs.
    func reset() { pulses.withLock { $0 = Pulses() } }
}
