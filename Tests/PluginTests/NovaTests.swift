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
        #expect(steps[1].onlineMigrations?.onlineMigrations?.exitCodes == [0: "done", 1: "more", 2: "errors"])
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

    @Test func newtonSyncWaitsForMitakaOnlineMigrationsWhichExitOneThenZero() {
        var sim = SimSandbox(release: "liberty")
        #expect(sim.run("nova-manage db online_data_migrations", tool: "liberty").exitCode == 2)
        #expect(sim.run("nova-manage api_db sync", tool: "mitaka").exitCode == 0)
        #expect(sim.run("nova-manage db sync", tool: "mitaka").exitCode == 0)
        #expect(sim.state.databases["nova"]?.counters["odm_pending"] == 20)
        let refused = sim.run("nova-manage db sync", tool: "newton")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("330"))
        #expect(sim.run("nova-manage db online_data_migrations --max-count 15", tool: "mitaka").exitCode == 1)
        #expect(sim.run("nova-manage db online_data_migrations --max-count 15", tool: "mitaka").exitCode == 0)
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

    @Test func onlineMigrationErrorsExitTwo() {
        var sim = SimSandbox(release: "mitaka")
        sim.state.databases["nova"]!.counters["odm_errors"] = 1
        #expect(sim.run("nova-manage db online_data_migrations --max-count 50", tool: "mitaka").exitCode == 2)
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
