import Foundation
import LuaBridge
import Synchronization

/// Where a Lua call comes from: which step, which host, which phase. The engine
/// attaches it to each coroutine; primitives read it to journal output in the right place.
public struct Invocation: Sendable {
    public enum Phase: String, Sendable, Codable { case run, undo, check }
    public var stepIndex: Int
    public var stepName: String
    public var host: String?
    public var phase: Phase
    public var attempt: Int
    /// When the step's timeout runs out (monotonic seconds), if it has one.
    public var deadline: Double?

    public init(stepIndex: Int, stepName: String, host: String? = nil, phase: Phase, attempt: Int = 1) {
        self.stepIndex = stepIndex
        self.stepName = stepName
        self.host = host
        self.phase = phase
        self.attempt = attempt
    }
}

extension LuaCall {
    /// Where the call comes from (step, host, phase), as the engine attached it.
    public var invocation: Invocation? { context as? Invocation }
}

/// A log line from a runbook (`log.info`) or from the engine.
public struct LogLine: Sendable {
    public enum Level: String, Sendable { case info, warn, error }
    public var level: Level
    public var message: String
    public var invocation: Invocation?
}

/// What primitives act on during a run: the region, the transport, where output goes.
public struct RunEnvironment: Sendable {
    public var region: Region
    public var transport: any Transport
    public var dryRun: Bool
    /// Directory for full command output (`<dir>/<step>/<host>.out|.err`), if kept.
    public var outputDirectory: String?
    public var log: @Sendable (LogLine) -> Void
    /// Database sessions, by name from the region (nil: none configured for this run).
    public var databases: (any DatabaseDriver)?
    /// What the run opened and must close when it ends.
    public var resources = RunResources()
    /// Where backups go.
    public var artifactDirectory: String?
    /// Records an artifact (a backup) in the journal.
    public var artifact: @Sendable (String, LuaValue, Invocation?) async throws -> Void = { _, _, _ in }
    /// The run's clock (virtual in a simulated region).
    public var clock: any RunClock = WallClock()
    /// Drivers replacing the real ones (the simulated region's).
    public var drivers = RunDrivers()
    /// The first local write of the run that failed (a full disk); the engine stops the run on it.
    public var localWrites = LocalWriteFailures()

    /// Throws the write of `capture`'s output files that failed, if one did, and records it
    /// for the engine (a runbook that catches the error does not hide a full disk).
    public func checkWrites(_ capture: OutputCapture) throws {
        guard let failure = capture.writeFailure else { return }
        localWrites.record(failure)
        throw failure
    }

    func databaseSetting(_ name: String, _ key: String) -> String? { region.databases[name]?[key].stringValue }

    public init(region: Region, transport: any Transport, dryRun: Bool = false, outputDirectory: String? = nil,
                databases: (any DatabaseDriver)? = nil, log: @escaping @Sendable (LogLine) -> Void = { _ in })
    {
        self.region = region
        self.transport = transport
        self.dryRun = dryRun
        self.outputDirectory = outputDirectory
        self.databases = databases
        self.log = log
    }

    public var selector: HostSelector { HostSelector(region: region) }
}

/// Holds the environment of the current run for the natives registered in a VM
/// (they are registered when the runbook loads, before any run exists).
public final class RuntimeBox: Sendable {
    private let environment = Mutex<RunEnvironment?>(nil)
    private let parallelItemRef = Mutex<LuaRef?>(nil)
    private let runbookDirectory = Mutex<String?>(nil)

    public init() {}

    public var current: RunEnvironment? { environment.withLock { $0 } }

    public func set(_ env: RunEnvironment?) { environment.withLock { $0 = env } }

    var parallelItem: LuaRef? {
        get { parallelItemRef.withLock { $0 } }
        set { parallelItemRef.withLock { $0 = newValue } }
    }

    var directory: String? {
        get { runbookDirectory.withLock { $0 } }
        set { runbookDirectory.withLock { $0 = newValue } }
    }

    /// The running run's environment, or an error naming `what` when no run is under way.
    public func require(_ what: String) throws -> RunEnvironment {
        guard let env = current else {
            throw LuaArgumentError("\(what) needs a region: it can only be used while a runbook runs (not while it is declared)")
        }
        return env
    }
}
