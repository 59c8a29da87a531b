import Foundation

/// What `ferry report` shows, read from the journal: one run's timeline, or the
/// repetitions of a drill compared. `--json` prints it as it is; ``HTMLReport``
/// draws it. Times inside a run are offsets in seconds from the run's start, so
/// the same numbers serve wall-clock and simulated runs.
public struct Report: Sendable, Codable {
    public enum Kind: String, Sendable, Codable { case run, drill }

    public var kind: Kind
    public var generatedAt: Date
    /// The run (kind `run`), or every repetition of the drill in order.
    public var runs: [RunTimeline]
    /// Present for kind `drill`.
    public var drill: DrillSummary?

    public init(kind: Kind, generatedAt: Date = Date(), runs: [RunTimeline], drill: DrillSummary? = nil) {
        self.kind = kind
        self.generatedAt = generatedAt
        self.runs = runs
        self.drill = drill
    }

    /// The JSON that `ferry report --json` prints (ISO 8601 dates, sorted keys).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> Report {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Report.self, from: data)
    }
}

/// One run: its steps in the order they ran, the upgrade and the rollback.
public struct RunTimeline: Sendable, Codable {
    public var id: String
    /// The runbook's declared name, and the path it was loaded from.
    public var runbook: String
    public var runbookPath: String
    public var region: String
    /// The run's status; `interrupted` when the journal says running but its process is gone.
    public var status: String
    public var message: String?
    /// `run` or `dry-run`.
    public var kind: String
    public var drill: String?
    public var repetition: Int?
    /// Times are the simulated region's virtual clock.
    public var simulatedTime: Bool
    /// Offsets count from here.
    public var startedAt: Date
    public var endedAt: Date?
    /// From the start to the last thing the journal saw, in seconds.
    public var duration: Double
    /// The forward steps (phase `run`) and the undo steps (phase `undo`), when any ran.
    public var upgrade: PhaseSpan?
    public var rollback: PhaseSpan?
    public var steps: [StepTimeline]
    public var checks: [RunTimeline.Check]
    /// Operator decisions, retries, adaptive wave changes, warnings and errors.
    public var events: [RunTimeline.Event]
    /// Notable events left out to keep the report readable (the journal has them all).
    public var omittedEvents: Int
    /// What the (simulated) region ran without judging, once per distinct command, in the
    /// order it was first run (docs/simulation.md#what-is-judged).
    public var unjudged: [RunTimeline.Unjudged] = []
    /// The run's inputs (`-e`, `--vars`) as `KEY=VALUE`, secret references as references.
    public var inputs: [String] = []
    /// The processes that ran it: one for a run never resumed; one more per `ferry resume`
    /// (the journal's `resume` events), each with where the one before it stopped.
    public var attempts: [RunTimeline.Attempt] = []
    /// The runbook the run ran, as journaled: the SHA-256 digest of its files
    /// (``RunbookSnapshot/digest``), the git commit of its checkout (`-dirty` when its
    /// directory had changes; nil outside a checkout or for a run journaled before
    /// schema version 4), and how many versions the run journaled (more than 1 after a
    /// `--runbook-changed=use-new`). nil digest: a run journaled before Ferry kept runbooks.
    public var runbookDigest: String?
    public var runbookCommit: String?
    public var runbookVersions: Int?
    /// The operator approvals of the run's `confirm` questions and of its rollback
    /// (journal `decision` events), in order.
    public var approvals: [RunTimeline.Approval] = []

    /// The steps of one phase, in the order they ran.
    public func steps(_ phase: String) -> [StepTimeline] { steps.filter { $0.phase == phase } }

    /// The step a check ran for: the one of its index whose time holds the check's.
    public func step(of check: Check) -> StepTimeline? {
        guard let index = check.stepIndex else { return nil }
        let candidates = steps.filter { $0.index == index }
        return candidates.first { check.at >= $0.start - 1 && check.at <= $0.end + 1 } ?? candidates.first
    }

    /// A failed check its step got past: a gate that held a wave until it passed
    /// again, a check retried within its `within`. Not a failure of the run.
    public func recovered(_ check: Check) -> Bool {
        !check.passed && step(of: check)?.status == "done"
    }
}

/// The time a phase (upgrade or rollback) took: first step start to last step end.
public struct PhaseSpan: Sendable, Codable {
    public var start: Double
    public var end: Double
    public var duration: Double
    public var steps: Int
    public var failedSteps: Int
    public var failedHosts: Int
}

public struct StepTimeline: Sendable, Codable {
    /// Position in the runbook, from 0 (`plan` and `status` show it from 1).
    public var index: Int
    public var name: String
    /// `run` or `undo`.
    public var phase: String
    /// `done`, `failed`, `skipped`, `irreversible`, `waiting`, `running`; `interrupted`
    /// for a step that was running when its process went away.
    public var status: String
    public var start: Double
    public var end: Double
    public var duration: Double
    /// The step had not finished when the report was made.
    public var finished: Bool
    public var hostsTotal: Int
    public var hostsOK: Int
    public var hostsFailed: Int
    /// Hosts that needed more than one attempt.
    public var hostsRetried: Int
    public var message: String?
    /// Host waves, in order; one wave without a number for a per-host step without `batch`.
    public var waves: [WaveSpan]
    /// The first failed hosts (up to ``StepTimeline/failedHostLimit``); `hostsFailed` counts all.
    public var failedHosts: [StepTimeline.FailedHost]

    /// The distinct messages of its failed hosts, in the order they first failed, each with
    /// how many hosts failed with it (all of them counted; the first ``failureLimit`` messages kept).
    public var failures: [StepTimeline.Failure] = []
    /// The step's `desc`, as journaled when the run started.
    public var desc: String?

    public static let failedHostLimit = 50
    public static let failureLimit = 5
    public var isFailure: Bool { status == "failed" || status == "interrupted" }
}

/// The hosts of one wave, as one bar: thousands of hosts draw as a few waves.
public struct WaveSpan: Sendable, Codable {
    /// The wave's number (1-based), nil when the step has no `batch`.
    public var number: Int?
    /// Which attempt of the run ran it (``RunTimeline/Attempt``), when the run was resumed:
    /// a resume numbers its waves from 1 again, and its waves are never merged with the
    /// earlier attempt's.
    public var attempt: Int?
    public var hosts: Int
    public var ok: Int
    public var failed: Int
    /// Started but never finished (the run stopped while they ran).
    public var unfinished: Int
    public var start: Double
    public var end: Double
    public var duration: Double
    public var meanHostSeconds: Double?
    public var slowestHost: String?
    public var slowestHostSeconds: Double?
}

extension StepTimeline {
    /// One message its failed hosts gave, and how many gave it.
    public struct Failure: Sendable, Codable, Equatable {
        public var message: String
        public var hosts: Int
    }

    /// `restart-agents: 163 hosts failed: Job for … failed: …`, one line per distinct message;
    /// a step that failed without hosts says its own message.
    public var failureLines: [String] {
        if failures.isEmpty { return ["\(name): \(message ?? "failed")"] }
        var lines = failures.map { "\(name): \($0.hosts) host\($0.hosts == 1 ? "" : "s") failed: \($0.message)" }
        let counted = failures.map(\.hosts).reduce(0, +)
        if counted < hostsFailed { lines.append("\(name): \(hostsFailed - counted) more host(s) failed with other messages") }
        return lines
    }

    public struct FailedHost: Sendable, Codable {
        public var host: String
        public var wave: Int?
        public var attempts: Int
        public var exitCode: Int?
        public var message: String?
    }
}

extension RunTimeline {
    public struct Check: Sendable, Codable {
        public var name: String
        /// `before`, `after`, `gate`.
        public var phase: String
        public var stepIndex: Int?
        public var stepName: String?
        public var passed: Bool
        public var message: String?
        /// When the check finished (offset), and how long it tried.
        public var at: Double
        public var duration: Double
        public var attempts: Int
    }
}

extension RunTimeline {
    /// One process's share of a run: the first from the run's start, each later one from
    /// its `resume` event. Offsets as everywhere in the run.
    public struct Attempt: Sendable, Codable, Equatable {
        /// From 1.
        public var number: Int
        public var start: Double
        /// The last thing the journal saw this attempt do.
        public var end: Double
        /// For an attempt a resume followed: how it stopped, `killed` when the journal
        /// holds no stop (the process went away: SIGKILL, a crash, a power cut), else
        /// the run's status then (`failed`, `interrupted`, `waiting`); nil for the last attempt.
        public var stop: String?
        /// Why it stopped, as journaled (nil for `killed` and the last attempt).
        public var stopMessage: String?
    }

    /// A decision on a question: a step's `confirm`, or the rollback's. Parsed from the
    /// journal's `decision` events (`approved by --yes: …`, `approved by --approve STEP: …`,
    /// `approved by USER at the terminal: …`, `declined by …`, `rollback approved by …`).
    public struct Approval: Sendable, Codable, Equatable {
        public var at: Double
        public var stepIndex: Int?
        public var stepName: String?
        /// `approved` or `declined`.
        public var decision: String
        /// What gave it, as journaled: `--yes`, `--approve STEP`, `USER at the terminal`.
        public var by: String
        /// `--yes`, `--approve` or `terminal` (`other` for anything else).
        public var via: String
        /// The operator's user name, for an answer at the terminal.
        public var user: String?
        public var question: String
        /// The rollback's question rather than a step's.
        public var rollback: Bool
    }

    /// A command the region ran without judging it (journal events of kind `unjudged`).
    public struct Unjudged: Sendable, Codable {
        public var stepIndex: Int?
        public var stepName: String?
        public var host: String?
        public var message: String
    }

    public struct Event: Sendable, Codable {
        public var at: Double
        public var kind: String
        public var level: String?
        public var stepIndex: Int?
        /// "undo" for an event of the step's undo (from the time the undo started); nil otherwise.
        public var phase: String?
        public var host: String?
        public var message: String

        public static let limit = 300
    }
}

/// The repetitions of a drill compared: each one's upgrade and rollback, and the
/// spread of every step's time in both directions.
public struct DrillSummary: Sendable, Codable {
    public var id: String
    public var runbook: String
    public var region: String
    public var simulatedTime: Bool
    public var repetitions: [Repetition]
    /// Over the repetitions whose phase finished.
    public var upgrade: DurationStatistics?
    public var rollback: DurationStatistics?
    /// Every step that ran in any repetition, in runbook order.
    public var steps: [StepStatistics]

    public struct Repetition: Sendable, Codable {
        public var number: Int
        public var runID: String
        public var status: String
        public var startedAt: Date
        public var upgradeSeconds: Double?
        public var rollbackSeconds: Double?
        /// The first step that failed, in either direction.
        public var failedStep: String?
        public var message: String?
        /// The upgrade's failing step and its first distinct messages with their host counts
        /// (``StepTimeline/failureLines``); empty when the upgrade did not fail.
        public var upgradeFailure: [String] = []
        /// The rollback's outcome: `rolled back in 4m 10s`, or its failing step and messages.
        public var rollbackOutcome: [String] = []
        /// Every check the drill ran on its own that failed, in the order run:
        /// `check NAME failed after the upgrade: why` (or `after the rollback`).
        public var failedChecks: [String] = []
    }

    /// What any repetition ran without judging, distinct, in the order first seen.
    public var unjudged: [String] = []

    public struct StepStatistics: Sendable, Codable {
        public var index: Int
        public var name: String
        public var upgrade: DurationStatistics?
        public var rollback: DurationStatistics?
    }
}

/// Mean and nearest-rank percentiles of a set of durations (seconds).
public struct DurationStatistics: Sendable, Codable, Equatable {
    public var count: Int
    public var mean: Double
    public var min: Double
    public var p50: Double
    public var p95: Double
    public var max: Double

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        count = sorted.count
        mean = sorted.reduce(0, +) / Double(sorted.count)
        min = sorted[0]
        max = sorted[sorted.count - 1]
        p50 = Self.percentile(sorted, 0.50)
        p95 = Self.percentile(sorted, 0.95)
    }

    /// Nearest rank: the smallest value with at least `q` of the values at or below it.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(sorted.count, Swift.max(1, rank)) - 1]
    }
}
