import Foundation
import GRDB

/// The journal's schema, versioned with SQLite's `PRAGMA user_version`.
///
/// - 0: an empty file; Ferry creates the current schema in it.
/// - 1: journals from before the version was recorded (`user_version` 0, a `runs`
///   table, and GRDB's `grdb_migrations` table): runs, steps, host_results, events,
///   checks, artifacts.
/// - 2: adds `leases` (run locks) and records the version; `grdb_migrations` is
///   dropped, so a Ferry from before versions refuses the journal rather than
///   writing to it without taking locks.
/// - 3: adds `runbook_versions` and `runbook_files`: the runbook's files as each run
///   started (and as a `--runbook-changed=use-new` resume or rollback took them up), so
///   `resume` and `rollback` run the code the run ran. Runs from version 2 have none.
/// - 4: adds `git_commit` and `step_descriptions` to `runbook_versions`: the commit of the
///   git checkout holding the runbook's directory (`-dirty` when its files differ from
///   it), and each step's `desc`, for the report. Versions from version 3 have neither.
///
/// A journal of a version this Ferry does not know (newer, or never written by any
/// Ferry) is refused before anything is written to it, and so is one whose tables
/// lack a column its version has: Ferry never reads a row that is not there.
enum JournalSchema {
    /// The version this Ferry writes.
    static let current = 4

    static let createV1 = """
        CREATE TABLE runs (
          id TEXT PRIMARY KEY, runbook TEXT NOT NULL, runbook_name TEXT NOT NULL, fingerprint TEXT NOT NULL,
          region_file TEXT, region_name TEXT NOT NULL, status TEXT NOT NULL, options TEXT NOT NULL,
          pid INTEGER NOT NULL, started_at REAL NOT NULL, updated_at REAL NOT NULL, ended_at REAL,
          state TEXT NOT NULL DEFAULT '{}', message TEXT, kind TEXT NOT NULL DEFAULT 'run');
        CREATE TABLE steps (
          run_id TEXT NOT NULL, step_index INTEGER NOT NULL, phase TEXT NOT NULL, name TEXT NOT NULL,
          status TEXT NOT NULL, started_at REAL, ended_at REAL, hosts_total INTEGER NOT NULL DEFAULT 0,
          hosts_ok INTEGER NOT NULL DEFAULT 0, hosts_failed INTEGER NOT NULL DEFAULT 0, message TEXT, state TEXT,
          PRIMARY KEY (run_id, step_index, phase));
        CREATE TABLE host_results (
          run_id TEXT NOT NULL, step_index INTEGER NOT NULL, phase TEXT NOT NULL, host TEXT NOT NULL,
          status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, duration REAL,
          started_at REAL, ended_at REAL, message TEXT, stdout_tail TEXT, stderr_tail TEXT, host_state TEXT,
          wave INTEGER, PRIMARY KEY (run_id, step_index, phase, host));
        CREATE TABLE events (
          id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL,
          step_index INTEGER, host TEXT, level TEXT, message TEXT NOT NULL);
        CREATE INDEX events_run ON events(run_id);
        CREATE TABLE checks (
          id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_index INTEGER, name TEXT NOT NULL,
          phase TEXT NOT NULL, passed INTEGER NOT NULL, message TEXT, at REAL NOT NULL, duration REAL NOT NULL,
          attempts INTEGER NOT NULL);
        CREATE TABLE artifacts (
          id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_index INTEGER, kind TEXT NOT NULL,
          data TEXT NOT NULL, at REAL NOT NULL);
        """

    /// Run locks (RunJournal+Leases.swift): one row per region or run held, with its holder.
    static let createLeases = """
        CREATE TABLE IF NOT EXISTS leases (
          scope TEXT PRIMARY KEY, run_id TEXT NOT NULL, command TEXT NOT NULL, pid INTEGER NOT NULL,
          hostname TEXT NOT NULL, process_start TEXT, since REAL NOT NULL, token TEXT NOT NULL);
        """

    /// The runbook's files per run (RunJournal+Runbook.swift). A run has one version from its
    /// start, and one more each time `--runbook-changed=use-new` takes up the runbook on disk;
    /// the newest is the one `resume` and `rollback` run.
    static let createRunbookFiles = """
        CREATE TABLE IF NOT EXISTS runbook_versions (
          run_id TEXT NOT NULL, version INTEGER NOT NULL, runbook TEXT NOT NULL, directory TEXT NOT NULL, scripts TEXT,
          digest TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (run_id, version));
        CREATE TABLE IF NOT EXISTS runbook_files (
          run_id TEXT NOT NULL, version INTEGER NOT NULL, position INTEGER NOT NULL, root TEXT NOT NULL, path TEXT NOT NULL,
          entry INTEGER NOT NULL, content BLOB NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (run_id, version, root, path));
        """

    /// Version 4's columns on `runbook_versions` (nullable: a version journaled by an older Ferry has none).
    static let addRunbookNotes = """
        ALTER TABLE runbook_versions ADD COLUMN git_commit TEXT;
        ALTER TABLE runbook_versions ADD COLUMN step_descriptions TEXT;
        """

    /// The columns Ferry reads, per table, at each version.
    static func tables(_ version: Int) -> [(table: String, columns: [String])] {
        var t: [(String, [String])] = [
            ("runs", ["id", "runbook", "runbook_name", "fingerprint", "region_file", "region_name", "status", "options", "pid",
                      "started_at", "updated_at", "ended_at", "state", "message", "kind"]),
            ("steps", ["run_id", "step_index", "phase", "name", "status", "started_at", "ended_at", "hosts_total", "hosts_ok",
                       "hosts_failed", "message", "state"]),
            ("host_results", ["run_id", "step_index", "phase", "host", "status", "attempts", "exit_code", "duration", "started_at",
                              "ended_at", "message", "stdout_tail", "stderr_tail", "host_state", "wave"]),
            ("events", ["id", "run_id", "at", "kind", "step_index", "host", "level", "message"]),
            ("checks", ["id", "run_id", "step_index", "name", "phase", "passed", "message", "at", "duration", "attempts"]),
            ("artifacts", ["id", "run_id", "step_index", "kind", "data", "at"]),
        ]
        if version >= 2 {
            t.append(("leases", ["scope", "run_id", "command", "pid", "hostname", "process_start", "since", "token"]))
        }
        if version >= 3 {
            t.append(("runbook_versions", ["run_id", "version", "runbook", "directory", "scripts", "digest", "reason", "at"]
                      + (version >= 4 ? ["git_commit", "step_descriptions"] : [])))
            t.append(("runbook_files", ["run_id", "version", "position", "root", "path", "entry", "content", "sha256"]))
        }
        return t
    }

    /// The journal's version: its `user_version`; 1 for a journal from before versions
    /// were recorded; 0 for an empty file.
    static func version(_ db: Database, path: String) throws -> Int {
        let recorded = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if recorded != 0 { return recorded }
        let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        if tables.isEmpty { return 0 }
        if tables.contains("runs") { return 1 }
        throw FerryError.invalid(
            "journal \(path) is not a Ferry journal: it records no schema version and holds no runs table (tables: \(tables.sorted().joined(separator: ", "))); this Ferry writes schema version \(current). Give Ferry another --journal")
    }

    /// Refuses a version this Ferry cannot use.
    static func check(_ version: Int, path: String) throws {
        if version > current {
            throw FerryError.invalid(
                "journal \(path) has schema version \(version), newer than this Ferry knows (\(current)): a newer Ferry wrote it. Use that Ferry (or a newer one) with it, or give this one another --journal; the journal was not changed")
        }
        if version < 0 {
            throw FerryError.invalid(
                "journal \(path) has schema version \(version), which no Ferry writes (this one writes \(current)): it is not a Ferry journal, or it is damaged; it was not changed")
        }
    }

    /// Refuses a journal whose tables lack what `version` has.
    static func verify(_ db: Database, version: Int, path: String) throws {
        for (table, columns) in tables(version) {
            let present = Set(try Row.fetchAll(db, sql: "PRAGMA table_info(\(table))").map { $0["name"] as String })
            if present.isEmpty {
                throw damaged(path, version: version, "it has no table \(table)")
            }
            if let missing = columns.first(where: { !present.contains($0) }) {
                throw damaged(path, version: version, "table \(table) has no column \(missing)")
            }
        }
    }

    static func damaged(_ path: String, version: Int, _ what: String) -> FerryError {
        FerryError.invalid(
            "journal \(path) is damaged: \(what), which schema version \(version) has (this Ferry's is \(current)). It was not changed; keep it for the record and give Ferry another --journal")
    }

    /// Brings a journal to the current version (inside a write transaction), then verifies it.
    static func migrate(_ db: Database, path: String) throws {
        var version = try self.version(db, path: path)
        try check(version, path: path)
        if version >= 1 { try verify(db, version: version, path: path) }
        if version == current { return }
        if version < 1 {
            try db.execute(sql: createV1)
            version = 1
        }
        if version < 2 {
            try db.execute(sql: createLeases)
            try db.execute(sql: "DROP TABLE IF EXISTS grdb_migrations")
            version = 2
        }
        if version < 3 {
            try db.execute(sql: createRunbookFiles)
            version = 3
        }
        if version < 4 {
            try db.execute(sql: addRunbookNotes)
            version = 4
        }
        try db.execute(sql: "PRAGMA user_version = \(current)")
        try verify(db, version: current, path: path)
    }
}
