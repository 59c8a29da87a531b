import FerryCore
import FerryPlugins
import Testing

@Suite struct GlanceCinderTests {
    let glance = PluginRegistry.knowledge["glance"]!
    let cinder = PluginRegistry.knowledge["cinder"]!

    @Test func glanceKiloToQueensStepsAndTheLibertyStop() throws {
        let steps = try glance.steps(from: "kilo", to: "queens")
        #expect(steps.map(\.release) == ["liberty", "mitaka", "newton", "ocata", "pike", "queens"])
        #expect(steps[0].commands.map(\.text) == ["glance-manage db_sync"])
        #expect(steps[3].commands.map(\.text) == ["glance-manage db sync"])
        // Ocata refuses a legacy database below 42; Liberty, Mitaka or Newton reach it, Newton last (not Liberty).
        #expect(steps.filter { $0.requiredStop != nil }.map(\.release) == ["newton"])
        #expect(try glance.steps(from: "queens", to: "rocky")[0].apiRemovals.first?.contains("Images API v1") == true)
    }

    @Test func cinderKiloToQueensStepsStopsAndODM() throws {
        let steps = try cinder.steps(from: "kilo", to: "queens")
        #expect(steps.map(\.release) == ["liberty", "mitaka", "newton", "ocata", "pike", "queens"])
        // Mitaka's INIT_VERSION 000 syncs Kilo's 041: Liberty is optional, Mitaka the last stop before Newton's 045.
        #expect(steps.filter { $0.requiredStop != nil }.map(\.release) == ["mitaka", "ocata"])
        #expect(steps.filter { $0.onlineMigrations != nil }.map(\.release) == ["ocata", "pike", "queens"])
        #expect(steps[3].onlineMigrations?.onlineMigrations?.maxCountFlag == "--max_count")
        #expect(steps[5].endpoints.map(\.serviceType) == ["volumev3"])
        #expect(steps[5].apiRemovals.first?.contains("v1") == true)
    }

    /// glance-registry ships through Ussuri (openstack/glance@20.0.0) and is gone in Victoria (@21.0.0).
    @Test func glanceRegistryLastShipsInUssuri() throws {
        let registry = try #require(glance.services.first { $0.role == "registry" })
        #expect(registry.exists(in: "ussuri"))
        #expect(!registry.exists(in: "victoria"))
        #expect(glance.units(.deb, release: "ussuri").contains("glance-registry"))
        #expect(!glance.units(.rpm, release: "victoria").contains("openstack-glance-registry"))
    }

    @Test func ocataGlanceManageRefusesAKiloDatabase() {
        var sim = SimSandbox(release: "kilo")
        let r = sim.run("glance-manage db sync", tool: "ocata")
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("The current database version is not supported any more. Please upgrade to Liberty release first."))
        #expect(sim.state.databases["glance"]?.schema["main"] == "kilo")
    }

    @Test func glanceSyncsMoveTheSchemaAndTheVersionTheDatabaseShows() {
        var sim = SimSandbox(release: "kilo")
        #expect(sim.state.databases["glance"]?.flags["migrate_version"] == "41")
        #expect(sim.run("glance-manage db_sync", tool: "liberty").exitCode == 0)
        #expect(sim.state.databases["glance"]?.flags["migrate_version"] == "42")
        #expect(sim.run("glance-manage db_sync", tool: "mitaka").exitCode == 0)
        #expect(sim.run("glance-manage db_sync", tool: "newton").exitCode == 0)
        #expect(sim.state.databases["glance"]?.flags["migrate_version"] == "44")
        #expect(sim.run("glance-manage db sync", tool: "ocata").exitCode == 0)
        #expect(sim.state.databases["glance"]?.schema["main"] == "ocata")
        #expect(sim.state.databases["glance"]?.flags["alembic_version"] == "ocata01")
        // Expand, migrate, contract in that order only.
        #expect(sim.run("glance-manage db contract", tool: "pike").exitCode == 1)
        #expect(sim.run("glance-manage db expand", tool: "pike").exitCode == 0)
        #expect(sim.run("glance-manage db migrate", tool: "pike").exitCode == 0)
        #expect(sim.run("glance-manage db contract", tool: "pike").exitCode == 0)
        #expect(sim.state.databases["glance"]?.flags["alembic_version"] == "pike01")
    }

    @Test func newtonCinderManageRefusesAKiloDatabase() {
        var sim = SimSandbox(release: "kilo")
        let r = sim.run("cinder-manage db sync", tool: "newton")
        #expect(r.exitCode != 0)
        #expect(r.stderr.contains("version 41") && r.stderr.contains("045") == false && r.stderr.contains("45"))
        #expect(r.stderr.contains("liberty"))
        #expect(sim.state.databases["cinder"]?.schema["main"] == "kilo")
    }

    @Test func newtonCinderManageHasNoOnlineDataMigrations() {
        var sim = SimSandbox(release: "newton")
        let r = sim.run("cinder-manage db online_data_migrations --max_count 50", tool: "newton")
        #expect(r.exitCode == 2)
        // openstack/cinder@9.0.0 cinder/cmd/manage.py DbCommands: purge, sync, version.
        #expect(r.stderr.contains("argument action: invalid choice: 'online_data_migrations' (choose from 'purge', 'sync', 'version')"), "\(r.stderr)")
    }

    @Test func pikeCinderSyncWaitsForOcataOnlineMigrationsWhichExitOneThenZero() {
        var sim = SimSandbox(release: "newton")
        #expect(sim.run("cinder-manage db sync", tool: "ocata").exitCode == 0)
        #expect(sim.state.databases["cinder"]?.flags["migrate_version"] == "96")
        let pending = sim.state.databases["cinder"]!.counters["odm_pending"]!
        #expect(pending == 20)
        let refused = sim.run("cinder-manage db sync", tool: "pike")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("097"))
        #expect(sim.run("cinder-manage db online_data_migrations --max_count 15", tool: "ocata").exitCode == 1)
        #expect(sim.run("cinder-manage db online_data_migrations --max_count 15", tool: "ocata").exitCode == 0)
        #expect(sim.state.databases["cinder"]?.counters["odm_pending"] == 0)
        #expect(sim.run("cinder-manage db sync", tool: "pike").exitCode == 0)
        #expect(sim.state.databases["cinder"]?.flags["migrate_version"] == "105")
    }

    @Test func cinderUpdateHostMovesTheVolumesOfABackendHost() {
        var sim = SimSandbox(release: "kilo")
        let before = sim.state.databases["cinder"]!.counters["volumes_host:ctl1@lvm"]!
        #expect(before > 0)
        let r = sim.run("cinder-manage volume update_host --currenthost ctl1@lvm --newhost cinder-cluster@lvm", tool: "kilo")
        #expect(r.exitCode == 0)
        #expect(sim.state.databases["cinder"]!.counters["volumes_host:ctl1@lvm"] == nil)
        #expect(sim.state.databases["cinder"]!.counters["volumes_host:cinder-cluster@lvm"] == before)
        // `service remove` arrives in Liberty (openstack/cinder@7.0.0 cinder/cmd/manage.py ServiceCommands.remove;
        // 2015.1.0's has only list): Kilo's cinder-manage refuses it as argparse does.
        let kilo = sim.run("cinder-manage service remove cinder-volume ctl1@lvm", tool: "kilo")
        #expect(kilo.exitCode == 2 && kilo.stderr.contains("invalid choice: 'remove' (choose from 'list')"), "\(kilo.stderr)")
        #expect(sim.run("cinder-manage service remove cinder-volume gone@lvm", tool: "liberty").exitCode == 2)
        #expect(sim.run("cinder-manage service remove cinder-volume ctl1@lvm", tool: "liberty").exitCode == 0)
    }

    @Test func seedsCatalogPerRelease() {
        let kilo = SimSandbox(release: "kilo").state.catalog
        let queens = SimSandbox(release: "queens").state.catalog
        #expect(kilo.services.map(\.type).contains("volume"))
        #expect(!kilo.services.map(\.type).contains("volumev3"))
        #expect(queens.services.map(\.type).contains("volumev3"))
        #expect(!queens.services.map(\.type).contains("volume"))
    }
}
