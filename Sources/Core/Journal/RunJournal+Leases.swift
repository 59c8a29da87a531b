import Foundation
import GRDB

extension RunJournal {
    /// The journal's leases: rows of its `leases` table.
    public nonisolated var leases: any LeaseStore { SQLiteLeaseStore(queue: queue) }
}

/// Leases as rows of the journal's `leases` table, one per scope, taken all at once in
/// a BEGIN IMMEDIATE transaction: of two processes taking the same scope, SQLite lets
/// one write first, and the other then finds its row.
struct SQLiteLeaseStore: LeaseStore {
    let queue: DatabaseQueue

    func acquire(_ scopes: [LeaseScope], for holder: LeaseHolder, breakLock: Bool) async throws -> any RunLock {
        let outcome: Result<[TakenOverLease], FerryError>
        do {
            outcome = try await take(scopes, for: holder, breakLock: breakLock)
        } catch {
            throw RunJournal.writeFailure(error, path: queue.path)
        }
        switch outcome {
        case .success(let takenOver): return SQLiteRunLock(queue: queue, holder: holder, scopes: scopes, takenOver: takenOver)
        case .failure(let refusal): throw refusal
        }
    }

    private func take(_ scopes: [LeaseScope], for holder: LeaseHolder, breakLock: Bool) async throws -> Result<[TakenOverLease], FerryError> {
        try await queue.writeWithoutTransaction { db -> Result<[TakenOverLease], FerryError> in
            var result: Result<[TakenOverLease], FerryError> = .success([])
            try db.inTransaction(.immediate) {
                var takenOver: [TakenOverLease] = []
                for scope in scopes {
                    guard let row = try Row.fetchOne(db, sql: "SELECT * FROM leases WHERE scope = ?", arguments: [scope.key]) else { continue }
                    let lease = Lease(scope: scope, holder: Self.holder(row))
                    switch lease.holder.liveness {
                    case .gone:
                        takenOver.append(TakenOverLease(lease: lease, broken: false))
                    case .elsewhere where breakLock:
                        takenOver.append(TakenOverLease(lease: lease, broken: true))
                    case .alive, .thisProcess, .elsewhere:
                        result = .failure(FerryError.held(lease, breakLock: breakLock))
                        return .rollback
                    }
                }
                let now = Date().timeIntervalSince1970
                for taken in takenOver {
                    try db.execute(sql: "DELETE FROM leases WHERE scope = ? AND token = ?", arguments: [taken.lease.scope.key, taken.lease.holder.token])
                    for runID in Set([holder.runID, taken.lease.holder.runID]) {
                        // Not before what the run journaled last (an event, a step, a host): a simulated run's clock runs ahead of the wall
                        // clock, and its report would put the takeover before the attempt it ends.
                        let last = try Double.fetchOne(db, sql: """
                            SELECT MAX(t) FROM (SELECT MAX(at) AS t FROM events WHERE run_id = ?1
                              UNION ALL SELECT MAX(COALESCE(ended_at, started_at)) FROM host_results WHERE run_id = ?1
                              UNION ALL SELECT MAX(COALESCE(ended_at, started_at)) FROM steps WHERE run_id = ?1)
                            """, arguments: [runID]) ?? now
                        try db.execute(
                            sql: "INSERT INTO events (run_id, at, kind, level, message) VALUES (?,?,?,?,?)",
                            arguments: [runID, max(now, last), "lock", "warn", "ferry \(holder.command) (pid \(holder.pid) on \(holder.hostname)) \(taken)"])
                    }
                }
                for scope in scopes {
                    try db.execute(
                        sql: """
                            INSERT INTO leases (scope, run_id, command, pid, hostname, process_start, since, token)
                            VALUES (?,?,?,?,?,?,?,?)
                            """,
                        arguments: [scope.key, holder.runID, holder.command, Int(holder.pid), holder.hostname, holder.processStart,
                                    holder.since.timeIntervalSince1970, holder.token])
                }
                result = .success(takenOver)
                return .commit
            }
            return result
        }
    }

    func leases() async throws -> [Lease] {
        try await queue.read { db in
            guard try db.tableExists("leases") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM leases ORDER BY since, scope").compactMap { row in
                LeaseScope(key: row["scope"]).map { Lease(scope: $0, holder: Self.holder(row)) }
            }
        }
    }

    static func holder(_ row: Row) -> LeaseHolder {
        LeaseHolder(runID: row["run_id"], command: row["command"], pid: Int32(row["pid"] as Int), hostname: row["hostname"],
                    processStart: row["process_start"], since: Date(timeIntervalSince1970: row["since"]), token: row["token"])
    }
}

struct SQLiteRunLock: RunLock {
    let queue: DatabaseQueue
    let holder: LeaseHolder
    let scopes: [LeaseScope]
    let takenOver: [TakenOverLease]

    func release() async throws {
        let token = holder.token
        do {
            try await queue.write { db in try db.execute(sql: "DELETE FROM leases WHERE token = ?", arguments: [token]) }
        } catch {
            throw RunJournal.writeFailure(error, path: queue.path)
        }
    }

    func releaseBeforeExit() {
        try? queue.inTransaction(.immediate) { db in
            try db.execute(sql: "DELETE FROM leases WHERE token = ?", arguments: [holder.token])
            return .commit
        }
    }
}
