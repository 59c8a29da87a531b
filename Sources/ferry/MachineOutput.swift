import ArgumentParser
import FerryCore
import Foundation
import Synchronization

/// Options for driving a run from CI or chat: an event stream, approvals by step, a hook.
struct MachineOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the run as NDJSON events on stdout (one JSON object per line, ISO-8601 UTC times); the human progress stays on stderr.")
    var json = false
    @Option(name: .long, help: ArgumentHelp("Approve this step's confirm without asking (repeatable); other confirms are asked on a terminal or stop the run.", valueName: "step"))
    var approve: [String] = []
    @Flag(name: .shortAndLong, help: "Print only failures and each step's end (stderr).") var quiet = false
    @Flag(name: .shortAndLong, help: "Print every host, wave and check as it finishes (stderr).") var verbose = false
    @Option(name: .long, help: ArgumentHelp("Run this command (/bin/sh -c) with the event's JSON on stdin when the run waits for approval, a step or the run fails, or the run finishes. Adds to the region's notify:.", valueName: "command"))
    var notify: String?

    /// The observers of a run: the terminal's progress (stderr), the NDJSON stream, the hooks.
    func observer(region: Region, yes: Bool) -> any RunObserver {
        var observers: [any RunObserver] = [TerminalProgress(verbosity: quiet ? .quiet : verbose ? .verbose : .normal)]
        if json { observers.append(EventStream { line in Console.outRaw(line) }) }
        if let hook = notifyHook(region: region, answered: yes ? nil : Set(approve)) { observers.append(hook) }
        return observers.count == 1 ? observers[0] : Observers(observers)
    }

    /// The region's `notify:` and `--notify`, if either is given. `answered`: the confirms
    /// nobody waits for (nil: all of them).
    func notifyHook(region: Region, answered: Set<String>?) -> NotifyHook? {
        let hooks = (region.notify.map { [$0] } ?? []) + (notify.map { [NotifySettings(command: $0)] } ?? [])
        return hooks.isEmpty ? nil : NotifyHook(hooks: hooks, answered: answered)
    }

    /// `--yes` approves everything; `--approve STEP` that step; others are asked.
    func approvals(yes: Bool) -> any ApprovalProvider {
        if yes { return ApproveAll() }
        return approve.isEmpty ? TerminalApprovals() : StepApprovals(steps: Set(approve), otherwise: TerminalApprovals())
    }

    /// Every `--approve` names a step of the runbook.
    func validate(_ runbook: Runbook) throws {
        let names = runbook.steps.map(\.name)
        for step in approve where !names.contains(step) {
            let near = nearest(to: step, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw FerryError.usage("--approve \(step): the runbook has no step of that name\(near)")
        }
    }
}

/// Several observers, in order.
struct Observers: RunObserver {
    let all: [any RunObserver]
    init(_ all: [any RunObserver]) { self.all = all }
    func handle(_ event: EngineEvent) { for o in all { o.handle(event) } }
}

/// `--approve STEP`: those steps' confirms are approved; the others go to `otherwise`.
struct StepApprovals: ApprovalProvider {
    let steps: Set<String>
    let otherwise: any ApprovalProvider
    func approve(step: String, question: String) async -> Bool? {
        steps.contains(step) ? true : await otherwise.approve(step: step, question: question)
    }
    func approver(for step: String) -> String { steps.contains(step) ? "--approve \(step)" : otherwise.approver(for: step) }
}

/// Engine events as JSON objects: `{"event": "step_finished", "time": "2026-12-07T16:20:01.123Z", …}`.
/// Successful hosts are counted in `step_finished`, failed ones get an event each.
enum EventJSON {
    static func time(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    static func object(_ event: EngineEvent, at date: Date = Date()) -> [String: Any]? {
        var o: [String: Any]
        switch event {
        case .runStarted(let id, let runbook, let steps, let resumed, let phase):
            o = ["event": phase == .undo ? "rollback_started" : "run_started", "run": id, "runbook": runbook, "steps": steps, "resumed": resumed]
        case .stepStarted(let index, let name, let phase, let hosts):
            o = ["event": "step_started", "step": name, "index": index + 1, "phase": phase.rawValue, "hosts": hosts]
        case .stepSkipped(let index, let name, let reason):
            o = ["event": "step_skipped", "step": name, "index": index + 1, "reason": reason]
        case .waveStarted(let index, let wave, let size):
            o = ["event": "wave_started", "index": index + 1, "wave": wave, "hosts": size]
        case .hostFinished(let index, let host, let ok, let duration, let message):
            guard !ok else { return nil }
            o = ["event": "host_failed", "index": index + 1, "host": host, "duration": duration, "message": message ?? "failed"]
        case .stepFinished(let index, let name, let phase, let status, let duration, let ok, let failed, let message):
            o = ["event": "step_finished", "step": name, "index": index + 1, "phase": phase.rawValue, "status": status.rawValue,
                 "duration": duration, "ok": ok, "failed": failed]
            if let message { o["message"] = message }
        case .checkFinished(let name, let phase, let passed, let message):
            o = ["event": "check", "check": name, "phase": phase, "passed": passed]
            if let message { o["message"] = message }
        case .log(let line):
            o = ["event": "log", "level": line.level.rawValue, "message": line.message]
            if let i = line.invocation {
                o["step"] = i.stepName
                if let h = i.host { o["host"] = h }
            }
        case .waitingForApproval(let step, let question):
            o = ["event": "waiting_for_approval", "step": step, "question": question]
        case .approvalDecided(let step, let approved, let by):
            o = ["event": "approval", "step": step, "approved": approved, "by": by]
        case .runFinished(let outcome):
            o = ["event": "finished", "run": outcome.runID, "status": outcome.displayStatus, "phase": outcome.phase.rawValue]
            if outcome.dryRun { o["dry_run"] = true }
            if let m = outcome.message { o["message"] = m }
            if let s = outcome.step { o["step"] = s }
            if !outcome.failedHosts.isEmpty {
                o["failed_hosts"] = outcome.failedHosts.map { ["host": $0.host, "message": $0.message] }
            }
            if !outcome.remaining.isEmpty { o["remaining"] = outcome.remaining }
        }
        o["time"] = time(date)
        return o
    }

    static func line(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// `--json` on run, resume, rollback and drill: one line per event.
final class EventStream: RunObserver {
    private let write: @Sendable (String) -> Void
    private let lock = Mutex(())
    /// The run the events belong to (set by the first event that names it).
    private let run = Mutex<String?>(nil)
    let extra: [String: String]

    init(extra: [String: String] = [:], write: @escaping @Sendable (String) -> Void) {
        self.write = write
        self.extra = extra
    }

    func handle(_ event: EngineEvent) {
        guard var o = EventJSON.object(event) else { return }
        if case .runStarted(let id, _, _, _, _) = event { run.withLock { $0 = id } }
        if o["run"] == nil, let id = run.withLock({ $0 }) { o["run"] = id }
        for (k, v) in extra { o[k] = v }
        let text = EventJSON.line(o)
        lock.withLock { _ in write(text) }
    }
}

/// Runs the region's `notify:` command (and `--notify`) on the events they ask for, with the
/// event's JSON on stdin and `FERRY_EVENT` set; waits for it (at most 30 s: a hook that hangs
/// is killed and reported, the run goes on).
final class NotifyHook: RunObserver {
    let hooks: [NotifySettings]
    /// Steps whose confirm is answered without anyone (`--approve`); nil: all (`--yes`).
    let answered: Set<String>?
    private let run = Mutex<String?>(nil)

    init(hooks: [NotifySettings], answered: Set<String>? = []) {
        self.hooks = hooks
        self.answered = answered
    }

    /// Which notify event an engine event is, if any.
    static func kind(_ event: EngineEvent) -> String? {
        switch event {
        case .waitingForApproval: return "waiting"
        case .stepFinished(_, _, _, let status, _, _, _, _): return status == .failed ? "failed" : nil
        case .runFinished(let outcome):
            return [.failed, .rollbackFailed].contains(outcome.status) ? "failed" : "finished"
        default: return nil
        }
    }

    func handle(_ event: EngineEvent) {
        if case .runStarted(let id, _, _, _, _) = event { run.withLock { $0 = id } }
        guard let kind = Self.kind(event), var o = EventJSON.object(event) else { return }
        // Nobody waits for a confirm that --yes or --approve answers.
        if case .waitingForApproval(let step, _) = event, answered.map({ $0.contains(step) }) ?? true { return }
        if o["run"] == nil, let id = run.withLock({ $0 }) { o["run"] = id }
        o["notify"] = kind
        let input = Data(EventJSON.line(o).utf8)
        for hook in hooks where hook.events.contains(kind) {
            Self.call(hook.command, kind: kind, input: input)
        }
    }

    static func call(_ command: String, kind: String, input: Data, timeout: Double = 30) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        var env = ProcessInfo.processInfo.environment
        env["FERRY_EVENT"] = kind
        p.environment = env
        let stdin = Pipe()
        p.standardInput = stdin
        p.standardOutput = FileHandle.standardError
        p.standardError = FileHandle.standardError
        do {
            try p.run()
        } catch {
            Console.error("ferry: notify hook \(command) could not start: \(error)")
            return
        }
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        if !p.isRunning { done.signal() }
        if done.wait(timeout: .now() + timeout) == .timedOut {
            p.terminate()
            Console.error("ferry: notify hook \(command) did not finish within \(Int(timeout))s; stopped it")
            return
        }
        if p.terminationStatus != 0 {
            Console.error("ferry: notify hook \(command) exited \(p.terminationStatus) on \(kind)")
        }
    }
}

extension Console {
    /// Writes machine output (NDJSON) to stdout as it is.
    static func outRaw(_ s: String) { try? FileHandle.standardOutput.write(contentsOf: Data(s.utf8)) }
}
