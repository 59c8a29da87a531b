import Foundation

/// A model of the region that a drill compares before and after each repetition (the
/// simulated region's); a region without one is compared through `RegionSnapshot`.
/// A drill on a model runs on its virtual time.
public protocol DrillModel: Sendable {
    /// What the model is at one moment.
    associatedtype Snapshot: Sendable
    /// The model as it is now.
    func capture() -> Snapshot
    /// Lines describing how the model now differs from `before` (empty: identical).
    func differences(from before: Snapshot) -> [String]
    /// Keeps the model (between repetitions, so a stopped drill leaves it where the journal is).
    func save() throws
}

/// `ferry drill`: run → checks → rollback → checks, N times, each repetition a journaled
/// run (the checks that fit: after the upgrade those of phase `after` and `always`, after the
/// rollback those of phase `before` and `always`, see ``CheckPhase``);
/// stops at the first repetition that leaves the region different from where it
/// began (on a simulated region, compared state by state), and says how.
public struct Drill: Sendable {
    public let engine: Engine
    /// The region's model, compared before and after each repetition (nil: a real region).
    public let model: (any DrillModel)?
    public let times: Int
    public var options = RunOptions()
    /// Called after each repetition (for progress lines).
    public var progress: @Sendable (Repetition) -> Void = { _ in }

    public init(engine: Engine, model: (any DrillModel)?, times: Int) {
        self.engine = engine
        self.model = model
        self.times = times
    }

    public struct Repetition: Sendable {
        public var number: Int
        public var runID: String
        public var upgrade: RunOutcome
        public var rollback: RunOutcome?
        public var checksAfterRun: [Engine.CheckResult]
        public var checksAfterRollback: [Engine.CheckResult]
        /// How the region differs from where the repetition began (empty: identical).
        public var differences: [String]
        public var upgradeSeconds: Double
        public var rollbackSeconds: Double
    }

    public struct Outcome: Sendable {
        public var id: String
        public var repetitions: [Repetition]
        /// Why the drill stopped early, if it did.
        public var stoppedBecause: String?
        /// Every repetition ran both ways and put the region back, no upgrade failed, and
        /// every check passed after each upgrade.
        public var succeeded: Bool { stoppedBecause == nil && failedUpgrades.isEmpty && failedChecksAfterUpgrade.isEmpty }
        /// Repetitions whose upgrade failed (their rollback still ran and was checked).
        public var failedUpgrades: [Int] { repetitions.filter { $0.upgrade.status != .succeeded }.map(\.number) }
        /// Every check that failed after an upgrade that finished: the upgraded region is not
        /// healthy (the drill goes on: the rollback is rehearsed all the same).
        public var failedChecksAfterUpgrade: [(repetition: Int, check: Engine.CheckResult)] {
            repetitions.filter { $0.upgrade.status == .succeeded }.flatMap { r in
                r.checksAfterRun.filter { !$0.passed }.map { (r.number, $0) }
            }
        }
        /// Every check that failed after a rollback (the drill stops at the first repetition with one).
        public var failedChecksAfterRollback: [(repetition: Int, check: Engine.CheckResult)] {
            repetitions.flatMap { r in r.checksAfterRollback.filter { !$0.passed }.map { (r.number, $0) } }
        }
    }

    public static func newID() -> String { "drill-" + RunJournal.newRunID() }

    /// The phases a drill's checks are journaled under (the report names them).
    public static let afterUpgrade = "after-upgrade"
    public static let afterRollback = "after-rollback"

    public func run(id: String = Drill.newID()) async throws -> Outcome {
        var repetitions: [Repetition] = []
        for n in 1...max(1, times) {
            let before = model.map { Self.baseline($0) }
            // A real region has no model: what the drill can read of it is compared instead.
            let realBefore = model == nil ? await RegionSnapshot.capture(region: engine.region, transport: engine.transport) : nil
            var opts = options
            opts.drill = id
            opts.repetition = n
            opts.yes = true
            if model != nil { opts.virtualTime = true }
            let upgrade = try await engine.run(opts)
            if upgrade.status == .interrupted || upgrade.status == .waiting || Task.isCancelled {
                return Outcome(id: id, repetitions: repetitions,
                               stoppedBecause: "repetition \(n) was interrupted (\(upgrade.status.rawValue)): ferry rollback \(upgrade.runID) puts it back")
            }
            let afterRun = try await engine.runChecks([], runID: upgrade.runID, moment: .after, label: Self.afterUpgrade)
            let rollback: RunOutcome
            do {
                rollback = try await engine.rollback(upgrade.runID, yes: true)
            } catch {
                return Outcome(id: id, repetitions: repetitions,
                               stoppedBecause: "repetition \(n): the rollback of \(upgrade.runID) could not run: \(error)")
            }
            if rollback.status == .interrupted || Task.isCancelled {
                return Outcome(id: id, repetitions: repetitions,
                               stoppedBecause: "repetition \(n): the rollback was interrupted: ferry rollback \(upgrade.runID) continues it")
            }
            let afterRollback = try await engine.runChecks([], runID: upgrade.runID, moment: .before, label: Self.afterRollback)
            try model?.save()
            var differences: [String] = []
            if let before { differences = before() }
            if let realBefore {
                differences = RegionSnapshot.differences(realBefore, await RegionSnapshot.capture(region: engine.region, transport: engine.transport))
            }
            let steps = try await engine.journal.steps(upgrade.runID)
            func span(_ phase: Invocation.Phase) -> Double {
                let s = steps.filter { $0.phase == phase }
                guard let start = s.compactMap(\.startedAt).min(), let end = s.compactMap(\.endedAt).max() else { return 0 }
                return end.timeIntervalSince(start)
            }
            let repetition = Repetition(
                number: n, runID: upgrade.runID, upgrade: upgrade, rollback: rollback, checksAfterRun: afterRun,
                checksAfterRollback: afterRollback, differences: differences, upgradeSeconds: span(.run), rollbackSeconds: span(.undo))
            repetitions.append(repetition)
            progress(repetition)
            if rollback.status != .rolledBack {
                return Outcome(id: id, repetitions: repetitions,
                               stoppedBecause: "repetition \(n): the rollback did not finish (\(rollback.status.rawValue)): \(rollback.message ?? "")")
            }
            if !differences.isEmpty {
                return Outcome(id: id, repetitions: repetitions,
                               stoppedBecause: "repetition \(n) left the region different from where it began:\n  " + differences.joined(separator: "\n  "))
            }
            let failed = afterRollback.filter { !$0.passed }
            if !failed.isEmpty {
                return Outcome(id: id, repetitions: repetitions,
                               stoppedBecause: "repetition \(n): \(failed.count) check(s) fail after the rollback:\n  "
                                   + failed.map { "\($0.name): \($0.message ?? "failed")" }.joined(separator: "\n  "))
            }
        }
        return Outcome(id: id, repetitions: repetitions, stoppedBecause: nil)
    }

    /// The model captured now, and what tells later how it has changed since.
    static func baseline<M: DrillModel>(_ model: M) -> @Sendable () -> [String] {
        let before = model.capture()
        return { model.differences(from: before) }
    }
}
