import Foundation
import Synchronization

/// What the test targets share: the repository's root, and synchronisation that does not
/// depend on how fast the machine is (a latch instead of a sleep).

/// The repository's root directory (scripts/, docs/, Package.swift).
public enum Repository {
    public static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// Opens once; every waiter, earlier or later, goes on. For tests that must know an
/// event happened (a coroutine is waiting, N hosts are inside a step) before they act.
public final class Latch: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    public var isOpen: Bool { state.withLock { $0.open } }

    public func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    public func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }
}

/// The standard output of `/bin/sh -c command` (stderr is not captured), for test set-up
/// that shells out (mysql, ssh-keygen, ip netns). Blocks its thread until the command ends.
public func shellOutput(_ command: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Tests whose Lua never yields until it is stopped (a cancelled loop, a step timeout on a
/// busy loop) take turns here, across suites and targets. Such Lua holds a thread of the
/// cooperative pool, which has as many threads as the machine has cores: two at once on
/// two cores would hold them all, leaving none to run the cancellation or the timeout that
/// stops them, and the tests would hang for ever (seen on a loaded two-core machine).
/// Waiting for a turn suspends; it holds no thread.
public enum BusyLua {
    private actor Turns {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []

        func take() async {
            if !busy {
                busy = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func give() {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
    }

    private static let turns = Turns()

    /// Runs `body` when no other `BusyLua.alone` body runs.
    public static func alone<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await turns.take()
        do {
            let value = try await body()
            await turns.give()
            return value
        } catch {
            await turns.give()
            throw error
        }
    }
}
