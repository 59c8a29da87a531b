import Foundation

// Run locks: one writer per run and per region.
//
// A command that changes a region (run, resume, rollback, drill) takes a lease on the
// region and on the run before it reads what it will act on, and gives them back when
// it ends. The SQLite journal keeps leases as rows taken in one BEGIN IMMEDIATE
// transaction (RunJournal+Leases.swift); a PostgreSQL journal can hold the same
// promise with advisory locks behind these two protocols.

/// What a lease covers.
public enum LeaseScope: Hashable, Sendable, CustomStringConvertible {
    /// Every change to one region (by its name in the region file).
    case region(String)
    /// Every change to one run's record.
    case run(String)

    /// The key a store keeps it under: `region:kr1`, `run:20261207-103200-ab12`.
    public var key: String {
        switch self {
        case .region(let name): "region:\(name)"
        case .run(let id): "run:\(id)"
        }
    }

    public init?(key: String) {
        if key.hasPrefix("region:") { self = .region(String(key.dropFirst(7))) } else if key.hasPrefix("run:") {
            self = .run(String(key.dropFirst(4)))
        } else { return nil }
    }

    /// `region kr1`, `run 20261207-103200-ab12`.
    public var description: String {
        switch self {
        case .region(let name): "region \(name)"
        case .run(let id): "run \(id)"
        }
    }
}

/// Who holds a lease: a process on a host, working on a run (or a drill).
public struct LeaseHolder: Sendable, Equatable, Codable {
    /// The run (or `drill-…`) the holder works on.
    public var runID: String
    /// The command: run, resume, rollback, drill.
    public var command: String
    public var pid: Int32
    public var hostname: String
    /// When the holder's process started (boot id and start time from /proc), so a pid
    /// the kernel handed to another process is not taken for the holder.
    public var processStart: String?
    /// When the lease was taken.
    public var since: Date
    /// Tells this holding from any other by the same process.
    public var token: String

    public init(runID: String, command: String, pid: Int32, hostname: String, processStart: String?, since: Date,
                token: String = UUID().uuidString)
    {
        self.runID = runID
        self.command = command
        self.pid = pid
        self.hostname = hostname
        self.processStart = processStart
        self.since = since
        self.token = token
    }

    /// This process, about to work on `runID`.
    public static func current(runID: String, command: String) -> LeaseHolder {
        LeaseHolder(runID: runID, command: command, pid: getpid(), hostname: ProcessIdentity.hostname,
                    processStart: ProcessIdentity.start(of: getpid()), since: Date())
    }

    /// Whether the holder is still there, as far as this machine can tell.
    public enum Liveness: String, Sendable {
        /// This very process.
        case thisProcess = "this-process"
        /// A live process on this host.
        case alive
        /// On this host, and its process is gone (or its pid now belongs to another process).
        case gone
        /// On another host: this machine cannot tell.
        case elsewhere
    }

    public var liveness: Liveness {
        guard hostname == ProcessIdentity.hostname else { return .elsewhere }
        if pid == getpid() { return processStart == nil || processStart == ProcessIdentity.start(of: pid) ? .thisProcess : .gone }
        return ProcessIdentity.isRunning(pid, startedAs: processStart) ? .alive : .gone
    }

    /// `run 20261207-103200-ab12 (pid 4242 on deploy-1, since 10:32)`.
    public var description: String {
        "\(runID.hasPrefix("drill-") ? "drill" : "run") \(runID) (pid \(pid) on \(hostname), since \(Self.time(since)))"
    }

    /// `10:32` today, `2026-12-06 10:32` before.
    static func time(_ date: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = Calendar.current.isDateInToday(date) ? "HH:mm" : "yyyy-MM-dd HH:mm"
        return f.string(from: date)
    }
}

/// One lease as a store keeps it.
public struct Lease: Sendable {
    public var scope: LeaseScope
    public var holder: LeaseHolder
    public init(scope: LeaseScope, holder: LeaseHolder) {
        self.scope = scope
        self.holder = holder
    }
}

/// A lease that changed hands when a lock was taken: its holder was gone, or
/// `--break-lock` took it from another host.
public struct TakenOverLease: Sendable, CustomStringConvertible {
    public var lease: Lease
    /// `gone` (its process is dead, on this host) or `broken` (--break-lock).
    public var broken: Bool
    public var description: String {
        broken
            ? "broke the lock on \(lease.scope) held by \(lease.holder.description) (--break-lock)"
            : "took over the lock on \(lease.scope) from \(lease.holder.description): that process is gone"
    }
}

/// Leases held together by one command; give them back with ``release()``.
public protocol RunLock: Sendable {
    var holder: LeaseHolder { get }
    var scopes: [LeaseScope] { get }
    /// Leases that were taken from a holder that was gone (or broken with --break-lock).
    var takenOver: [TakenOverLease] { get }
    /// Gives the leases back (only while this holder still has them). Safe to call twice.
    func release() async throws
    /// For a process about to exit on a signal: gives the leases back at once, without
    /// awaiting. (A store whose locks end with the process, as PostgreSQL's advisory
    /// locks end with their session, needs to do nothing.)
    func releaseBeforeExit()
}

/// Where leases are kept: the journal.
public protocol LeaseStore: Sendable {
    /// Takes every scope for `holder`, all or none, atomically. A lease whose holder is
    /// gone (same host, process dead) is taken over; one held from another host only
    /// with `breakLock`; one held by a live process on this host never. Throws
    /// ``FerryError`` of kind `.locked`, naming the holder, when a scope is held.
    func acquire(_ scopes: [LeaseScope], for holder: LeaseHolder, breakLock: Bool) async throws -> any RunLock
    /// Every lease held now.
    func leases() async throws -> [Lease]
}

extension FerryError {
    /// The refusal when `lease` stands in the way.
    public static func held(_ lease: Lease, breakLock: Bool) -> FerryError {
        var text = "\(lease.scope) is held by \(lease.holder.description)"
        switch lease.holder.liveness {
        case .alive, .thisProcess:
            text += breakLock
                ? "; that process is alive on this host, so --break-lock does not take its lock: wait for it, or stop process \(lease.holder.pid) first"
                : "; wait for it to finish, or stop process \(lease.holder.pid)"
        case .elsewhere:
            text += "; that process is on another host, where this one cannot see whether it still runs. If it is certainly gone, --break-lock takes the lock"
        case .gone:
            text += "; that process is gone"
        }
        return FerryError(.locked, text)
    }
}

/// Who this process is, and whether another one still runs.
public enum ProcessIdentity {
    public static let hostname: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return ProcessInfo.processInfo.hostName }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    private static let bootID: String = {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown-boot"
    }()

    /// `BOOT-ID/START-TICKS` of a running process (/proc/PID/stat, field 22), nil when unknown.
    public static func start(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.range(of: ")", options: .backwards)
        else { return nil }
        // After the command's closing parenthesis: field 3 (state) on; start time is field 22.
        let fields = stat[close.upperBound...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return "\(bootID)/\(fields[19])"
    }

    /// Whether `pid` runs and is the process that started as `startedAs` (when known).
    /// A zombie counts as gone.
    public static func isRunning(_ pid: Int32, startedAs: String?) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno != EPERM { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.range(of: ")", options: .backwards), stat[close.upperBound...].hasPrefix(" Z")
        {
            return false
        }
        if let startedAs, let now = start(of: pid), now != startedAs { return false }
        return true
    }
}
