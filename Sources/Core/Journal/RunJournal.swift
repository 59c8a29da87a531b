import Foundation
import GRDB
import LuaBridge
import Synchronization

/// The journal: SQLite (WAL) holding runs, steps, per-host results, `ctx.state`
/// after every step, check results, events and operator decisions.
///
/// Writes are group-committed: callers that must not go on before their record is
/// durable (a host's start, its result, a step's state) await their write, and
/// every write pending at that moment shares one transaction. That keeps the
/// promise of a kill -9 at any instant without one fsync per host.
public actor RunJournal {
    public nonisolated let path: String
    private nonisolated let clockBox = Mutex<any RunClock>(WallClock())
    /// Where the journal's timestamps come from (the simulated region's virtual clock in a simulated run).
    public nonisolated var clock: any RunClock {
        get { clockBox.withLock { $0 } }
        set { clockBox.withLock { $0 = newValue } }
    }
    nonisolated func stamp(_ host: String? = nil) -> Double { clock.now(host: host).timeIntervalSince1970 }
    let queue: DatabaseQueue
    private var pending: [@Sendable (Database) throws -> Void] = []
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    private var flushing = false
    /// Events recorded from outside the actor, waiting to join `pending` in order.
    private nonisolated let inbox = Mutex<[@Sendable (Database) throws -> Void]>([])
    private var lastError: (any Error)?

    /// How a command uses the journal: `status` and `report` only read it.
    public enum Access: Sendable {
        case readWrite
        /// Nothing is written, not even the schema; a journal on a read-only file system
        /// (or a read-only file in a read-only directory) can be read.
        case readOnly
    }

    public nonisolated let access: Access

    /// Opens (or, to write, creates) the journal at `path`: its schema is brought to this
    /// Ferry's version, or refused when it is newer, unknown or damaged (JournalSchema).
    public init(path: String, access: Access = .readWrite) throws {
        self.path = path
        self.access = access
        switch access {
        case .readWrite: queue = try Self.openForWriting(path)
        case .readOnly: queue = try Self.openForReading(path)
        }
    }

    static func openForWriting(_ path: String) throws -> DatabaseQueue {
        if let why = JournalFile.whyNotWritable(path) {
            let readers = FileManager.default.fileExists(atPath: path) ? ". `ferry status` and `ferry report` can still read it" : ""
            throw FerryError.failed("journal \(path) cannot be written: \(why)\(readers)")
        }
        let url = URL(fileURLWithPath: path)
        // The journal holds every run's state and output tails: 0600 in a 0700 directory.
        // SQLite creates -wal and -shm with the database file's mode; older ones are tightened.
        do {
            try PrivateFiles.makeDirectory(url.deletingLastPathComponent().path)
        } catch {
            throw FerryError.failed("journal \(path): cannot create its directory \(url.deletingLastPathComponent().path): \(error.localizedDescription)")
        }
        PrivateFiles.create(path)
        // Ferry's own default directory, made by an older Ferry with the umask's mode.
        if url.deletingLastPathComponent().lastPathComponent == ".ferry" {
            chmod(url.deletingLastPathComponent().path, PrivateFiles.directoryMode)
        }
        for suffix in ["-wal", "-shm"] { chmod(path + suffix, PrivateFiles.fileMode) }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // FULL: a committed host result survives a power cut too, not only kill -9;
            // group commit keeps the fsyncs few.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            // The version is checked before anything is written: a newer or foreign journal stays as it was.
            let version = try queue.read { db in try JournalSchema.version(db, path: path) }
            try JournalSchema.check(version, path: path)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                // IMMEDIATE: of two processes opening a new journal, one creates the schema, the other finds it.
                try db.inTransaction(.immediate) {
                    try JournalSchema.migrate(db, path: path)
                    return .commit
                }
            }
            return queue
        } catch let e as FerryError {
            throw e
        } catch {
            throw FerryError.failed("journal \(path): cannot open it: \(error)")
        }
    }

    static func openForReading(_ path: String) throws -> DatabaseQueue {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FerryError.usage("no journal at \(path): no run has used it yet")
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        func open(_ location: String) throws -> DatabaseQueue {
            let queue = try DatabaseQueue(path: location, configuration: config)
            try queue.read { db in
                let version = try JournalSchema.version(db, path: path)
                try JournalSchema.check(version, path: path)
                if version == 0 { throw FerryError.invalid("journal \(path) is empty: it holds no Ferry schema yet") }
                try JournalSchema.verify(db, version: version, path: path)
            }
            return queue
        }
        do {
            return try open(path)
        } catch let e as FerryError {
            throw e
        } catch let first {
            // A WAL journal needs its -shm file; where none exists and none can be made (a
            // read-only directory or file system), SQLite can still read the file as immutable.
            if let why = JournalFile.whyNotWritable(path), let uri = JournalFile.immutableURI(path) {
                do {
                    return try open(uri)
                } catch let e as FerryError {
                    throw e
                } catch {
                    throw FerryError.failed("journal \(path): cannot read it (\(why)): \(first)")
                }
            }
            throw FerryError.failed("journal \(path): cannot read it: \(first)")
        }
    }

    /// Where full command output of a run is kept.
    public nonisolated func outputDirectory(for runID: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("runs/\(runID)").path
    }

    // MARK: Group commit

    /// Queues a write and waits until it is committed.
    func write(_ op: @escaping @Sendable (Database) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            pending.append(op)
            waiters.append(c)
            startFlushing()
        }
    }

    /// Queues a write without waiting (events, logs); ``flush()`` waits for all.
    func post(_ op: @escaping @Sendable (Database) throws -> Void) {
        pending.append(op)
        startFlushing()
    }

    /// Moves events recorded without waiting into the write queue, in the order they were recorded.
    func takeInbox() {
        for op in inbox.withLock({ ops -> [@Sendable (Database) throws -> Void] in
            defer { ops = [] }
            return ops
        }) { post(op) }
    }

    /// Waits until everything queued so far is committed, events recorded without waiting included.
    public func flush() async throws {
        takeInbox()
        if pending.isEmpty && !flushing { return }
        try await write { _ in }
    }

    private func startFlushing() {
        guard !flushing else { return }
        flushing = true
        Task { await self.drain() }
    }

    private func drain() async {
        while !pending.isEmpty {
            let ops = pending
            let ws = waiters
            pending = []
            waiters = []
            do {
                try await queue.write { db in for op in ops { try op(db) } }
                for w in ws { w.resume() }
            } catch {
                lastError = error
                let failure = Self.writeFailure(error, path: path)
                for w in ws { w.resume(throwing: failure) }
            }
        }
        flushing = false
    }

    /// What a failed journal write says: a full disk (SQLITE_FULL, which SQLite returns for
    /// ENOSPC) as ``LocalWriteError``, so the command stops resumably and says so.
    nonisolated static func writeFailure(_ error: any Error, path: String) -> any Error {
        if let e = error as? GRDB.DatabaseError, e.resultCode == .SQLITE_FULL {
            return LocalWriteError(path: path, reason: "the journal cannot grow (SQLite: \(e.message ?? "database or disk is full"))",
                                   diskFull: true)
        }
        return FerryError.failed("journal write failed: \(error)")
    }

    // MARK: Runs

    public static func newRunID() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        let suffix = String(UInt32.random(in: 0..<0x10000), radix: 16)
        return f.string(from: Date()) + "-" + String(repeating: "0", count: 4 - suffix.count) + suffix
    }

    /// Journals a new run and, in the same transaction, the runbook files it starts with.
    public func createRun(_ run: RunRecord, runbook: RunbookSnapshot? = nil) async throws {
        let options = String(decoding: try JSONEncoder().encode(run.options), as: UTF8.self)
        let now = stamp()
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (id, runbook, runbook_name, fingerprint, region_file, region_name, status, options, pid,
                      started_at, updated_at, state, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                    """,
                arguments: [run.id, run.runbook, run.runbookName, run.fingerprint, run.regionFile, run.regionName,
                            run.status.rawValue, options, Int(run.pid), run.startedAt.timeIntervalSince1970,
                            run.updatedAt.timeIntervalSince1970, run.state.jsonString(), run.kind])
            if let runbook { try Self.insertRunbook(db, run.id, runbook, reason: "run started", at: now) }
        }
    }

    public func setRunStatus(_ id: String, _ status: RunRecord.Status, message: String? = nil, ended: Bool = false,
                             pid: Int32? = nil) async throws
    {
        let now = stamp()
        try await write { db in
            try db.execute(
                sql: "UPDATE runs SET status = ?, message = ?, updated_at = ?, ended_at = CASE WHEN ? THEN ? ELSE NULL END, pid = COALESCE(?, pid) WHERE id = ?",
                arguments: [status.rawValue, message, now, ended, now, pid.map { Int($0) }, id])
        }
    }

    public func setRunState(_ id: String, _ state: LuaValue) async throws {
        let json = state.jsonString()
        let now = stamp()
        try await write { db in
            try db.execute(sql: "UPDATE runs SET state = ?, updated_at = ? WHERE id = ?",
                           arguments: [json, now, id])
        }
    }

    // MARK: Steps and hosts

    public func stepStarted(_ runID: String, _ index: Int, _ phase: Invocation.Phase, name: String, hostsTotal: Int)
        async throws
    {
        let now = stamp()
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO steps (run_id, step_index, phase, name, status, started_at, hosts_total)
                    VALUES (?,?,?,?,?,?,?)
                    ON CONFLICT(run_id, step_index, phase) DO UPDATE SET status = excluded.status,
                      hosts_total = excluded.hosts_total, message = NULL, ended_at = NULL
                    """,
                arguments: [runID, index, phase.rawValue, name, StepRecord.Status.running.rawValue,
                            now, hostsTotal])
        }
    }

    public func stepFinished(_ runID: String, _ index: Int, _ phase: Invocation.Phase, name: String,
                             status: StepRecord.Status, message: String?, state: LuaValue?, hostsOK: Int = 0,
                             hostsFailed: Int = 0) async throws
    {
        let json = state?.jsonString()
        let now = stamp()
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO steps (run_id, step_index, phase, name, status, started_at, ended_at, message, state, hosts_ok, hosts_failed)
                    VALUES (?,?,?,?,?,?,?,?,?,?,?)
                    ON CONFLICT(run_id, step_index, phase) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at,
                      message = excluded.message, state = COALESCE(excluded.state, state), hosts_ok = excluded.hosts_ok,
                      hosts_failed = excluded.hosts_failed
                    """,
                arguments: [runID, index, phase.rawValue, name, status.rawValue, now, now, message, json, hostsOK, hostsFailed])
            if let json {
                try db.execute(sql: "UPDATE runs SET state = ?, updated_at = ? WHERE id = ?", arguments: [json, now, runID])
            }
        }
    }

    /// Records that a host is about to run; committed before the host's command is sent.
    public func hostStarted(_ runID: String, _ index: Int, _ phase: Invocation.Phase, host: String, attempt: Int, wave: Int?)
        async throws
    {
        let now = stamp(host)
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO host_results (run_id, step_index, phase, host, status, attempts, started_at, wave)
                    VALUES (?,?,?,?,?,?,?,?)
                    ON CONFLICT(run_id, step_index, phase, host) DO UPDATE SET status = excluded.status,
                      attempts = excluded.attempts, started_at = excluded.started_at, wave = excluded.wave
                    """,
                arguments: [runID, index, phase.rawValue, host, HostRecord.Status.started.rawValue, attempt, now, wave])
        }
    }

    public func hostFinished(_ runID: String, _ index: Int, _ phase: Invocation.Phase, host: String, ok: Bool,
                             attempts: Int, duration: Double, message: String?, exitCode: Int?, stdout: String?,
                             stderr: String?, hostState: LuaValue?) async throws
    {
        let json = hostState?.jsonString()
        let now = stamp(host)
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE host_results SET status = ?, attempts = ?, duration = ?, ended_at = ?, message = ?, exit_code = ?,
                      stdout_tail = ?, stderr_tail = ?, host_state = ? WHERE run_id = ? AND step_index = ? AND phase = ? AND host = ?
                    """,
                arguments: [(ok ? HostRecord.Status.ok : .failed).rawValue, attempts, duration, now, message, exitCode,
                            stdout, stderr, json, runID, index, phase.rawValue, host])
        }
    }

    /// Records an event without waiting (its time is taken now); ``flush()`` waits for it.
    public nonisolated func event(_ runID: String, kind: String, stepIndex: Int? = nil, host: String? = nil,
                                  level: String? = nil, message: String)
    {
        let now = stamp(host)
        let op: @Sendable (Database) throws -> Void = { db in
            try db.execute(
                sql: "INSERT INTO events (run_id, at, kind, step_index, host, level, message) VALUES (?,?,?,?,?,?,?)",
                arguments: [runID, now, kind, stepIndex, host, level, message])
        }
        // Queued at once, so a later flush() waits for it whenever the task below runs.
        inbox.withLock { $0.append(op) }
        Task { await self.takeInbox() }
    }

    /// Records an artifact (a backup, a config edit) and waits until it is durable:
    /// rollbacks depend on it.
    public func artifact(_ runID: String, stepIndex: Int?, kind: String, data: LuaValue) async throws {
        let json = data.jsonString()
        let now = stamp()
        try await write { db in
            try db.execute(sql: "INSERT INTO artifacts (run_id, step_index, kind, data, at) VALUES (?,?,?,?,?)",
                           arguments: [runID, stepIndex, kind, json, now])
        }
    }

    public func artifacts(_ runID: String, withSteps: Bool) async throws -> [(stepIndex: Int?, kind: String, data: LuaValue)] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT step_index, kind, data FROM artifacts WHERE run_id = ? ORDER BY id", arguments: [runID]).map {
                (stepIndex: $0["step_index"], kind: $0["kind"], data: (try? LuaValue.fromJSON($0["data"])) ?? .nil)
            }
        }
    }

    public func artifacts(_ runID: String) async throws -> [(kind: String, data: LuaValue)] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, data FROM artifacts WHERE run_id = ? ORDER BY id", arguments: [runID]).map {
                (kind: $0["kind"], data: (try? LuaValue.fromJSON($0["data"])) ?? .nil)
            }
        }
    }

    public func check(_ runID: String, _ record: CheckRecord) {
        post { db in
            try db.execute(
                sql: "INSERT INTO checks (run_id, step_index, name, phase, passed, message, at, duration, attempts) VALUES (?,?,?,?,?,?,?,?,?)",
                arguments: [runID, record.stepIndex, record.name, record.phase, record.passed, record.message,
                            record.at.timeIntervalSince1970, record.duration, record.attempts])
        }
    }

    // MARK: Reading

    public func runs(limit: Int = 50) async throws -> [RunRecord] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", arguments: [limit])
                .map(Self.runRecord)
        }
    }

    /// The runs of region `region`, the last started first (journal order, as `last` goes:
    /// a simulated region's runs carry its virtual clock's times).
    public func runs(region: String, limit: Int = 50) async throws -> [RunRecord] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE region_name = ? ORDER BY rowid DESC LIMIT ?",
                             arguments: [region, limit])
                .map(Self.runRecord)
        }
    }

    /// The region's last run, when it was left unfinished: failed, stopped (waiting,
    /// interrupted, killed) or part rolled back, and neither resumed to the end nor rolled
    /// back. Dry runs changed nothing and are passed over. nil: the region's last run ended
    /// (succeeded or rolled back), or there is none.
    public func unfinishedRun(region: String) async throws -> RunRecord? {
        guard let last = try await runs(region: region, limit: 200).first(where: { !$0.isDryRun }) else { return nil }
        switch last.status {
        case .succeeded, .rolledBack: return nil
        case .failed, .waiting, .interrupted, .running, .rollingBack, .rollbackFailed: return last
        }
    }

    /// A run by id, or the newest for `last`.
    public func run(_ reference: String) async throws -> RunRecord {
        let found = try await queue.read { db -> Row? in
            if reference == "last" {
                return try Row.fetchOne(db, sql: "SELECT * FROM runs ORDER BY rowid DESC LIMIT 1")
            }
            if let exact = try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [reference]) { return exact }
            let prefixed = try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id LIKE ? LIMIT 2", arguments: [reference + "%"])
            return prefixed.count == 1 ? prefixed[0] : nil
        }
        guard let row = found else {
            throw FerryError.usage(reference == "last" ? "the journal \(path) holds no run yet" : "no run '\(reference)' in the journal \(path)")
        }
        return Self.runRecord(row)
    }

    public func steps(_ runID: String) async throws -> [StepRecord] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE run_id = ? ORDER BY started_at, step_index", arguments: [runID])
                .map { row in
                    StepRecord(
                        runID: row["run_id"], index: row["step_index"],
                        phase: Invocation.Phase(rawValue: row["phase"]) ?? .run, name: row["name"],
                        status: StepRecord.Status(rawValue: row["status"]) ?? .failed,
                        startedAt: (row["started_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                        endedAt: (row["ended_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                        hostsTotal: row["hosts_total"], hostsOK: row["hosts_ok"], hostsFailed: row["hosts_failed"],
                        message: row["message"], state: (row["state"] as String?).flatMap { try? LuaValue.fromJSON($0) })
                }
        }
    }

    public func hosts(_ runID: String, step index: Int, phase: Invocation.Phase) async throws -> [HostRecord] {
        try await queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM host_results WHERE run_id = ? AND step_index = ? AND phase = ? ORDER BY started_at",
                arguments: [runID, index, phase.rawValue]
            ).map(Self.hostRecord)
        }
    }

    public func allHosts(_ runID: String) async throws -> [(stepIndex: Int, phase: Invocation.Phase, record: HostRecord)] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM host_results WHERE run_id = ? ORDER BY step_index, started_at", arguments: [runID])
                .map { (stepIndex: $0["step_index"], phase: Invocation.Phase(rawValue: $0["phase"]) ?? .run, record: Self.hostRecord($0)) }
        }
    }

    public func events(_ runID: String) async throws -> [EventRecord] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? ORDER BY id", arguments: [runID]).map { row in
                EventRecord(at: Date(timeIntervalSince1970: row["at"]), kind: row["kind"], stepIndex: row["step_index"],
                            host: row["host"], level: row["level"], message: row["message"])
            }
        }
    }

    public func checks(_ runID: String) async throws -> [CheckRecord] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM checks WHERE run_id = ? ORDER BY id", arguments: [runID]).map { row in
                CheckRecord(stepIndex: row["step_index"], name: row["name"], phase: row["phase"], passed: row["passed"],
                            message: row["message"], at: Date(timeIntervalSince1970: row["at"]), duration: row["duration"],
                            attempts: row["attempts"])
            }
        }
    }

    static func hostRecord(_ row: Row) -> HostRecord {
        HostRecord(
            host: row["host"], status: HostRecord.Status(rawValue: row["status"]) ?? .failed, attempts: row["attempts"],
            exitCode: row["exit_code"], duration: row["duration"],
            startedAt: (row["started_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            endedAt: (row["ended_at"] as Double?).map(Date.init(timeIntervalSince1970:)), message: row["message"],
            stdoutTail: row["stdout_tail"], stderrTail: row["stderr_tail"],
            hostState: (row["host_state"] as String?).flatMap { try? LuaValue.fromJSON($0) }, wave: row["wave"])
    }

    static func runRecord(_ row: Row) -> RunRecord {
        let optionsText: String = row["options"]
        let options = (try? JSONDecoder().decode(RunOptions.self, from: Data(optionsText.utf8))) ?? RunOptions()
        return RunRecord(
            id: row["id"], runbook: row["runbook"], runbookName: row["runbook_name"], fingerprint: row["fingerprint"],
            regionFile: row["region_file"], regionName: row["region_name"],
            status: RunRecord.Status(rawValue: row["status"]) ?? .failed, options: options, pid: Int32(row["pid"] as Int),
            startedAt: Date(timeIntervalSince1970: row["started_at"]), updatedAt: Date(timeIntervalSince1970: row["updated_at"]),
            endedAt: (row["ended_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            state: (try? LuaValue.fromJSON(row["state"])) ?? .map([:]), message: row["message"], kind: row["kind"])
    }
}
