import FerryCore
import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// Issue 15, "Helpers validate like steps": the specs of the library's helpers (scripts/lib)
/// and the plugins' (ferry.*) reject unknown keys with "did you mean", at the line of the
/// runbook that called the helper; a step a helper declares is placed at that line too.
@Suite struct HelperSpecTests {
    /// A runbook beside a copy of the repository's library (`scripts/lib`), as an operator's
    /// runbook repository holds it: `require "lib.upgrade"` finds it there.
    static func write(_ text: String, files: [String: String] = [:]) throws -> String {
        let dir = NSTemporaryDirectory() + "ferry-helper-spec-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/scripts", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repository.root + "/scripts/lib", toPath: dir + "/scripts/lib")
        try FileManager.default.createDirectory(atPath: dir + "/rb", withIntermediateDirectories: true)
        try text.write(toFile: dir + "/rb/runbook.lua", atomically: true, encoding: .utf8)
        for (name, body) in files { try body.write(toFile: dir + "/rb/" + name, atomically: true, encoding: .utf8) }
        return dir + "/rb/runbook.lua"
    }

    /// The problems loading the runbook reports (empty: it loaded).
    static func problems(_ text: String, files: [String: String] = [:]) async throws -> [String] {
        do {
            _ = try await RunbookLoader.load(path: try write(text, files: files), extensions: PluginRegistry.extensions)
            return []
        } catch let e as ValidationErrors {
            return e.problems
        } catch let e as FerryError {
            return [e.message]
        }
    }

    @Test func aPluginHelperRejectsAnUnknownKeyAtTheCallersLine() async throws {
        let found = try await Self.problems("""
            local glance = require "ferry.glance"
            runbook { name = "typo", from = "kilo", to = "queens" }

            glance.db_sync { from = "kilo", to = "queens", timeot = "1h" }
            """)
        #expect(found.first?.contains("runbook.lua:4: glance.db_sync: unknown field 'timeot' (did you mean 'timeout'?)") == true,
                "\(found)")
    }

    @Test func aLibraryHelperRejectsAnUnknownKeyAtTheCallersLine() async throws {
        let found = try await Self.problems("""
            local lib = require "lib.upgrade"
            runbook { name = "typo", from = "kilo", to = "queens" }
            lib.stop_services { component = "glance", group = "glance_old", release = "kilo",
              rolse = { "api" } }
            """)
        #expect(found.first?.contains("runbook.lua:3: lib.stop_services: unknown field 'rolse' (did you mean 'roles'?)") == true,
                "\(found)")
    }

    /// Every helper that declares steps checks its spec, the wrappers over others included
    /// (lib.db_sync hands its spec to the component's db_sync).
    @Test func everyDeclaringHelperChecksItsSpec() async throws {
        let calls = [
            ("lib.maintenance", "lib.maintenance { component = 'glance', mdoe = 'all' }", "mode"),
            ("lib.end_maintenance", "lib.end_maintenance { component = 'glance', mdoe = 'all' }", "mode"),
            ("lib.start_services", "lib.start_services { component = 'glance', group = 'glance_new', unit = 'x' }", "units"),
            ("lib.rolling_restart", "lib.rolling_restart { component = 'glance', grop = 'glance_new' }", "group"),
            ("lib.backup_databases", "lib.backup_databases { names = { 'glance' }, forse = true }", "force"),
            ("lib.create_databases", "lib.create_databases { names = { 'nova_api' }, vai = 'nova' }", "via"),
            ("glance.db_sync", "lib.db_sync { component = 'glance', from = 'kilo', to = 'queens', venvv = '/x' }", "venv"),
            ("lib.switch_vip", "lib.switch_vip { component = 'glance', too = 'glance_new' }", "to"),
            ("lib.register_endpoints", "lib.register_endpoints { servces = {} }", "services"),
            ("lib.rabbit_reshape", "lib.rabbit_reshape { vhots = '/' }", "vhost"),
            ("lib.db_load_check", "lib.db_load_check { maks = 3 }", "max"),
            ("lib.api_check", "lib.api_check { component = 'glance', withn = '1m' }", "within"),
            ("lib.ship_venv", "lib.ship_venv { release = 'queens', group = 'computes', paralel = 3 }", "parallel"),
            ("lib.switch_venv", "lib.switch_venv { release = 'queens', from = 'kilo', group = 'computes', component = 'nova', role = {} }",
             "roles"),
            ("lib.edit_config", "lib.edit_config { group = 'computes', edit = {} }", "edits"),
            ("lib.set_transport_url", "lib.set_transport_url { component = 'nova', group = 'nova_new', fiel = 'x' }", "file"),
            ("preflight.no_busy_volumes", "preflight.no_busy_volumes { whithin = '1m' }", "within"),
            ("preflight.databases_reachable", "preflight.databases_reachable { name = { 'nova' } }", "names"),
            ("preflight.new_controllers", "preflight.new_controllers { group = { 'nova_new' } }", "groups"),
            ("preflight.step", "preflight.step({}, { nmae = 'x' })", "name"),
            ("phases.api_component", "phases.api_component { component = 'glance', from = 'kilo', to = 'queens', databse = {} }",
             "databases"),
            ("lib.cinder.rehome_volumes", "cinder.rehome_volumes { form = 'cinder_old' }", "from"),
        ]
        for (what, call, suggestion) in calls {
            let found = try await Self.problems("""
                local lib = require "lib.upgrade"
                local preflight = require "lib.preflight"
                local phases = require "lib.phases"
                local cinder = require "lib.cinder"
                runbook { name = "typo", from = "kilo", to = "queens" }
                \(call)
                """)
            #expect(found.first?.contains("runbook.lua:6: \(what): unknown field") == true, "\(call): \(found)")
            #expect(found.first?.contains("(did you mean '\(suggestion)'?)") == true, "\(call): \(found)")
        }
    }

    /// A plugin helper called inside a step checks its spec when the step runs, and names the
    /// runbook line that called it.
    @Test func aHelperCalledInsideAStepNamesTheLineThatCalledIt() async throws {
        let path = try Self.write("""
            local cinder = require "ferry.cinder"
            runbook { name = "inside" }
            step "move" { on = "ctl1", run = function(host, ctx)
              cinder.update_host { host = host, currenthost = "a@lvm", nwehost = "b@lvm" }
            end }
            """)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().path
        try """
            region: inside
            inventory: { groups: { controllers: [ctl1] } }
            ssh: { transport: local }
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let runbook = try await RunbookLoader.load(path: path, extensions: PluginRegistry.extensions)
        let engine = Engine(runbook: runbook, region: try RegionLoader.load(path: dir + "/region.yaml"), transport: LocalTransport(),
                            journal: try RunJournal(path: dir + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        let why = outcome.failedHosts.first?.message ?? outcome.message ?? ""
        #expect(why.contains("runbook.lua:4: cinder.update_host: unknown field 'nwehost' (did you mean 'newhost'?)"), "\(why)")
    }

    /// A step a helper declares is placed at the runbook line that called the helper: its
    /// mistakes (here a wave field the helper passes on) and the plan name that line.
    @Test func aStepDeclaredByAHelperIsPlacedAtTheCallersLine() async throws {
        let found = try await Self.problems("""
            local lib = require "lib.upgrade"
            runbook { name = "placed", from = "kilo", to = "queens" }

            lib.stop_services { component = "glance", group = "glance_old", release = "kilo", batch = "lots" }
            """)
        #expect(found.first?.contains("runbook.lua:4: step \"stop-glance_old\": batch must be a host count") == true, "\(found)")

        let runbook = try await RunbookLoader.load(path: try Self.write("""
            local lib = require "lib.upgrade"
            runbook { name = "placed", from = "kilo", to = "queens" }
            lib.maintenance { component = "glance" }
            local mine = require "mine"
            mine.stop()
            """, files: ["mine.lua": """
                local lib = require "lib.upgrade"
                return { stop = function() return lib.stop_services { component = "glance", group = "glance_old", release = "kilo" } end }
                """]), extensions: PluginRegistry.extensions)
        #expect(runbook.steps.map { "\(URL(fileURLWithPath: $0.location.file).lastPathComponent):\($0.location.line)" } == ["runbook.lua:3", "runbook.lua:5"])
    }

    /// The library's preflight checks describe the region before the upgrade (issue 15): a
    /// drill runs them after the rollback, not after the upgrade; the API checks hold on both sides.
    @Test func theLibrarysPreflightChecksAreOfPhaseBefore() async throws {
        let runbook = try await RunbookLoader.load(path: Repository.root + "/scripts/runbooks/queens-to-rocky",
                                                   extensions: PluginRegistry.extensions)
        let before = runbook.checkOrder.filter { runbook.checks[$0]!.phase == .before }
        #expect(before == ["keystone-fernet", "no-busy-volumes", "no-instances-in-flight", "online-migrations-done", "databases-reachable",
                           "backup-space", "new-controllers-answer", "no-image-uploads"])
        #expect(runbook.checks["glance-api"]?.phase == .always)
    }

    /// A runbook directory's `lib/` holds the operator's modules: never run as runbook files,
    /// found by `require "lib.NAME"` (before the library's), journaled with the run like any
    /// module; a module that fails names its own file:line and the runbook line that required it.
    @Test func aRunbookDirectorysLibHoldsModules() async throws {
        let dir = NSTemporaryDirectory() + "ferry-rb-lib-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/rb/lib", withIntermediateDirectories: true)
        try """
            local mine = require "lib.mine"
            local lib = require "lib.upgrade"
            runbook { name = "mods" }
            mine.declare()
            lib.maintenance { component = "glance" }
            """.write(toFile: dir + "/rb/main.lua", atomically: true, encoding: .utf8)
        try """
            local M = {}
            function M.declare() step "mine" { run = function(ctx) end } end
            return M
            """.write(toFile: dir + "/rb/lib/mine.lua", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/scripts", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repository.root + "/scripts/lib", toPath: dir + "/scripts/lib")
        let runbook = try await RunbookLoader.load(path: dir + "/rb", extensions: PluginRegistry.extensions)
        #expect(runbook.files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["main.lua"])
        #expect(runbook.steps.map(\.name) == ["mine", "block-glance-writes"])
        #expect(runbook.steps.map { "\(URL(fileURLWithPath: $0.location.file).lastPathComponent):\($0.location.line)" }
                == ["main.lua:4", "main.lua:5"])
        #expect(runbook.snapshot.files.contains { $0.path.hasSuffix("lib/mine.lua") && !$0.entry })

        try """
            local M = {}
            local settings = nil
            M.size = settings.size
            return M
            """.write(toFile: dir + "/rb/lib/mine.lua", atomically: true, encoding: .utf8)
        do {
            _ = try await RunbookLoader.load(path: dir + "/rb", extensions: PluginRegistry.extensions)
            Issue.record("loaded")
        } catch let e as FerryError {
            #expect(e.message.contains("rb/lib/mine.lua:3: attempt to index a nil value (local 'settings')"), "\(e.message)")
            #expect(e.message.contains("rb/main.lua:1: in main chunk"), "\(e.message)")
        }
    }
}
