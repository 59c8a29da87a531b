import Foundation
import LuaBridge
import Synchronization

/// One `ansible.playbook` call: the command line (an `ansible-playbook` or a wrapper such as
/// `kolla-ansible … upgrade`, with Ferry's options appended) and where its event stream goes.
public struct PlaybookRequest: Sendable {
    /// The program and its arguments; a program without a `/` is looked up on `PATH`.
    public var arguments: [String]
    /// The hosts of `--limit` when the caller named hosts (each must end up in the results).
    public var limit: [String]?
    public var environment: [String: String]
    /// The working directory (nil: Ferry's).
    public var directory: String?
    public var timeout: Double?
    /// Where the event stream (one JSON object a line) and standard error are kept.
    public var eventsPath: String?

    public init(arguments: [String], limit: [String]? = nil, environment: [String: String] = [:], directory: String? = nil,
                timeout: Double? = nil, eventsPath: String? = nil)
    {
        (self.arguments, self.limit, self.environment, self.directory, self.timeout, self.eventsPath) =
            (arguments, limit, environment, directory, timeout, eventsPath)
    }

    /// The command as a shell would read it (extra vars are a file: no secret is in it), a
    /// long `--limit` shortened to its first and last hosts and their count.
    public var display: String { shown(limit: { list in
        let hosts = list.split(separator: ",")
        return hosts.count <= 6 ? list : "\(hosts.prefix(3).joined(separator: ",")),…,\(hosts.last!) (\(hosts.count) hosts)"
    }) }

    /// The command with the `--limit` value replaced by `…`: one text for every wave.
    public var shape: String { shown(limit: { _ in "…" }) }

    func shown(limit: (String) -> String) -> String {
        var words: [String] = []
        var afterLimit = false
        for a in arguments {
            words.append(afterLimit ? limit(a) : ShellQuote.quote(a))
            afterLimit = a == "--limit"
        }
        return words.joined(separator: " ")
    }
}

/// A host's line of Ansible's recap.
public struct PlaybookHostStats: Sendable, Equatable {
    public var ok = 0, changed = 0, failures = 0, unreachable = 0, skipped = 0, rescued = 0, ignored = 0
    public init() {}
    var luaValue: LuaValue {
        .map(["ok": .int(Int64(ok)), "changed": .int(Int64(changed)), "failed": .int(Int64(failures)), "unreachable": .int(Int64(unreachable)),
              "skipped": .int(Int64(skipped)), "rescued": .int(Int64(rescued)), "ignored": .int(Int64(ignored))])
    }
}

/// A task that failed on a host (or could not reach it).
public struct PlaybookFailure: Sendable, Equatable {
    public var host: String
    public var task: String
    public var play: String?
    public var message: String
    public var unreachable: Bool
    public init(host: String, task: String, play: String?, message: String, unreachable: Bool) {
        (self.host, self.task, self.play, self.message, self.unreachable) = (host, task, play, message, unreachable)
    }
    /// `task 'Restart nova_compute': non-zero return code` / `unreachable (task 'Gathering Facts'): …`.
    public var summary: String {
        unreachable ? "unreachable (task '\(task)'): \(message)" : "task '\(task)': \(message)"
    }
}

/// What the event stream says as it comes: the engine logs it.
public enum PlaybookEvent: Sendable, Equatable {
    case play(String)
    case task(String)
    case failed(PlaybookFailure)
}

/// How a playbook ended.
public struct PlaybookOutcome: Sendable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var hosts: [String: PlaybookHostStats] = [:]
    public var failures: [PlaybookFailure] = []
    public var plays = 0
    public var tasks = 0
    /// Hosts of `--limit` that ran no task (absent from the inventory, or no play targets them).
    public var missing: [String] = []
    /// The end of standard error (Ansible's `ERROR! …`).
    public var stderr = ""
    /// Lines of standard output that were not events (a wrapper's own output).
    public var otherOutput: [String] = []

    public init(exitCode: Int32?, signal: Int32? = nil) { (self.exitCode, self.signal) = (exitCode, signal) }

    public var succeeded: Bool { exitCode == 0 && failures.isEmpty && missing.isEmpty }

    /// The hosts of `--limit` when the caller named hosts.
    public var limit: [String]?

    /// Each failed host with the first task that failed on it. A playbook that failed as a
    /// whole (a non-zero exit, no host's task failing: a missing playbook, a syntax error, a
    /// kill) failed every host of `limit`: none of them may count as done.
    public var failedHosts: [String: String] {
        var out: [String: String] = [:]
        for f in failures where out[f.host] == nil { out[f.host] = f.summary }
        for h in missing where out[h] == nil { out[h] = "ran no task (not in the inventory, or no play targets it)" }
        if exitCode != 0, out.isEmpty {
            for h in limit ?? [] { out[h] = "the playbook failed before any task failed on a host: \(statusText)" }
        }
        return out
    }

    /// `exited 1: ERROR! the playbook: x.yml could not be found` (the last lines of stderr).
    var statusText: String {
        let status = exitCode.map { "exited \($0)" } ?? "killed by signal \(signal ?? 0)"
        let tail = stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.suffix(3)
        return status + (tail.isEmpty ? "" : ": " + tail.joined(separator: " | "))
    }

    /// `ansible-playbook site.yml …: 2 host(s) failed: cmp001: task 'x': …; …` or the exit and stderr.
    public func failureMessage(_ command: String) -> String {
        let failed = failedHosts
        if !failed.isEmpty, !(failures.isEmpty && missing.isEmpty && exitCode != 0) {
            let list = failed.keys.sorted().prefix(5).map { "\($0): \(failed[$0]!)" }.joined(separator: "; ")
            return "`\(command)`: \(failed.count) host(s) failed: \(list)\(failed.count > 5 ? "; …" : "")"
        }
        return "`\(command)` \(statusText)"
    }

    /// The table `ansible.playbook` returns.
    public func luaValue(command: String, events: String?) -> LuaValue {
        var failed: [String: LuaValue] = [:]
        for (h, why) in failedHosts { failed[h] = .string(why) }
        var hostsTable: [String: LuaValue] = [:]
        for (h, s) in hosts { hostsTable[h] = s.luaValue }
        var t: [String: LuaValue] = [
            "ok": .bool(succeeded), "command": .string(command), "hosts": .map(hostsTable), "failed": .map(failed),
            "failures": .array(failures.map { f in
                .map(["host": .string(f.host), "task": .string(f.task), "message": .string(f.message),
                      "unreachable": .bool(f.unreachable), "play": f.play.map(LuaValue.string) ?? .nil])
            }),
            "plays": .int(Int64(plays)), "tasks": .int(Int64(tasks)), "missing": .array(missing.map(LuaValue.string)),
        ]
        if let exitCode { t["exit_code"] = .int(Int64(exitCode)) }
        if let signal { t["signal"] = .int(Int64(signal)) }
        if let events { t["events"] = .string(events) }
        return .map(t)
    }
}

/// Runs playbooks: Ansible on this machine, or a simulated region's stand-in.
public protocol PlaybookDriver: Sendable {
    func run(_ request: PlaybookRequest, onEvent: @escaping @Sendable (PlaybookEvent) -> Void) async throws -> PlaybookOutcome
}

/// Reads Ferry's callback's event stream, line by line, into an outcome.
public final class PlaybookStream: Sendable {
    private let state = Mutex(PlaybookOutcome(exitCode: nil))
    private let play = Mutex<String?>(nil)
    private let onEvent: @Sendable (PlaybookEvent) -> Void

    public init(onEvent: @escaping @Sendable (PlaybookEvent) -> Void) { self.onEvent = onEvent }

    public func feed(_ line: String) {
        guard let data = line.data(using: .utf8),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let kind = object["event"] as? String
        else {
            if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                state.withLock { s in if s.otherOutput.count < 200 { s.otherOutput.append(String(line.prefix(2000))) } }
            }
            return
        }
        switch kind {
        case "play":
            let name = object["name"] as? String ?? ""
            play.withLock { $0 = name }
            state.withLock { $0.plays += 1 }
            onEvent(.play(name))
        case "task":
            let name = object["name"] as? String ?? ""
            state.withLock { $0.tasks += 1 }
            onEvent(.task(name))
        case "result":
            let status = object["status"] as? String ?? ""
            guard status == "failed" || status == "unreachable", let host = object["host"] as? String else { return }
            let failure = PlaybookFailure(host: host, task: object["task"] as? String ?? "", play: play.withLock { $0 },
                                          message: object["msg"] as? String ?? "", unreachable: status == "unreachable")
            state.withLock { $0.failures.append(failure) }
            onEvent(.failed(failure))
        case "stats":
            guard let hosts = object["hosts"] as? [String: [String: Any]] else { return }
            state.withLock { s in
                for (name, counts) in hosts {
                    var stats = PlaybookHostStats()
                    func n(_ key: String) -> Int { (counts[key] as? NSNumber)?.intValue ?? 0 }
                    stats.ok = n("ok"); stats.changed = n("changed"); stats.failures = n("failures")
                    stats.unreachable = n("unreachable"); stats.skipped = n("skipped"); stats.rescued = n("rescued")
                    stats.ignored = n("ignored")
                    s.hosts[name] = stats
                }
            }
        default:
            break
        }
    }

    /// The outcome so far, with the exit status and the hosts of `--limit` that never showed up.
    public func outcome(exitCode: Int32?, signal: Int32?, stderr: String, limit: [String]?) -> PlaybookOutcome {
        var o = state.withLock { $0 }
        o.exitCode = exitCode
        o.signal = signal
        o.limit = limit
        o.stderr = stderr
        if let limit, exitCode == 0 {
            let seen = Set(o.hosts.keys).union(o.failures.map(\.host))
            o.missing = limit.filter { !seen.contains($0) }
        }
        return o
    }
}

/// Ansible on this machine, with Ferry's stdout callback (ferry_events.py, written into a
/// private directory once per process) streaming one event a line.
public struct AnsiblePlaybooks: PlaybookDriver {
    public init() {}

    static let callbackDirectory = Mutex<String?>(nil)

    /// The directory holding ferry_events.py (created 0700 on first use).
    static func callbacks() throws -> String {
        try callbackDirectory.withLock { dir in
            if let dir, FileManager.default.fileExists(atPath: dir + "/ferry_events.py") { return dir }
            let path = NSTemporaryDirectory() + "ferry-ansible-\(getpid())-\(UUID().uuidString.prefix(8))"
            try PrivateFiles.makeDirectory(path)
            try PrivateFiles.write(Data(PackageResources.ferry_events_py), to: path + "/ferry_events.py")
            dir = path
            return path
        }
    }

    /// `program` as given when it has a `/`, else the first executable of that name on PATH.
    static func locate(_ program: String, path: String?) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public func run(_ request: PlaybookRequest, onEvent: @escaping @Sendable (PlaybookEvent) -> Void) async throws -> PlaybookOutcome {
        guard let program = request.arguments.first else { throw FerryError.failed("ansible.playbook: no command") }
        let path = request.environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"]
        guard let executable = Self.locate(program, path: path) else {
            throw FerryError.failed("ansible.playbook: \(program) is not \(program.contains("/") ? "an executable file" : "on PATH") (install ansible-core, or give its path)")
        }
        var environment = request.environment
        let callbacks = try Self.callbacks()
        let existing = environment["ANSIBLE_CALLBACK_PLUGINS"] ?? ProcessInfo.processInfo.environment["ANSIBLE_CALLBACK_PLUGINS"]
        environment["ANSIBLE_CALLBACK_PLUGINS"] = existing.map { "\(callbacks):\($0)" } ?? callbacks
        environment["ANSIBLE_STDOUT_CALLBACK"] = "ferry_events"
        environment["ANSIBLE_NOCOLOR"] = "1"
        environment["ANSIBLE_FORCE_COLOR"] = "0"
        environment["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
        environment["PYTHONUNBUFFERED"] = "1"
        let stream = PlaybookStream(onEvent: onEvent)
        let capture = OutputCapture(stdoutPath: request.eventsPath, stderrPath: request.eventsPath.map { $0 + ".err" },
                                    onLine: { stream.feed($0) })
        let result: CommandResult
        do {
            result = try await ProcessRunner.run(executable, Array(request.arguments.dropFirst()), environment: environment,
                                                 stdin: nil, output: capture, timeout: request.timeout,
                                                 directory: request.directory)
        } catch ProcessRunner.Failure.timedOut {
            throw FerryError.failed("`\(request.display)` did not finish within \(DurationText.format(request.timeout ?? 0)) (its timeout); it was stopped")
        } catch ProcessRunner.Failure.launch(let why) {
            throw FerryError.failed("`\(request.display)` could not start: \(why)")
        }
        try capture.checkWrites()
        return stream.outcome(exitCode: result.exitCode, signal: result.signal, stderr: result.stderr, limit: request.limit)
    }
}
