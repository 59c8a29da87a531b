import FerryCore
import FerrySimulation
import FerryPlugins
import Foundation
import Synchronization

/// The composition root: picks drivers from the region and wires the engine.
enum Composition {
    /// A region ready to drive: the region (with its simulated hosts when simulated) and the simulation.
    struct Target {
        var region: Region
        var sim: SimRegion?
    }

    /// Loads a region; a region file with `simulate:` (or `sim`) becomes a simulated region,
    /// whose model is kept beside the journal between commands.
    static func target(_ reference: String, computes: Int? = nil, journal: String = ".ferry/journal.db", fresh: Bool = false) throws -> Target {
        let base = try loadRegion(reference)
        guard base.simulate != nil else {
            if computes != nil { throw FerryError.usage("--computes applies to a simulated region (-r sim, or a region file with simulate:)") }
            return Target(region: base, sim: nil)
        }
        let stateDirectory = URL(fileURLWithPath: journal).deletingLastPathComponent().appendingPathComponent("sim").path
        let sim = try SimRegion(region: base, computes: computes, components: PluginRegistry.simComponents, stateDirectory: stateDirectory,
                                fresh: fresh)
        return Target(region: sim.region, sim: sim)
    }

    static func loadRegion(_ reference: String) throws -> Region {
        var path = reference
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) || isDirectory.boolValue {
            // A bare name finds NAME.yaml in the library's regions/ (a checkout's scripts/regions,
            // an installed ferry's PREFIX/share/ferry/regions).
            if let found = FerryLibrary.region(named: reference) { path = found }
        }
        if reference == "sim" && (!FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) || isDirectory.boolValue) {
            // The built-in simulated region, when scripts/regions/sim.yaml is not at hand.
            var r = Region(name: "sim")
            r.simulate = .map([:])
            return r
        }
        return try RegionLoader.load(path: path)
    }

    static func loadRunbook(_ path: String) async throws -> Runbook {
        try await RunbookLoader.load(path: runbookPath(path), extensions: PluginRegistry.extensions)
    }

    /// A runbook path as given, or a bare name of a library runbook (`kilo-to-queens`).
    static func runbookPath(_ reference: String) -> String {
        if FileManager.default.fileExists(atPath: reference) { return reference }
        return FerryLibrary.runbook(named: reference) ?? reference
    }

    static func transport(for region: Region, journal: String = ".ferry/journal.db") throws -> any Transport {
        try Transports.make(for: region, keyDirectory: URL(fileURLWithPath: journal).deletingLastPathComponent().path)
    }

    /// `keysBeside`: the journal whose directory keeps recorded host keys, when `journal` is a scratch one.
    static func engine(runbook: Runbook, target: Target, journal: RunJournal, yes: Bool, observer: any RunObserver = TerminalProgress(),
                       keysBeside: String? = nil, approvals chosen: (any ApprovalProvider)? = nil) throws -> Engine {
        let approvals: any ApprovalProvider = chosen ?? (yes ? ApproveAll() : TerminalApprovals())
        if let sim = target.sim {
            return Engine(runbook: runbook, region: target.region, transport: sim.transport, journal: journal, observer: observer,
                          approvals: approvals, databases: sim.databaseDriver, clock: sim.clock, drivers: sim.drivers)
        }
        return Engine(runbook: runbook, region: target.region, transport: try transport(for: target.region, journal: keysBeside ?? journal.path),
                      journal: journal, observer: observer, approvals: approvals)
    }

    /// Runs `body` holding the journal's leases on `scopes` (one writer per run and per
    /// region), given back however `body` ends: normally, with an error, or on SIGINT/SIGTERM.
    /// Refused (exit 4, naming the holder) while another ferry holds one of them.
    static func locked<T: Sendable>(_ journal: RunJournal, _ scopes: [LeaseScope], runID: String, command: String, breakLock: Bool,
                                    _ body: () async throws -> T) async throws -> T
    {
        let lock = try await journal.leases.acquire(scopes, for: .current(runID: runID, command: command), breakLock: breakLock)
        for taken in lock.takenOver { Console.error("ferry: \(taken)") }
        return try await Signals.cleaningUp({ lock.releaseBeforeExit() }) {
            do {
                let value = try await body()
                await release(lock)
                return value
            } catch {
                await release(lock)
                throw error
            }
        }
    }

    private static func release(_ lock: any RunLock) async {
        do {
            try await lock.release()
        } catch {
            Console.error("ferry: could not give back the lock on \(lock.scopes.map(\.description).joined(separator: " and ")): \(error); the next command takes it over once this process has ended")
        }
    }

    /// Runs an engine operation, turning SIGINT/SIGTERM into a clean, resumable stop.
    /// `transport` is shut down however the operation ends, interrupted too (openssh's
    /// ControlMasters closed, not left to ControlPersist).
    static func interruptible<T: Sendable>(closing transport: (any Transport)? = nil,
                                           _ body: @escaping @Sendable () async throws -> T) async throws -> T
    {
        // The handler is in place before the work starts: an early Ctrl-C is never lost.
        let running = Mutex<Task<T, any Error>?>(nil)
        let interrupted = Mutex(false)
        let result = await Signals.whileRunning({
            Console.error("\nferry: interrupted; stopping (hosts in flight finish or are stopped; the run can be resumed)")
            interrupted.withLock { $0 = true }
            running.withLock { $0 }?.cancel()
        }) { () async -> Result<T, any Error> in
            let task = Task { try await body() }
            running.withLock { $0 = task }
            if interrupted.withLock({ $0 }) { task.cancel() }
            let result = await task.result
            // Here, outside the task a signal cancels: inside it, a cancelled shutdown
            // killed its own `ssh -O exit` at once and the masters stayed behind. Each
            // close is bounded (openssh: 10 s), so an unreachable host cannot hold it.
            await transport?.shutdown()
            return result
        }
        return try result.get()
    }

    /// Runs `body` with `transport` shut down first should a signal end the process
    /// (commands outside ``interruptible(closing:_:)``: `exec`, `check`). Waits at most
    /// 15 s for it, then exits all the same.
    static func closingOnSignal<T>(_ transport: any Transport, _ body: () async throws -> T) async rethrows -> T {
        try await Signals.cleaningUp({
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                await transport.shutdown()
                done.signal()
            }
            _ = done.wait(timeout: .now() + 15)
        }, body)
    }

    /// Runs an engine operation (`run`, `resume`, `rollback`) of run `runID`. A full disk
    /// under it that the engine could not journal (the journal itself cannot grow) stops the
    /// command resumably (exit 3), saying how to go on once there is room.
    static func stoppingOnFullDisk<T>(_ runID: String, command: String, journal: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as LocalWriteError where failure.diskFull {
            let flag = journal == ".ferry/journal.db" ? "" : " --journal \(journal)"
            let what = command == "rollback" ? "the rollback of run \(runID)" : "run \(runID)"
            let verb = command == "rollback" ? "rollback" : "resume"
            throw FerryError(.stopped, "\(failure)\n  \(what) stopped where its journal ends; free space there, then continue: ferry \(verb) \(runID)\(flag)")
        }
    }

    /// Saves the simulated region's model after a command; a full disk says what was kept.
    static func save(_ sim: SimRegion?) throws {
        do {
            try sim?.save()
        } catch let failure as LocalWriteError {
            throw FerryError.failed("\(failure): the simulated region's model was not saved; the next command reads the one saved before, with its log (the journal has the run)")
        }
    }

    /// A dry run's end: what it found, never "succeeded", and no resume or rollback to offer
    /// (it changed nothing).
    static func reportDryRun(_ outcome: RunOutcome) -> Int32 {
        switch outcome.status {
        case .succeeded:
            Console.out("Dry run \(outcome.runID) passed: every step went through; no command was sent to any host, nothing was changed.")
        default:
            var text = "Dry run \(outcome.runID) \(outcome.status == .failed ? "FAILED" : "stopped")"
            if let s = outcome.step { text += " at step \(s)" }
            text += ":\n  \(outcome.message ?? outcome.status.rawValue)"
            for f in outcome.failedHosts.prefix(10) { text += "\n    \(f.host): \(f.message)" }
            text += "\n  nothing was changed: a dry run is not resumed or rolled back; start a new one (ferry run … --dry-run)"
            Console.error(text)
        }
        return outcome.exitCode
    }

    /// What to tell the operator after a run or rollback.
    static func report(_ outcome: RunOutcome, journal: String, json: Bool = false) -> Int32 {
        // With --json, stdout holds only the event stream: the summary goes to stderr.
        if json { return Console.toStandardError { report(outcome, journal: journal) } }
        let journalFlag = journal == ".ferry/journal.db" ? "" : " --journal \(journal)"
        if outcome.dryRun { return reportDryRun(outcome) }
        switch outcome.status {
        case .succeeded:
            Console.out("Run \(outcome.runID) succeeded.")
        case .rolledBack:
            var text = "Run \(outcome.runID) rolled back."
            if let m = outcome.message { text += " \(m)." }
            if !outcome.irreversible.isEmpty { text += " Irreversible steps left as they are: \(outcome.irreversible.joined(separator: ", "))." }
            Console.out(text)
        case .failed, .rollbackFailed:
            var text = outcome.status == .failed ? "Run \(outcome.runID) FAILED" : "Rollback of \(outcome.runID) FAILED"
            if let s = outcome.step { text += " at step \(s)" }
            text += ":\n  \(outcome.message ?? "no reason given")"
            if !outcome.failedHosts.isEmpty {
                text += "\n  failed hosts (\(outcome.failedHosts.count)):"
                for f in outcome.failedHosts.prefix(10) { text += "\n    \(f.host): \(f.message)" }
                if outcome.failedHosts.count > 10 { text += "\n    … and \(outcome.failedHosts.count - 10) more (ferry status \(outcome.runID))" }
            }
            if !outcome.remaining.isEmpty { text += "\n  steps remaining: \(outcome.remaining.joined(separator: ", "))" }
            if outcome.status == .failed {
                text += "\n  to resume:    ferry resume \(outcome.runID)\(journalFlag)"
                text += "\n  to roll back: ferry rollback \(outcome.runID)\(journalFlag)"
            } else {
                text += "\n  to continue the rollback: ferry rollback \(outcome.runID)\(journalFlag)"
            }
            Console.error(text)
        case .waiting, .interrupted, .running, .rollingBack:
            var text = outcome.phase == .undo ? "Rollback of \(outcome.runID) stopped" : "Run \(outcome.runID) stopped"
            if let s = outcome.step { text += " at step \(s)" }
            text += ": \(outcome.message ?? outcome.status.rawValue)"
            if !outcome.remaining.isEmpty { text += "\n  steps remaining: \(outcome.remaining.joined(separator: ", "))" }
            let verb = outcome.phase == .undo ? "rollback" : "resume"
            text += "\n  to continue: ferry \(verb) \(outcome.runID)\(journalFlag)\(outcome.status == .waiting ? " --yes" : "")"
            if outcome.status == .interrupted && outcome.phase != .undo { text += "\n  to roll back: ferry rollback \(outcome.runID)\(journalFlag)" }
            Console.error(text)
        }
        return outcome.exitCode
    }
}
