import Foundation

/// What the engine reports as it goes. The terminal display and tests observe it;
/// the journal is written by the engine itself, since durability orders its work.
public enum EngineEvent: Sendable {
    case runStarted(runID: String, runbook: String, steps: Int, resumed: Bool, phase: Invocation.Phase)
    case stepStarted(index: Int, name: String, phase: Invocation.Phase, hosts: Int)
    case stepSkipped(index: Int, name: String, reason: String)
    case waveStarted(index: Int, wave: Int, size: Int)
    case hostFinished(index: Int, host: String, ok: Bool, duration: Double, message: String?)
    case stepFinished(index: Int, name: String, phase: Invocation.Phase, status: StepRecord.Status, duration: Double,
                      ok: Int, failed: Int, message: String?)
    case checkFinished(name: String, phase: String, passed: Bool, message: String?)
    case log(LogLine)
    case waitingForApproval(step: String, question: String)
    /// A confirm answered: approved or declined, and by whom (`--yes`, `--approve STEP`, the
    /// operator at the terminal).
    case approvalDecided(step: String, approved: Bool, by: String)
    case runFinished(outcome: RunOutcome)
}

public protocol RunObserver: Sendable {
    func handle(_ event: EngineEvent)
}

/// Observers that do nothing, or several at once.
public struct NoObserver: RunObserver {
    public init() {}
    public func handle(_ event: EngineEvent) {}
}

/// Answers `confirm` questions.
public protocol ApprovalProvider: Sendable {
    /// true: go on; false: the operator said no; nil: nobody can answer (no terminal).
    func approve(step: String, question: String) async -> Bool?
    /// Who answers for `step`, as the journal and the report name it.
    func approver(for step: String) -> String
}

extension ApprovalProvider {
    public func approver(for step: String) -> String { "the operator" }
}

/// `--yes`: every question is approved.
public struct ApproveAll: ApprovalProvider {
    public init() {}
    public func approve(step: String, question: String) async -> Bool? { true }
    public func approver(for step: String) -> String { "--yes" }
}

/// No terminal and no `--yes`: the run stops, resumable.
public struct NobodyToAsk: ApprovalProvider {
    public init() {}
    public func approve(step: String, question: String) async -> Bool? { nil }
}

/// How a run (or a rollback) ended.
public struct RunOutcome: Sendable {
    public var runID: String
    public var status: RunRecord.Status
    public var message: String?
    /// The step that failed or waits, if any.
    public var step: String?
    /// Hosts that failed in that step, with why.
    public var failedHosts: [(host: String, message: String)]
    /// Steps not yet run (for a run) or not yet undone (for a rollback).
    public var remaining: [String]
    /// Steps skipped in a rollback because they have no undo.
    public var irreversible: [String]
    /// Whether this ended a run (`.run`) or a rollback (`.undo`).
    public var phase: Invocation.Phase = .run
    /// A dry run's end: nothing was changed, and there is nothing to resume or roll back.
    public var dryRun = false

    /// `succeeded`, `failed`…; a dry run's `dry_run_passed`, `dry_run_failed`… (``RunRecord/displayStatus``).
    public var displayStatus: String {
        guard dryRun else { return status.rawValue }
        return "dry_run_" + (status == .succeeded ? "passed" : status.rawValue)
    }

    public var exitCode: Int32 {
        switch status {
        case .succeeded, .rolledBack: return 0
        case .waiting, .interrupted, .running, .rollingBack: return 3
        case .failed, .rollbackFailed: return 1
        }
    }
}
