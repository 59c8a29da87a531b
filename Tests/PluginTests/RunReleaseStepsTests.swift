import FerryCore
import FerryPlugins
import Foundation
import Testing

/// The declared steps run for real (local transport): each release's commands with
/// that release's virtualenv, online migrations looped until that release says done.
@Suite struct RunReleaseStepsTests {
    /// Fake virtualenvs: every tool appends "release program args" to a log; online data
    /// migrations migrate a batch twice, then find nothing, as Mitaka's nova-manage says it
    /// (exit 0 every time, "N rows matched query …, N migrated" while rows were left; other
    /// releases exit 1 while a batch moved rows); Kilo's flavor migration completes what it matched.
    func makeVenvs(_ dir: String, releases: [String], programs: [String]) throws {
        for r in releases {
            let bin = "\(dir)/venvs/\(r)/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            for p in programs {
                let script = """
                    #!/bin/sh
                    echo "\(r) \(p) $*" >> \(dir)/log
                    case "$*" in
                      *online_data_migrations*)
                        n=$(cat \(dir)/odm-\(r) 2>/dev/null || echo 0); n=$((n+1)); echo $n > \(dir)/odm-\(r)
                        [ $n -ge 3 ] && exit 0
                        echo "50 rows matched query migrate_fake, 50 migrated"
                        [ "\(r)" = mitaka ] && exit 0; exit 1;;
                      *migrate_flavor_data*)
                        echo "3 instances matched query, 3 completed";;
                    esac
                    exit 0

                    """
                try script.write(toFile: "\(bin)/\(p)", atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/\(p)")
            }
        }
    }

    @Test func dbSyncStepsRunEachReleasesToolsAndLoopOnlineMigrations() async throws {
        let path = try writeRunbook("""
            local glance = require "ferry.glance"
            local nova = require "ferry.nova"
            runbook { name = "e2e" }
            glance.db_sync { from = "kilo", to = "mitaka" }
            nova.db_sync { from = "kilo", to = "mitaka", on = "runner", venv = ctx_venvs .. "/{release}", max_count = 50 }
            """.replacingOccurrences(of: "ctx_venvs", with: "VENVS"))
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "VENVS", with: "\"\(dir)/venvs\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        try makeVenvs(dir, releases: ["kilo", "liberty", "mitaka"], programs: ["glance-manage", "nova-manage"])
        try """
            region: test
            inventory:
              groups:
                runner: [runner1]
            ssh: { transport: local }
            vars:
              releases:
                liberty: { host: runner1, venv: \(dir)/venvs/liberty }
                mitaka: { host: runner1, venv: \(dir)/venvs/mitaka }
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)

        let runbook = try await RunbookLoader.load(path: path, extensions: PluginRegistry.extensions)
        let engine = Engine(runbook: runbook, region: try RegionLoader.load(path: dir + "/region.yaml"), transport: LocalTransport(),
                            journal: try RunJournal(path: dir + "/journal.db"), observer: NoObserver(), approvals: NobodyToAsk())
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let log = try String(contentsOfFile: dir + "/log", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(log == [
            "liberty glance-manage db_sync",
            "mitaka glance-manage db_sync",
            "kilo nova-manage db migrate_flavor_data",
            "liberty nova-manage db sync",
            "mitaka nova-manage api_db sync",
            "mitaka nova-manage db sync",
            "mitaka nova-manage db online_data_migrations --max-count 50",
            "mitaka nova-manage db online_data_migrations --max-count 50",
            "mitaka nova-manage db online_data_migrations --max-count 50",
        ])
    }

    @Test func aReleaseWithoutAPlaceToRunFailsWithWhatToWrite() async throws {
        let path = try writeRunbook("""
            local glance = require "ferry.glance"
            runbook { name = "e2e" }
            glance.db_sync { from = "kilo", to = "liberty" }
            """)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try "region: test\ninventory:\n  groups:\n    runner: [runner1]\nssh: { transport: local }\n"
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let runbook = try await RunbookLoader.load(path: path, extensions: PluginRegistry.extensions)
        let engine = Engine(runbook: runbook, region: try RegionLoader.load(path: dir + "/region.yaml"), transport: LocalTransport(),
                            journal: try RunJournal(path: dir + "/journal.db"), observer: NoObserver(), approvals: NobodyToAsk())
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("no place to run the liberty tools") == true, "\(outcome.message ?? "")")
    }
}
