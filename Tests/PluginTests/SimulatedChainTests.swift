import FerryCore
import FerrySimulation
import FerryPlugins
import Foundation
import Testing

/// The component modules against the simulated region: the whole Kilo → Queens chain
/// of schema steps, and a skipped required stop refused the way the real tool refuses.
@Suite struct SimulatedChainTests {
    func make(_ runbook: String, computes: Int = 50, simulate extra: String = "") async throws -> (SimRegion, Engine) {
        let path = try writeRunbook(runbook)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try ("region: simchain\nsimulate:\n  release: kilo\n  target: queens\n  seed: 3\n" + extra)
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let sim = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), computes: computes,
                                components: PluginRegistry.simComponents, stateDirectory: nil)
        let engine = Engine(runbook: try await RunbookLoader.load(path: path, extensions: PluginRegistry.extensions),
                            region: sim.region, transport: sim.transport, journal: try RunJournal(path: dir + "/journal.db"),
                            databases: sim.databaseDriver, clock: sim.clock, drivers: sim.drivers)
        return (sim, engine)
    }

    @Test func kiloToQueensSchemaChainRunsAndRollsBackToTheBackups() async throws {
        let (sim, engine) = try await make("""
            local glance = require "ferry.glance"
            local cinder = require "ferry.cinder"
            local nova = require "ferry.nova"
            local neutron = require "ferry.neutron"
            local keystone = require "ferry.keystone"
            runbook { name = "chain", from = "kilo", to = "queens" }
            local dbs = { "keystone", "glance", "cinder", "nova", "neutron" }
            step "backup" {
              run = function(ctx) ctx.state.dumps = {}; for _, n in ipairs(dbs) do ctx.state.dumps[n] = db.backup(n) end end,
              -- The old services keep running in this test: force the restore past their connections.
              undo = function(ctx) for _, n in ipairs(dbs) do db.restore(ctx.state.dumps[n], { force = true }) end end,
            }
            check "no-busy-volumes" { probe = cinder.preflight.busy_volumes }
            check "cells" { probe = nova.preflight.cells_mapped }
            local function at(c) return { from = "kilo", to = "queens", on = c .. "_new", venv = "/opt/venvs/{release}" } end
            keystone.db_sync(at("keystone"))
            glance.db_sync(at("glance"))
            step "cinder-quiet" { before = { "no-busy-volumes" }, run = function(ctx) end }
            cinder.db_sync(at("cinder"))
            nova.db_sync(at("nova"))
            step "cells-mapped" { before = { "cells" }, run = function(ctx) end }
            neutron.db_sync(at("neutron"))
            """)
        let before = sim.state
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let after = sim.state
        for name in ["keystone", "glance", "cinder", "nova", "nova_api", "nova_cell0", "neutron"] {
            #expect(after.databases[name]?.schema["main"] == "queens", "\(name): \(after.databases[name]?.schema ?? [:])")
        }
        #expect(after.databases["glance"]?.flags["alembic_version"] == "queens_contract01")
        #expect(after.databases["cinder"]?.flags["migrate_version"] == "117")
        #expect(after.databases["nova"]?.counters["odm_pending"] == 0)
        #expect(after.databases["nova"]?.counters["flavor_migration_pending"] == 0)

        let rolled = try await engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "") \(rolled.step ?? "")")
        for name in ["keystone", "glance", "cinder", "nova", "neutron"] {
            #expect(sim.state.databases[name] == before.databases[name], "\(name)")
        }
    }

    /// Queens' keystone-manage db_sync stops at migration 035 on MariaDB 10.3 or later, as the
    /// real keystone 13.0.4 does against the lab's 10.11 (ReleasesWalkTests); the preflight says
    /// so before anything runs; on the default 10.1 server both pass.
    @Test func queensKeystoneSyncFailsOnMariaDB103AndThePreflightSaysSoFirst() async throws {
        let runbook = """
            local keystone = require "ferry.keystone"
            runbook { name = "ks", from = "pike", to = "queens" }
            check "keystone-db-server" { phase = "before", probe = keystone.preflight.database_server }
            step "version" { run = function(ctx) ctx.state.version = db.connect("keystone"):scalar("SELECT VERSION()") end }
            step "preflight" { before = { "keystone-db-server" }, run = function(ctx) end }
            keystone.db_sync { from = "kilo", to = "queens", on = "keystone_new", venv = "/opt/venvs/{release}" }
            """
        let (_, old) = try await make(runbook)
        let fine = try await old.run(RunOptions())
        #expect(fine.status == .succeeded, "\(fine.message ?? "")")
        #expect(try await old.journal.run(fine.runID).state["version"].stringValue == "10.1.20-MariaDB")

        // Without the preflight the sync itself fails, naming the column and the server.
        let (sim, new) = try await make(runbook.replacingOccurrences(of: "before = { \"keystone-db-server\" }, ", with: ""),
                                        simulate: "  database_server: 10.11.6-MariaDB\n")
        let failed = try await new.run(RunOptions())
        #expect(failed.status == .failed)
        #expect(failed.step == "keystone-db-sync-queens", "\(failed.step ?? "")")
        let why = failed.failedHosts.first?.message ?? ""
        #expect(why.contains("ALTER TABLE application_credential ADD system VARCHAR(64)") && why.contains("10.11.6-MariaDB"), "\(why)")
        #expect(sim.state.databases["keystone"]?.schema["expand"] == "pike")

        // With it, the run stops before any sync.
        let (sim2, guarded) = try await make(runbook, simulate: "  database_server: 10.11.6-MariaDB\n")
        let stopped = try await guarded.run(RunOptions())
        #expect(stopped.status == .failed && stopped.step == "preflight")
        #expect(stopped.message?.contains("Queens' keystone-manage db_sync fails on MariaDB 10.3 or later") == true, "\(stopped.message ?? "")")
        #expect(sim2.state.databases["keystone"]?.schema["main"] == "kilo")
    }

    @Test func skippingLibertyFailsAsGlanceManageDoes() async throws {
        let (sim, engine) = try await make("""
            local glance = require "ferry.glance"
            runbook { name = "skip", from = "kilo", to = "queens" }
            step "ocata-sync-on-kilo" {
              run = function(ctx) glance.db_sync { release = "ocata", ctx = ctx, on = "glance_new", venv = "/opt/venvs/{release}" } end,
            }
            """)
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("Please upgrade to Liberty release first.") == true, "\(outcome.message ?? "")")
        #expect(sim.state.databases["glance"]?.schema["main"] == "kilo")
    }

    @Test func preflightProbesSeeAKiloRegion() async throws {
        let (_, engine) = try await make("""
            local cinder = require "ferry.cinder"
            local nova = require "ferry.nova"
            local keystone = require "ferry.keystone"
            local glance = require "ferry.glance"
            runbook { name = "probes" }
            step "cluster-probes" { run = function(ctx)
              local ok, why = nova.preflight.volumev3_endpoint(ctx)
              assert(not ok and why:find("volumev3"), tostring(why))
              assert(cinder.preflight.busy_volumes(ctx))
              assert(cinder.preflight.ocata_migrations_done(ctx))
              assert(nova.preflight.instances_in_flight(ctx))
              ok, why = keystone.preflight.no_v2_endpoints(ctx)
              assert(not ok and why:find("v2.0"), tostring(why))
              assert(glance.schema_version() == 41, tostring(glance.schema_version()))
            end }
            step "host-probes" { on = "keystone_old", run = function(host, ctx)
              local ok, why = keystone.preflight.fernet_tokens(host, ctx)
              assert(not ok and why:find("uuid"), tostring(why))
            end }
            step "status" { on = "nova_new", run = function(host, ctx)
              local ok, why = nova.status_check(host, ctx)
              assert(not ok and why:find("exited 2"), tostring(why))
            end }
            """)
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
    }
}
