import FerryCore
import Foundation
import GRDB
import Testing

@Suite struct JournalSchemaTests {
    /// A journal written before the schema had a version (GRDB's migration table, user_version 0)
    /// is migrated: its runs stay readable, it gets the leases and runbook tables and version 4 (the current).
    @Test func journalFromBeforeVersionsIsMigrated() async throws {
        let path = NSTemporaryDirectory() + "ferry-schema-" + UUID().uuidString + "/journal.db"
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        do {
            let old = try DatabaseQueue(path: path)
            try await old.write { db in
                try db.execute(sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1');
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
                    CREATE TABLE checks (
                      id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_index INTEGER, name TEXT NOT NULL,
                      phase TEXT NOT NULL, passed INTEGER NOT NULL, message TEXT, at REAL NOT NULL, duration REAL NOT NULL,
                      attempts INTEGER NOT NULL);
                    CREATE TABLE artifacts (
                      id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_index INTEGER, kind TEXT NOT NULL,
                      data TEXT NOT NULL, at REAL NOT NULL);
                    INSERT INTO runs (id, runbook, runbook_name, fingerprint, region_name, status, options, pid, started_at, updated_at)
                      VALUES ('20250101-000000-0001', 'rb.lua', 'old', 'f', 'kr1', 'failed', '{}', 1, 0, 0);
                    """)
            }
        }
        // Read-only, an old journal is read as it is.
        let reader = try RunJournal(path: path, access: .readOnly)
        #expect(try await reader.run("last").runbookName == "old")
        #expect(try await reader.leases.leases().isEmpty)

        let journal = try RunJournal(path: path)
        #expect(try await journal.run("last").id == "20250101-000000-0001")
        let (version, tables) = try await DatabaseQueue(path: path).read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version"),
             Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")))
        }
        #expect(version == 4)
        #expect(tables.isSuperset(of: ["leases", "runbook_versions", "runbook_files"]))
        // A run from before runbooks were journaled has none: resume falls back to the disk.
        #expect(try await journal.runbook("20250101-000000-0001") == nil)
        // Dropped: a Ferry from before versions finds no record of its migration, tries to
        // create tables that exist and refuses the journal, instead of writing to it unlocked.
        #expect(!tables.contains("grdb_migrations"))
        // Opening it again changes nothing.
        _ = try RunJournal(path: path)
        #expect(try await DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == 4)
    }

    /// A version-2 journal (runs, locks, no runbook files) is read as it is, then migrated
    /// to the current version (4) by the first command that writes; its runs have no journaled runbook.
    @Test func versionTwoJournalIsMigratedAndItsRunsHaveNoRunbook() async throws {
        let path = NSTemporaryDirectory() + "ferry-schema-" + UUID().uuidString + "/journal.db"
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        do {
            // Built as version 2 had it: this Ferry's version-1 tables and the leases table.
            let old = try DatabaseQueue(path: path)
            try await old.write { db in
                try db.execute(sql: """
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
                    CREATE TABLE checks (
                      id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_index INTEGER, name TEXT NOT NULL,
                      phase TEXT NOT NULL, passed INTEGER NOT NULL, message TEXT, at REAL NOT NULL, duration REAL NOT NULL,
                      attempts INTEGER NOT NULL);
                    CREATE TABLE artifacts (
                      id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_index INTEGER, kind TEXT NOT NULL,
                      data TEXT NOT NULL, at REAL NOT NULL);
                    CREATE TABLE leases (
                      scope TEXT PRIMARY KEY, run_id TEXT NOT NULL, command TEXT NOT NULL, pid INTEGER NOT NULL,
                      hostname TEXT NOT NULL, process_start TEXT, since REAL NOT NULL, token TEXT NOT NULL);
                    INSERT INTO runs (id, runbook, runbook_name, fingerprint, region_name, status, options, pid, started_at, updated_at)
                      VALUES ('20250101-000000-0002', 'rb.lua', 'two', 'f', 'kr1', 'failed', '{}', 1, 0, 0);
                    PRAGMA user_version = 2;
                    """)
            }
            try old.close()
        }
        let reader = try RunJournal(path: path, access: .readOnly)
        #expect(try await reader.run("last").runbookName == "two")
        #expect(try await reader.runbook("20250101-000000-0002") == nil)

        let journal = try RunJournal(path: path)
        #expect(try await journal.run("last").id == "20250101-000000-0002")
        #expect(try await DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == 4)
        // A new run journals its runbook's files; they read back as written.
        let file = RunbookFile(root: .runbook, path: "rb.lua", entry: true, content: Data("runbook { name = 'x' }".utf8))
        let snapshot = RunbookSnapshot(runbookPath: "/w/rb.lua", directory: "/w", scripts: nil, files: [file])
        try await journal.recordRunbook("20250101-000000-0002", snapshot, reason: "test")
        let back = try #require(try await journal.runbook("20250101-000000-0002"))
        #expect(back.snapshot.files == [file])
        #expect(back.digest == snapshot.digest)
        try back.snapshot.verify(digest: back.digest, run: "r")
    }
}
