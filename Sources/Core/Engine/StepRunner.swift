import Foundation
import LuaBridge
import Synchronization

/// Runs one step (its `run`, or its `undo` in a rollback): checks before, the
/// function once or per host in waves, retries, timeouts, checks after, and the
/// journal records that make it resumable.
struct StepRunner {
    let engine: Engine
    let runID: String
    let step: StepDefinition
    let ctx: LuaRef
    let phase: Invocation.Phase
    /// A dry run changed nothing, so a check that needs an earlier step's change fails
    /// for that reason alone: it is reported as a warning and the dry run goes on.
    var dryRun = false
    /// `--limit`: the hosts a per-host step may act on (nil: all it selects).
    var limit: Set<String>?

    struct Result {
        var succeeded: Bool
        var message: String?
        var failedHosts: [(String, String)] = []
    }

    var vm: LuaVM { engine.vm }
    var journal: RunJournal { engine.journal }
    var observer: any RunObserver { engine.observer }
    var function: LuaRef { phase == .undo ? step.undo! : step.run }

    func warnDry(_ message: String) {
        let text = "[dry run] " + message + " (nothing ran before it for real)"
        journal.event(runID, kind: "warning", stepIndex: step.index, level: "warn", message: text)
        observer.handle(.log(LogLine(level: .warn, message: text, invocation: nil)))
    }

    func execute(previous: StepRecord?, hostsFilter: [String: HostRecord]? = nil) async throws -> Result {
        let clock = engine.clock
        clock.enter(step: step.name)
        defer { clock.enter(step: nil) }
        let started = clock.now()
        let checks = CheckRunner(engine: engine, runID: runID, ctx: ctx)

        if phase == .run {
            for reference in step.before {
                let outcome = try await checks.run(reference, phase: "before", step: step)
                if !outcome.passed && dryRun {
                    warnDry("check \(reference.label) before \(step.name) would fail now: \(outcome.message ?? "no reason given")")
                } else if !outcome.passed {
                    let message = "check \(reference.label) before \(step.name) failed: \(outcome.message ?? "no reason given")"
                    try await journal.stepFinished(runID, step.index, phase, name: step.name, status: .failed, message: message, state: nil)
                    observer.handle(.stepFinished(index: step.index, name: step.name, phase: phase, status: .failed,
                                                  duration: clock.now().timeIntervalSince(started), ok: 0, failed: 0, message: message))
                    return Result(succeeded: false, message: message)
                }
            }
        }

        var result: Result
        var counts = (ok: 0, failed: 0)
        if step.isPerHost {
            let hostRun = try await HostStepRunner(runner: self).execute(hostsFilter: hostsFilter)
            result = hostRun.result
            counts = (hostRun.ok, hostRun.failed)
        } else {
            try await journal.stepStarted(runID, step.index, phase, name: step.name, hostsTotal: 0)
            observer.handle(.stepStarted(index: step.index, name: step.name, phase: phase, hosts: 0))
            let invocation = Invocation(stepIndex: step.index, stepName: step.name, phase: phase)
            do {
                try await withRetries(invocation) { invocation in
                    _ = try await withTimeout(step.timeout, clock: engine.clock, lane: nil, what: "step \(step.name)") {
                        try await vm.call(function, [.ref(ctx)], context: invocation)
                    }
                }
                result = Result(succeeded: true)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                result = Result(succeeded: false, message: Self.describe(error))
            }
            // A full disk fails the step even when its function caught the error.
            if let failure = engine.localWrites.failure {
                result = Result(succeeded: false, message: "stopped: \(failure); free space there, then resume")
            }
        }

        if result.succeeded && phase == .run {
            for reference in step.after {
                let outcome = try await checks.run(reference, phase: "after", step: step)
                if !outcome.passed && dryRun {
                    warnDry("check \(reference.label) after \(step.name) would fail now: \(outcome.message ?? "no reason given")")
                } else if !outcome.passed {
                    result = Result(succeeded: false,
                                    message: "check \(reference.label) after \(step.name) failed: \(outcome.message ?? "no reason given")")
                    break
                }
            }
        }

        // ctx.state is saved after every step, also a failed one: undo needs what run() left.
        let state = try await engine.currentState(ctx)
        let status: StepRecord.Status = result.succeeded ? .done : .failed
        try await journal.stepFinished(runID, step.index, phase, name: step.name, status: status, message: result.message,
                                       state: state, hostsOK: counts.ok, hostsFailed: counts.failed)
        observer.handle(.stepFinished(index: step.index, name: step.name, phase: phase, status: status,
                                      duration: clock.now().timeIntervalSince(started), ok: counts.ok, failed: counts.failed,
                                      message: result.message))
        return result
    }

    /// Runs `body` up to `retries + 1` times, `retry_delay` apart.
    func withRetries<T: Sendable>(_ invocation: Invocation, _ body: (Invocation) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            var current = invocation
            current.attempt = attempt
            if let t = step.timeout {
                current.deadline = engine.clock.reading(host: invocation.host) + t
            }
            do {
                return try await body(current)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if attempt > step.retries { throw error }
                let host = invocation.host.map { " on \($0)" } ?? ""
                observer.handle(.log(LogLine(level: .warn, message: "\(step.name)\(host): attempt \(attempt) failed (\(Self.describe(error))); retrying in \(DurationText.format(step.retryDelay))", invocation: invocation)))
                journal.event(runID, kind: "retry", stepIndex: step.index, host: invocation.host, level: "warn",
                              message: "attempt \(attempt) failed: \(Self.describe(error))")
                attempt += 1
                try await engine.clock.sleep(step.retryDelay, host: invocation.host)
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? LuaError { return e.message }
        return String(describing: error)
    }
}

