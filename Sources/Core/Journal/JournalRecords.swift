import Foundation
import LuaBridge

/// A run as the journal keeps it.
public struct RunRecord: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        case running, succeeded, failed, waiting, interrupted
        case rollingBack = "rolling_back", rolledBack = "rolled_back", rollbackFailed = "rollback_failed"
    }
    public var id: String
    public var runbook: String
    public var runbookName: String
    public var fingerprint: String
    public var regionFile: String?
    public var regionName: String
    public var status: Status
    public var options: RunOptions
    public var pid: Int32
    public var startedAt: Date
    public var updatedAt: Date
    public var endedAt: Date?
    /// `ctx.state` after the last completed step (JSON).
    public var state: LuaValue
    public var message: String?
    public var kind: String

    /// A dry run (`ferry run --dry-run`): it sent no command to any host, so it is neither
    /// resumed nor rolled back, and never reads as an upgrade that succeeded.
    public var isDryRun: Bool { kind == "dry-run" || options.dryRun }

    /// The status as `ferry status` shows it: a dry run's is `dry_run_passed` (it went
    /// through every step), `dry_run_failed`, `dry_run_interrupted`…, never `succeeded`.
    public var displayStatus: String {
        guard isDryRun else { return status.rawValue }
        return "dry_run_" + (status == .succeeded ? "passed" : status.rawValue)
    }
}

/// What a run was started with; `resume` reuses it.
public struct RunOptions: Sendable, Codable, Equatable {
    public var dryRun = false
    public var fromStep: String?
    public var onlySteps: [String] = []
    public var tags: [String] = []
    public var skipTags: [String] = []
    public var yes = false
    /// The drill this run is a repetition of (`ferry drill`), and which one (1-based).
    public var drill: String?
    public var repetition: Int?
    /// The run's times are the simulated region's virtual clock, not the wall clock.
    public var virtualTime: Bool?
    /// `--computes N` of a simulated region.
    public var computes: Int?
    /// The run's inputs (`--vars FILE`, `-e KEY=VALUE`; ``RunInputs``), over the region's
    /// vars in `ctx.vars`. Secret references stay references. nil: none were given.
    public var vars: [String: LuaValue]?
    /// The unfinished run of the region this run was started over (`--supersede RUN`):
    /// that run was neither resumed nor rolled back first.
    public var supersedes: String?
    /// `--limit PATTERN`: per-host steps act only on the hosts it selects (``HostSelector``
    /// syntax, like a step's `on`); a resume keeps it.
    public var limit: String?
    public init() {}
}

public struct StepRecord: Sendable {
    public enum Status: String, Sendable { case running, done, failed, skipped, irreversible, waiting }
    public var runID: String
    public var index: Int
    public var phase: Invocation.Phase
    public var name: String
    public var status: Status
    public var startedAt: Date?
    public var endedAt: Date?
    public var hostsTotal: Int
    public var hostsOK: Int
    public var hostsFailed: Int
    public var message: String?
    public var state: LuaValue?
    public var duration: Double? { endedAt.flatMap { e in startedAt.map { e.timeIntervalSince($0) } } }
}

public struct HostRecord: Sendable {
    public enum Status: String, Sendable { case started, ok, failed }
    public var host: String
    public var status: Status
    public var attempts: Int
    public var exitCode: Int?
    public var duration: Double?
    public var startedAt: Date?
    public var endedAt: Date?
    public var message: String?
    public var stdoutTail: String?
    public var stderrTail: String?
    public var hostState: LuaValue?
    public var wave: Int?
}

public struct EventRecord: Sendable {
    public var at: Date
    public var kind: String
    public var stepIndex: Int?
    public var host: String?
    public var level: String?
    public var message: String
}

public struct CheckRecord: Sendable {
    public var stepIndex: Int?
    public var name: String
    public var phase: String
    public var passed: Bool
    public var message: String?
    public var at: Date
    public var duration: Double
    public var attempts: Int
}
