import FerryCore
@testable import FerryPlugins
import Testing

@Suite struct NovaTests {
    let nova = PluginRegistry.knowledge["nova"]!

    @Test func novaKiloToQueensSteps() throws {
        let steps = try nova.steps(from: "kilo", to: "queens")
        #expect(steps.map(\.release) == ["liberty", "mitaka", "newton", "ocata", "pike", "queens"])
        #expect(steps[0].commands.first?.text == "nova-manage db migrate_flavor_data")
        #expect(steps[0].commands.first?.tool == "kilo")
        #expect(steps[1].commands.map(\.text) == ["nova-manage api_db sync", "nova-manage db sync", "nova-manage db online_data_migrations"])
        #expect(steps[2].commands.last?.text == "nova-manage cell_v2 simple_cell_setup --transport-url <transport_url>")
        // Nova upgrades N → N+1 only: every release of the walk is a required stop.
        #expect(steps.filter { $0.requiredStop != nil }.map(\.release) == ["liberty", "mitaka", "newton", "ocata", "pike", "queens"])
        #expect(steps[3].endpoints.map(\.serviceType) == ["placement"])
        #expect(steps[5].endpoints.first?.guideURL == "http://controller:8774/v2.1")
        // Mitaka exits 0 whatever is left (its output tells); Newton … Rocky 0/1; exit 2 from Stein.
        #expect(steps[1].onlineMigrations?.onlineMigrations?.exitCodes == [0: "progress"])
        #expect(steps[2].onlineMigrations?.onlineMigrations?.exitCodes == [0: "done", 1: "more"])
        #expect(steps[5].onlineMigrations?.onlineMigrations?.failureText == "Error attempting to run")
        #expect(nova.step(for: "stein")?.onlineMigrations?.onlineMigrations?.exitCodes == [0: "done", 1: "more", 2: "errors"])
        #expect(PluginRegistry.knowledge["placement"]?.steps.first?.release == "stein")
    }

    /// Facts checked against upstream (openstack/nova at each release tag; NovaKnowledge cites the files).
    @Test func novaFactsMatchUpstream() throws {
        // openstack/nova@17.0.0 …/378_add_instance_actions_updated_at_index.py
        #expect(NovaKnowledge.lastVersion["queens"] == 378)
        #expect(SimSandbox(release: "queens").state.databases["nova"]?.flags["migrate_version"] == "378")
        // Migration 267 is Kilo's: not a Liberty-step fact.
        let liberty = try #require(nova.step(for: "liberty"))
        #expect(!liberty.notes.contains { $0.contains("267") }, "\(liberty.notes)")
        #expect(nova.notes.contains { $0.contains("267") && $0.contains("Kilo's") && $0.contains("null_instance_uuid_scan") })
        // nova_api exists in Kilo; Mitaka requires it. Nothing says it appears in Liberty.
        #expect(!liberty.notes.contains { $0.contains("nova_api") && $0.contains("appears") }, "\(liberty.notes)")
        #expect(liberty.notes.contains { $0.contains("nova_api database exists since Kilo") })
        // PciDevice.populate_dev_uuids is Wallaby's online migration (openstack/nova@23.0.0), not Victoria's.
        #expect(nova.step(for: "victoria")?.notes.contains { $0.contains("populate_dev_uuids") } == false)
        #expect(nova.step(for: "wallaby")?.notes.contains { $0.contains("populate_dev_uuids") } == true)
    }

    /// Every release before the first SLURP is a stop for nova; after it only SLURP releases are, so a
    /// SLURP hop still skips the release between.
    @Test func everyNovaReleaseUpTo2023_1IsARequiredStop() throws {
        let walk = try nova.steps(from: "kilo", to: "2023.1")
        #expect(walk.count == 16)
        #expect(walk.allSatisfy { $0.requiredStop != nil }, "\(walk.filter { $0.requiredStop == nil }.map(\.release))")
        #expect(nova.step(for: "ocata")?.requiredStop?.contains("Pike's scheduler") == true)
        #expect(nova.step(for: "queens")?.requiredStop?.contains("rocky upgrades from queens") == true)
        #expect(nova.step(for: "2023.2")?.requiredStop == nil)
        #expect(try nova.steps(from: "2023.1", to: "2024.1", slurp: true).map(\.release) == ["2024.1"])
    }

    @Test func libertySyncWaitsForKiloFlavorMigration() {
        var sim = SimSandbox(release: "kilo")
        let refused = sim.run("nova-manage db sync", tool: "liberty")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("migrate_flavor_data") && refused.stderr.contains("291"))
        #expect(sim.run("nova-manage db migrate_flavor_data", tool: "kilo").exitCode == 0)
        #expect(sim.run("nova-manage db sync", tool: "liberty").exitCode == 0)
        #expect(sim.state.databases["nova"]?.flags["migrate_version"] == "302")
    }

    /// Mitaka's command exits 0 batch after batch (openstack/nova@13.0.0 nova/cmd/manage.py returns nothing): only
    /// its output ("N rows matched query") tells that rows were left.
    @Test func newtonSyncWaitsForMitakaOnlineMigrationsWhichExitZeroEveryBatch() {
        var sim = SimSandbox(release: "liberty")
        #expect(sim.run("nova-manage db online_data_migrations", tool: "liberty").exitCode == 2)
        #expect(sim.run("nova-manage api_db sync", tool: "mitaka").exitCode == 0)
        #expect(sim.run("nova-manage db sync", tool: "mitaka").exitCode == 0)
        #expect(sim.state.databases["nova"]?.counters["odm_pending"] == 20)
        let refused = sim.run("nova-manage db sync", tool: "newton")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("330"))
        let first = sim.run("nova-manage db online_data_migrations --max-count 15", tool: "mitaka")
        #expect(first.exitCode == 0 && first.stdout.contains("15 rows matched query"), "\(first.stdout)")
        #expect(sim.run("nova-manage db sync", tool: "newton").exitCode == 1)   // 5 rows left
        let second = sim.run("nova-manage db online_data_migrations --max-count 15", tool: "mitaka")
        #expect(second.exitCode == 0 && second.stdout.contains("5 rows matched query"), "\(second.stdout)")
        #expect(sim.run("nova-manage db sync", tool: "newton").exitCode == 0)
    }

    @Test func ocataNeedsCellsAndNewtonOnlineMigrations() {
        var sim = SimSandbox(release: "mitaka")
        #expect(sim.run("nova-manage api_db sync", tool: "newton").exitCode == 0)
        #expect(sim.run("nova-manage db sync", tool: "newton").exitCode == 0)
        let noCells = sim.run("nova-manage api_db sync", tool: "ocata")
        #expect(noCells.exitCode == 1)
        #expect(noCells.stderr.contains("Cell mappings are not created, but required for Ocata"))
        #expect(sim.run("nova-manage cell_v2 simple_cell_setup --transport-url rabbit://r", tool: "newton").exitCode == 0)
        #expect(sim.run("nova-manage api_db sync", tool: "ocata").exitCode == 0)
        let blocked = sim.run("nova-manage db sync", tool: "ocata")
        #expect(blocked.exitCode == 1)
        #expect(blocked.stderr.contains("345"))
        #expect(sim.run("nova-manage db online_data_migrations", tool: "newton").exitCode == 0)
        #expect(sim.run("nova-manage db sync", tool: "ocata").exitCode == 0)
        #expect(sim.state.databases["nova_cell0"]?.schema["main"] == "ocata")
    }

    /// A migration that raises: Mitaka … Rocky print "Error attempting to run" and exit 0 (or 1 beside
    /// progress); only Stein's exit 2 says so (openstack/nova@13.0.0, @17.0.0, @19.0.0 nova/cmd/manage.py).
    @Test func onlineMigrationErrorsExitTwoOnlyFromStein() {
        for (release, code) in [("mitaka", Int32(0)), ("newton", 0), ("queens", 0), ("rocky", 0), ("stein", 2)] {
            var sim = SimSandbox(release: release)
            sim.state.databases["nova"]!.counters["odm_errors"] = 1
            let r = sim.run("nova-manage db online_data_migrations --max-count 50", tool: release)
            #expect(r.exitCode == code, "\(release)")
            #expect(r.stdout.contains("Error attempting to run"), "\(release): \(r.stdout)")
        }
    }

    /// Mitaka exits 0 after one batch with rows left, and Newton's 330 then refuses: what a library that
    /// read exit 0 as "done" ran into. Newton … Rocky exit 1 while a batch moved rows.
    @Test func mitakaExitsZeroWithRowsLeftAndNewtonRefuses() {
        var sim = SimSandbox(release: "liberty")
        #expect(sim.run("nova-manage db sync", tool: "mitaka").exitCode == 0)
        sim.state.databases["nova"]!.addPending("mitaka", 1200)
        let batch = sim.run("nova-manage db online_data_migrations --max-count 1000", tool: "mitaka")
        #expect(batch.exitCode == 0)
        #expect(batch.stdout.contains("rows matched query"), "\(batch.stdout)")
        #expect((sim.state.databases["nova"]?.pending("mitaka") ?? 0) > 0)
        #expect(sim.run("nova-manage api_db sync", tool: "newton").exitCode == 0)
        let refused = sim.run("nova-manage db sync", tool: "newton")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("330_enforce_mitaka_online_migrations"), "\(refused.stderr)")
        // Until a batch finds nothing, Mitaka's output shows rows matched; then none.
        #expect(sim.run("nova-manage db online_data_migrations --max-count 1000", tool: "mitaka").stdout.contains("rows matched query"))
        let last = sim.run("nova-manage db online_data_migrations --max-count 1000", tool: "mitaka")
        #expect(last.exitCode == 0 && !last.stdout.contains("rows matched query"), "\(last.stdout)")
        var newton = SimSandbox(release: "newton")
        newton.state.databases["nova"]!.addPending("newton", 30)
        #expect(newton.run("nova-manage db online_data_migrations --max-count 20", tool: "newton").exitCode == 1)
        #expect(newton.run("nova-manage db online_data_migrations --max-count 20", tool: "newton").exitCode == 1)
        #expect(newton.run("nova-manage db online_data_migrations --max-count 20", tool: "newton").exitCode == 0)
    }

    /// Kilo's migrate_flavor_data skips instances with a task_state, or resized or rescued, exits 0, and
    /// Liberty's 291 aborts (openstack/nova@2015.1.0 nova/db/sqlalchemy/api.py; 12.0.0 versions/291).
    @Test func kiloFlavorMigrationSkipsUnsettledInstancesAndLibertyAborts() {
        var sim = SimSandbox(release: "kilo")
        sim.state.databases["nova"]!.counters["unsettled_instances"] = 5
        let pending = sim.state.databases["nova"]?.counters["flavor_migration_pending"] ?? 0
        #expect(pending > 5)
        let r = sim.run("nova-manage db migrate_flavor_data", tool: "kilo")
        #expect(r.exitCode == 0)
        #expect(r.stdout.contains("\(pending) instances matched query, \(pending - 5) completed"), "\(r.stdout)")
        let refused = sim.run("nova-manage db sync", tool: "liberty")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("291_enforce_flavors_migrated"), "\(refused.stderr)")
        // --force (Kilo 2015.1.1 on) takes them too.
        #expect(sim.run("nova-manage db migrate_flavor_data --force", tool: "kilo").stdout.contains("5 instances matched query, 5 completed"))
        #expect(sim.run("nova-manage db sync", tool: "liberty").exitCode == 0)
    }

    @Test func novaStatusFailsWithoutPlacementEndpoint() {
        var sim = SimSandbox(release: "ocata")
        #expect(sim.run("nova-status upgrade check", tool: "ocata").exitCode == 0)
        #expect(sim.run("nova-status upgrade check", tool: "newton").exitCode == 127)
        sim.state.catalog.endpoints.removeAll { e in sim.state.catalog.services.contains { $0.id == e.serviceID && $0.type == "placement" } }
        #expect(sim.run("nova-status upgrade check", tool: "ocata").exitCode == 2)
    }

    @Test func novaStatusFailsWhenNoPlacementAPIRuns() {
        var sim = SimSandbox(release: "ocata")
        #expect(sim.run("nova-status upgrade check", tool: "ocata").exitCode == 0)
        for name in sim.state.hosts.keys where sim.state.hosts[name]?.services["httpd"]?.component == "nova" {
            sim.state.hosts[name]?.services["httpd"]?.running = false
        }
        let r = sim.run("nova-status upgrade check", tool: "ocata")
        #expect(r.exitCode == 2)
        #expect(r.stdout.contains("no placement-api is running"), "\(r.stdout)")
    }

    @Test func seedsComputesCellsAndPlacementPerRelease() {
        let kilo = SimSandbox(release: "kilo").state
        #expect(kilo.hosts["cmp001"]?.services["openstack-nova-compute"]?.running == true)
        #expect(kilo.hosts["cmp001"]?.services["neutron-openvswitch-agent"]?.running == true)
        #expect(kilo.databases["nova_api"] == nil)
        let ocata = SimSandbox(release: "ocata").state
        #expect(ocata.databases["nova_api"]?.counters["cell_mappings"] == 2)
        #expect(ocata.catalog.services.contains { $0.type == "placement" })
        #expect(SimSandbox(release: "train").state.databases["placement"]?.schema["main"] == "train")
    }
}
