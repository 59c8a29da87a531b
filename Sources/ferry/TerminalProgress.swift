import FerryCore
import Foundation
import Synchronization

/// Shows a run as it goes: on a terminal, a live line per per-host step (done /
/// total / failed / ETA); otherwise plain lines, one per step and per failed host.
///
/// Without a terminal a per-host step of 20 hosts or more also prints a progress line at
/// each tenth of its hosts (`1200/2000 done, 3 failed, ETA 4m10s`). `-q` keeps only
/// failures and the end of each step; `-v` prints every host. A dry run's `[dry run] HOST:
/// would …` lines are printed once per step and distinct action, with a host count, when
/// the step ends (`-v`: each as it comes; the journal keeps each). Marks are coloured on a
/// terminal unless `NO_COLOR` is set (https://no-color.org).
final class TerminalProgress: RunObserver {
    enum Verbosity: Sendable { case quiet, normal, verbose }
    private struct StepProgress {
        var name = ""
        var total = 0
        var done = 0
        var failed = 0
        var started = Date()
        var lastDraw = Date.distantPast
        var tenths = 0
    }
    private let state = Mutex(StepProgress())
    /// The whole run, for the terminal's `step 3/12, 4m10s elapsed, run ETA ~9m` (a run, not a
    /// rollback): `finished` counts the steps this process ran to their end, `current` is
    /// the position of the step running.
    private struct RunProgress {
        var total = 0
        var started = Date()
        var finished = 0
        var current = 0
        var undo = false
    }
    private let runState = Mutex(RunProgress())
    /// A dry run's `[dry run] HOST: would …` lines of the current step, one group per
    /// distinct action in the order first seen, with the hosts it was for (printed when
    /// the step ends, unless `-v`).
    private let dryRun = Mutex<(order: [String], hosts: [String: [String]])>(([], [:]))
    private let live = Console.isTerminal
    let verbosity: Verbosity

    init(verbosity: Verbosity = .normal) { self.verbosity = verbosity }

    static let colour = Console.isTerminal && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
    static func painted(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
    static let ok = painted("✓", "32")
    static let bad = painted("✗", "31")

    func handle(_ event: EngineEvent) {
        switch event {
        case .runStarted(let id, let runbook, let steps, let resumed, let phase):
            runState.withLock { $0 = RunProgress(total: steps, started: Date(), undo: phase == .undo) }
            let verb = phase == .undo ? "Rolling back" : (resumed ? "Resuming" : "Running")
            Console.error("\(verb) \(runbook): run \(id), \(steps) step(s)")
        case .stepStarted(let index, let name, let phase, let hosts):
            state.withLock { $0 = StepProgress(name: name, total: hosts, started: Date()) }
            runState.withLock { $0.current = index + 1 }
            let what = phase == .undo ? "undo " : ""
            let whole = runLine().map { "   [\($0)]" } ?? ""
            if verbosity != .quiet { Console.error("→ \(index + 1). \(what)\(name)\(hosts > 0 ? " on \(hosts) host(s)" : "")\(whole)") }
        case .stepSkipped(let index, let name, let reason):
            if verbosity != .quiet { Console.error("- \(index + 1). \(name): skipped (\(reason))") }
        case .waveStarted(_, let wave, let size):
            if verbosity == .verbose { Console.error("   wave \(wave): \(size) host(s)") }
        case .hostFinished(_, let host, let ok, let duration, let message):
            if ok, verbosity == .verbose { Console.error("   \(Self.ok) \(host) (\(DurationText.format(duration)))") }
            let line: String? = state.withLock { s in
                if ok { s.done += 1 } else { s.failed += 1 }
                guard live else {
                    // No terminal: a line at each tenth of a step's hosts.
                    let finished = s.done + s.failed
                    guard verbosity == .normal, s.total >= 20, finished < s.total, finished * 10 / s.total > s.tenths else { return nil }
                    s.tenths = finished * 10 / s.total
                    let elapsed = Date().timeIntervalSince(s.started)
                    let eta = DurationText.format(elapsed / Double(finished) * Double(s.total - finished))
                    return "   \(finished)/\(s.total) done, \(s.failed) failed, ETA \(eta)\n"
                }
                guard verbosity != .quiet else { return nil }
                let now = Date()
                if now.timeIntervalSince(s.lastDraw) < 0.1 && s.done + s.failed < s.total { return nil }
                s.lastDraw = now
                let finished = s.done + s.failed
                let elapsed = now.timeIntervalSince(s.started)
                var eta = ""
                if finished > 0 && finished < s.total {
                    eta = ", ETA " + DurationText.format(elapsed / Double(finished) * Double(s.total - finished))
                }
                return "\r   \(s.done)/\(s.total) done, \(s.failed) failed\(eta)\(runLine().map { " · \($0)" } ?? "")\u{1B}[K"
            }
            if !ok {
                if live { Console.errorRaw("\r\u{1B}[K") }
                Console.error("   \(Self.bad) \(host): \(message ?? "failed")")
            }
            if let line { Console.errorRaw(line) }
        case .stepFinished(let index, let name, let phase, let status, let duration, let ok, let failed, let message):
            if live { Console.errorRaw("\r\u{1B}[K") }
            runState.withLock { $0.finished += 1 }
            flushDryRun()
            let mark = status == .done ? Self.ok : Self.bad
            let counts = ok + failed > 0 ? " (\(ok) ok, \(failed) failed)" : ""
            let what = phase == .undo ? "undo " : ""
            var text = "\(mark) \(index + 1). \(what)\(name) \(status.rawValue) in \(DurationText.format(duration))\(counts)"
            if status != .done, let message { text += ": \(message)" }
            Console.error(text)
        case .checkFinished(let name, let phase, let passed, let message):
            if live { Console.errorRaw("\r\u{1B}[K") }
            if !passed || phase == "standalone" || verbosity == .verbose {
                Console.error("   \(passed ? Self.ok : Self.bad) check \(name) (\(phase))\(message.map { ": \($0)" } ?? "")")
            }
        case .log(let line):
            if verbosity == .quiet && line.level == .info { return }
            if verbosity == .normal, line.level == .info, let found = Self.dryRunAction(line) {
                dryRun.withLock { d in
                    if d.hosts[found.action] == nil { d.order.append(found.action) }
                    d.hosts[found.action, default: []].append(found.host)
                }
                return
            }
            let host = line.invocation?.host.map { "\($0): " } ?? ""
            if live { Console.errorRaw("\r\u{1B}[K") }
            Console.error("   [\(line.level.rawValue)] \(host)\(line.message)")
        case .waitingForApproval:
            break
        case .approvalDecided(let step, let approved, let by):
            Console.error("   \(approved ? "approved" : "declined") by \(by): \(step)")
        case .runFinished:
            flushDryRun()
        }
    }

    /// On a terminal, where the whole run stands: `step 3/12, 4m10s elapsed, run ETA ~9m`.
    /// The ETA is an estimate from the plan's step count: the steps left (this one included)
    /// times the mean time of the steps this process finished. nil off a terminal, in a
    /// rollback, or before the run started.
    private func runLine() -> String? {
        guard live else { return nil }
        let r = runState.withLock { $0 }
        guard !r.undo, r.total > 0, r.current > 0 else { return nil }
        let elapsed = Date().timeIntervalSince(r.started)
        var text = "step \(min(r.current, r.total))/\(r.total), \(DurationText.format(elapsed)) elapsed"
        if r.finished > 0 {
            let left = max(1, r.total - r.current + 1)
            text += ", run ETA ~\(DurationText.format(elapsed / Double(r.finished) * Double(left)))"
        }
        return text
    }

    /// A dry run's `[dry run] HOST: would run `cmd`` as the action without the host, and the host.
    static func dryRunAction(_ line: LogLine) -> (action: String, host: String)? {
        guard line.message.hasPrefix("[dry run] ") else { return nil }
        let rest = line.message.dropFirst("[dry run] ".count)
        if let colon = rest.range(of: ": would "), !rest[..<colon.lowerBound].contains(" ") {
            let host = String(rest[..<colon.lowerBound])
            return (placeholder(host, in: "would " + rest[colon.upperBound...]), host)
        }
        let host = line.invocation?.host ?? "-"
        return (placeholder(host, in: String(rest)), host)
    }

    /// `action` with the host's own name, where it stands as a name, written `{host}`: a
    /// command that names its host (`echo cmp001 >> …`) groups with the other hosts' own.
    static func placeholder(_ host: String, in action: String) -> String {
        guard host.count >= 2,
            let re = try? NSRegularExpression(pattern: "(?<![A-Za-z0-9_-])" + NSRegularExpression.escapedPattern(for: host) + "(?![A-Za-z0-9_-])")
        else { return action }
        return re.stringByReplacingMatches(in: action, range: NSRange(action.startIndex..., in: action), withTemplate: "{host}")
    }

    /// Prints the step's dry-run actions, one line each with its host count.
    private func flushDryRun() {
        let groups = dryRun.withLock { d in
            defer { d = ([], [:]) }
            return d.order.map { ($0, d.hosts[$0] ?? []) }
        }
        for (action, hosts) in groups {
            var seen = Set<String>()
            // Sorted: hosts finish in any order, the line is the same each time.
            let distinct = hosts.filter { seen.insert($0).inserted }.sorted()
            let names = distinct.count <= 5 ? distinct.joined(separator: ", ")
                : distinct.prefix(3).joined(separator: ", ") + ", … and \(distinct.count - 3) more"
            let times = hosts.count > distinct.count ? ", \(hosts.count) times" : ""
            Console.error("   [dry run] \(action) on \(distinct.count) host(s)\(times): \(names)")
        }
    }
}

/// Asks `confirm` questions on the controlling terminal.
struct TerminalApprovals: ApprovalProvider {
    func approver(for step: String) -> String { "\(ProcessInfo.processInfo.environment["USER"] ?? "the operator") at the terminal" }

    func approve(step: String, question: String) async -> Bool? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        Console.errorRaw("\n?? \(TerminalText.neutralized(question))\n   Type 'yes' to continue, anything else to stop: ")
        guard let answer = await Self.readAnswer() else { return nil }
        return answer.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
    }

    /// One line from stdin, or nil at its end or as soon as the task is cancelled (Ctrl-C
    /// or SIGTERM at the prompt stops the run; `readLine` alone would block until Enter).
    /// The read happens on a thread of its own, never on one of the shared pool's.
    static func readAnswer() async -> String? {
        final class Once: Sendable {
            let continuation = Mutex<CheckedContinuation<String?, Never>?>(nil)
            func resume(_ value: String?) { continuation.withLock { $0.take() }?.resume(returning: value) }
        }
        let once = Once()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
                once.continuation.withLock { $0 = c }
                if Task.isCancelled { return once.resume(nil) }
                Thread.detachNewThread { once.resume(readLine(strippingNewline: true)) }
            }
        } onCancel: {
            once.resume(nil)
        }
    }
}

extension Console {
    /// Writes Ferry's own text as it is (progress lines with `\r` and `ESC [K`): never
    /// give it text from a host or a runbook without ``TerminalText/neutralized(_:)``.
    static func errorRaw(_ s: String) { try? FileHandle.standardError.write(contentsOf: Data(s.utf8)) }
}
