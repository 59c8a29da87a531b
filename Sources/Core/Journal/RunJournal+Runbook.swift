import Foundation
import GRDB

/// A runbook version a run journaled: its files, and the digest journaled with them.
public struct JournaledRunbook: Sendable {
    public var snapshot: RunbookSnapshot
    /// The digest as journaled (``RunbookSnapshot/verify(digest:run:)`` compares).
    public var digest: String
    /// 1 for the files the run started with; one more per `--runbook-changed=use-new`.
    public var version: Int
    /// Why it was journaled: `run started`, or `resume --runbook-changed=use-new`, ….
    public var reason: String
    /// The commit of the runbook's git checkout, and each step's `desc`, as the run started:
    /// from the newest version that journaled them (none before schema version 4).
    public var gitCommit: String?
    public var stepDescriptions: [String: String] = [:]
}

extension RunJournal {
    /// Journals a version of the run's runbook (all its files, and their digest) in one transaction.
    public func recordRunbook(_ runID: String, _ snapshot: RunbookSnapshot, reason: String) async throws {
        let now = stamp()
        try await write { db in try Self.insertRunbook(db, runID, snapshot, reason: reason, at: now) }
    }

    static func insertRunbook(_ db: Database, _ runID: String, _ snapshot: RunbookSnapshot, reason: String, at: Double) throws {
        let version = (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM runbook_versions WHERE run_id = ?", arguments: [runID]) ?? 0) + 1
        try db.execute(
            sql: """
                INSERT INTO runbook_versions (run_id, version, runbook, directory, scripts, digest, reason, at, git_commit,
                  step_descriptions) VALUES (?,?,?,?,?,?,?,?,?,?)
                """,
            arguments: [runID, version, snapshot.runbookPath, snapshot.directory, snapshot.scripts, snapshot.digest, reason, at,
                        snapshot.gitCommit, descriptions(snapshot.stepDescriptions)])
        for (position, f) in snapshot.files.enumerated() {
            try db.execute(
                sql: "INSERT INTO runbook_files (run_id, version, position, root, path, entry, content, sha256) VALUES (?,?,?,?,?,?,?,?)",
                arguments: [runID, version, position, f.root.rawValue, f.path, f.entry, f.content, f.sha256])
        }
    }

    /// Adds files the run read after it started (a `require` inside a step) to its newest
    /// runbook version, and journals the digest of the set anew.
    public func addRunbookFiles(_ runID: String, _ files: [RunbookFile]) async throws {
        guard !files.isEmpty else { return }
        try await write { db in
            guard let version = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM runbook_versions WHERE run_id = ?", arguments: [runID])
            else { return }
            var position = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runbook_files WHERE run_id = ? AND version = ?",
                                            arguments: [runID, version]) ?? 0
            for f in files {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO runbook_files (run_id, version, position, root, path, entry, content, sha256) VALUES (?,?,?,?,?,?,?,?)",
                    arguments: [runID, version, position, f.root.rawValue, f.path, f.entry, f.content, f.sha256])
                position += 1
            }
            let all = try Self.files(db, runID, version)
            try db.execute(sql: "UPDATE runbook_versions SET digest = ? WHERE run_id = ? AND version = ?",
                           arguments: [RunbookSnapshot.digest(all), runID, version])
        }
    }

    /// The newest runbook version the run journaled; nil for a run journaled before Ferry
    /// kept runbooks (schema version 2 or older), which has none.
    public func runbook(_ runID: String) async throws -> JournaledRunbook? {
        try await queue.read { db -> JournaledRunbook? in
            guard try db.tableExists("runbook_versions"),
                let row = try Row.fetchOne(db, sql: "SELECT * FROM runbook_versions WHERE run_id = ? ORDER BY version DESC LIMIT 1",
                                           arguments: [runID])
            else { return nil }
            let version: Int = row["version"]
            let snapshot = RunbookSnapshot(runbookPath: row["runbook"], directory: row["directory"], scripts: row["scripts"],
                                           files: try Self.files(db, runID, version))
            var journaled = JournaledRunbook(snapshot: snapshot, digest: row["digest"], version: version, reason: row["reason"])
            // Read-only, a journal of schema version 3 is read as it is: without these columns.
            if try db.columns(in: "runbook_versions").contains(where: { $0.name == "git_commit" }) {
                let notes = try Row.fetchAll(
                    db, sql: "SELECT git_commit, step_descriptions FROM runbook_versions WHERE run_id = ? ORDER BY version DESC",
                    arguments: [runID])
                journaled.gitCommit = notes.lazy.compactMap { $0["git_commit"] as String? }.first
                if let text = notes.lazy.compactMap({ $0["step_descriptions"] as String? }).first,
                   let map = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))
                {
                    journaled.stepDescriptions = map
                }
            }
            return journaled
        }
    }

    /// Step descriptions as the journal keeps them (JSON, sorted keys); nil when there are none.
    static func descriptions(_ map: [String: String]) -> String? {
        guard !map.isEmpty else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(map)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func files(_ db: Database, _ runID: String, _ version: Int) throws -> [RunbookFile] {
        try Row.fetchAll(db, sql: "SELECT * FROM runbook_files WHERE run_id = ? AND version = ? ORDER BY position",
                         arguments: [runID, version]).map { row in
            let root: String = row["root"]
            return RunbookFile(root: RunbookFile.Root(rawValue: root) ?? .runbook, path: row["path"], entry: row["entry"],
                               content: row["content"] ?? Data(), sha256: row["sha256"])
        }
    }
}
