import FerryCore
import Foundation
import Synchronization

/// Keeps the model between commands (`ferry run`, then `ferry rollback`): the model in
/// `<region>-<computes>.json` beside the journal, and the crash log `<model>.log`, one line per
/// host done since the model was last written, which a `kill -9` leaves behind and the next
/// command replays.
final class SimStore: Sendable {
    /// Where the model is saved; nil keeps it in memory only (nothing is written).
    let path: String?
    /// What the saved model was built from; a model saved with other settings is refused.
    let fingerprint: String
    private let logHandle = Mutex<PrivateFile?>(nil)
    /// The first write of the log that failed (a full disk), until a save succeeds.
    private let logFailure = Mutex<LocalWriteError?>(nil)
    /// When the model was last written (real time), for ``checkpointDue()``.
    private let lastSave = Mutex<Double>(0)

    struct Saved: Codable {
        var clock: Double
        var state: SimState
        var origin: Double?
        var fingerprint: String?
    }

    struct LoggedHost: Codable {
        var host: String
        var at: Double
        var state: SimHost
    }

    init(directory: String?, file: String, fingerprint: String) {
        path = directory.map { URL(fileURLWithPath: $0).appendingPathComponent(FileName.component(file)).path }
        self.fingerprint = fingerprint
    }

    /// The saved model with its log replayed; nil when there is none. Refuses a model saved
    /// with other settings, naming its file.
    func load() throws -> Saved? {
        guard let path, var saved = try Self.read(path) else { return nil }
        Self.replayLog(path + ".log", into: &saved)
        if let f = saved.fingerprint, f != fingerprint {
            throw FerryError.failed(
                "the simulated region saved in \(path) was built with other settings (\(f.replacingOccurrences(of: "|", with: " "))); delete that file to start from a fresh region (ferry drill --fresh does)")
        }
        return saved
    }

    /// The hosts the log holds when no model was saved (nil: no log), laid over a region
    /// seeded afresh.
    func loggedHosts() -> Saved? {
        guard let path, FileManager.default.fileExists(atPath: path + ".log") else { return nil }
        var saved = Saved(clock: 0, state: SimState(), origin: nil, fingerprint: fingerprint)
        Self.replayLog(path + ".log", into: &saved)
        return saved
    }

    /// Forgets the log of a model that is not read (a fresh region starts without one).
    func discardLog() {
        if let path { try? FileManager.default.removeItem(atPath: path + ".log") }
    }

    static func read(_ path: String) throws -> Saved? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(Saved.self, from: data) } catch {
            throw FerryError.failed("the simulated region's saved state \(path) cannot be read (\(error)); delete it to start from a fresh region")
        }
    }

    static func replayLog(_ path: String, into saved: inout Saved) {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return }
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let entry = try? JSONDecoder().decode(LoggedHost.self, from: Data(line)) else { continue }
            saved.state.hosts[entry.host] = entry.state
            saved.clock = max(saved.clock, entry.at)
        }
    }

    /// Appends one host's model to the log (a write per host: the page cache keeps it
    /// through a kill -9; ``save(_:)`` folds the log into the model and empties it).
    func log(host: String, at t: Double, state: SimHost) throws {
        guard let path, let line = try? JSONEncoder().encode(LoggedHost(host: host, at: t, state: state)) else { return }
        try logHandle.withLock { handle in
            do {
                if handle == nil {
                    let opened = try PrivateFile(appendingTo: path + ".log")
                    // A line cut short by a full disk or a kill must not swallow the next one.
                    let size = (try? FileManager.default.attributesOfItem(atPath: path + ".log")[.size] as? Int) ?? 0
                    if size > 0 { try opened.write(Data("\n".utf8)) }
                    handle = opened
                }
                try handle?.write(line + Data("\n".utf8))
            } catch {
                let failure = error as? LocalWriteError ?? LocalWriteError(path: path + ".log", reason: "\(error)", diskFull: false)
                logFailure.withLock { if $0 == nil { $0 = failure } }
                throw failure
            }
        }
    }

    /// A write of the log that failed since the model was last saved, if one did.
    var writeFailure: LocalWriteError? { logFailure.withLock { $0 } }

    /// Writes the model (atomically), so the next command continues from it. `snapshot` is
    /// taken under the log's lock: no host is logged between it and emptying the log.
    func save(_ snapshot: () -> Saved) throws {
        guard let path else { return }
        try PrivateFiles.makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        try logHandle.withLock { handle in
            try PrivateFiles.write(try JSONEncoder().encode(snapshot()), to: path)
            // The saved model holds every logged host now (and those the log missed).
            try? handle?.truncate()
            if handle == nil { try? FileManager.default.removeItem(atPath: path + ".log") }
            logFailure.withLock { $0 = nil }
        }
    }

    /// Whether a checkpoint should save now: at most every 2 s of real time, so a killed
    /// process loses little of the model (a resumed run repeats the hosts that were in flight).
    func checkpointDue() -> Bool {
        let now = Date().timeIntervalSince1970
        return lastSave.withLock { last in
            guard now - last >= 2 else { return false }
            last = now
            return true
        }
    }

    /// Deletes the saved model: the next command starts from a fresh region.
    func remove() throws {
        lastSave.withLock { $0 = 0 }
        if let path, FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }
}
