import Foundation

/// Waiting for a latch (a file appearing, a journal row, a count reaching a number) however
/// slow the machine is.
///
/// A test never bounds how long a thing may take: on two cores shared with other builds a
/// server's start or a run's first host took minutes. It polls the latch for as long as the
/// thing that produces it can still produce it, and stops at once when that has ended
/// without it (a child process exited, a run's Task finished, a server process died): that
/// is a real failure, reported with its cause. The only clock is ``hangGuard``.
///
///     let port = try await Wait.for("the server's port file", unless: .process(pid, "python3 server.py")) {
///         try? String(contentsOfFile: dir + "/port", encoding: .utf8).flatMap { Int($0) }
///     }
public enum Wait {
    /// A guard against a hung test (a latch that never comes because of a bug, with nothing
    /// that ends to say so), never a bound on how long anything takes: 30 minutes, more
    /// than any wait of a healthy test on the most loaded machine. It is the only wall-clock
    /// limit a wait has; host shell loops and runbook `within`s that wait for a test's
    /// latch use it too (``hangGuardSeconds``, ``shellUntilExists(_:)``).
    public static let hangGuard: Duration = .seconds(hangGuardSeconds)
    /// ``hangGuard`` in whole seconds, for a runbook's `within = "\(Wait.hangGuardSeconds)s"`.
    public static let hangGuardSeconds = 30 * 60
    /// ``hangGuard`` in minutes, for a test's `.timeLimit(.minutes(Wait.hangGuardMinutes))`.
    public static let hangGuardMinutes = hangGuardSeconds / 60

    /// Thrown by ``required(_:every:unless:_:)`` when the thing it depended on ended without the latch.
    public struct Ended: Error, CustomStringConvertible {
        public let what: String
        public let why: String
        public var description: String { "gave up waiting for \(what): \(why) ended without it" }
    }

    /// Thrown after ``hangGuard``: the test hung.
    public struct Hung: Error, CustomStringConvertible {
        public let what: String
        public var description: String { "still waiting for \(what) after \(Wait.hangGuardSeconds / 60) minutes (the hang guard): the test hung" }
    }

    /// Polls `value` every `every` until it returns non-nil, and returns that. Returns nil as
    /// soon as `ending` has ended and `value` still gives nil (it is asked once more after
    /// the end was seen, so a latch set just before the end counts). Throws ``Hung`` after
    /// ``hangGuard``, and CancellationError when the task is cancelled.
    public static func `for`<T>(_ what: String, every: Duration = .milliseconds(20), unless ending: Ending,
                                _ value: () async throws -> T?) async throws -> T?
    {
        let start = ContinuousClock.now
        while true {
            // The end is seen before the latch is read: a latch its producer set before
            // ending is found by this read.
            let ended = ending.hasEnded()
            if let v = try await value() { return v }
            if ended { return nil }
            if ContinuousClock.now - start > hangGuard { throw Hung(what: what) }
            try await Task.sleep(for: every)
        }
    }

    /// ``for(_:every:unless:_:)`` for a condition: true once it holds, false when `ending`
    /// ended without it.
    public static func until(_ what: String, every: Duration = .milliseconds(20), unless ending: Ending,
                             _ condition: () async throws -> Bool) async throws -> Bool
    {
        try await Self.for(what, every: every, unless: ending) { try await condition() ? true : nil } ?? false
    }

    /// ``for(_:every:unless:_:)`` that throws ``Ended`` (naming `ending`) instead of returning nil.
    public static func required<T>(_ what: String, every: Duration = .milliseconds(20), unless ending: Ending,
                                   _ value: () async throws -> T?) async throws -> T
    {
        guard let v = try await Self.for(what, every: every, unless: ending, value) else { throw Ended(what: what, why: ending.name) }
        return v
    }

    /// A shell loop that waits until `path` exists (`path` is pasted as is, so it may be a
    /// Lua concatenation inside a runbook string): what a host does while a test holds it.
    /// Bounded by ``hangGuard`` only (36,000 rounds of at least 50 ms), so a failed test
    /// never leaves host commands waiting forever.
    public static func shellUntilExists(_ path: String) -> String {
        "i=0; while [ ! -e \(path) ] && [ $i -lt \(hangGuardSeconds * 20) ]; do sleep 0.05; i=$((i+1)); done"
    }
}

/// What a wait depends on: once it has ended, the latch will not come any more.
public struct Ending: Sendable {
    /// Named in ``Wait/Ended``.
    public let name: String
    public let hasEnded: @Sendable () -> Bool

    public init(_ name: String, hasEnded: @escaping @Sendable () -> Bool) {
        self.name = name
        self.hasEnded = hasEnded
    }

    /// Nothing that ends: a service outside the test (HAProxy's health check, a process
    /// being reaped). Only ``Wait/hangGuard`` stops such a wait.
    public static let never = Ending("nothing") { false }

    /// Process `pid` (a child or not) has exited: it is gone or a zombie.
    public static func process(_ pid: Int32, _ name: String) -> Ending {
        Ending("\(name) (pid \(pid))") { !Processes.isRunning(pid) }
    }

    /// A child started with ``ChildProcess/run(_:_:in:environment:while:)`` has exited.
    public static func child(_ child: ChildProcess.Running, _ name: String = "the child process") -> Ending {
        process(child.pid, name)
    }

    /// `latch` is open: the producer opens it as it ends (`Task { defer { ended.open() } … }`).
    public static func opened(_ latch: Latch, _ name: String) -> Ending {
        Ending(name) { latch.isOpen }
    }

    /// Ended as soon as one of `endings` has.
    public static func any(_ endings: Ending...) -> Ending {
        Ending(endings.map(\.name).joined(separator: " or ")) { endings.contains { $0.hasEnded() } }
    }
}

/// This machine's processes, read from /proc.
public enum Processes {
    /// Whether `pid` is running: not gone, not a zombie waiting to be reaped.
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
            let state = stat[stat.index(after: close)...].split(separator: " ").first
        else { return false }
        return state != "Z" && state != "X"
    }

    /// The running processes whose command line contains `text` (the test runner itself aside).
    public static func matching(_ text: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let cmd = String(decoding: data, as: UTF8.self)
            guard cmd.contains(text), !cmd.contains("xctest"), !cmd.contains("swift-test"), isRunning(pid) else { return nil }
            return pid
        }
    }

    /// Waits until no running process's command line contains `text` (a killed command takes
    /// a moment to go on a loaded machine). One left running is a leak: the hang guard fails it.
    public static func end(matching text: String) async throws {
        _ = try await Wait.until("every process matching \(text) to end", every: .milliseconds(50), unless: .never) {
            matching(text).isEmpty
        }
    }
}
