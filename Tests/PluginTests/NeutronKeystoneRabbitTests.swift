import FerryCore
import FerryPlugins
import Testing

@Suite struct NeutronKeystoneRabbitTests {
    @Test func neutronStepsExpandThenContract() throws {
        let steps = try PluginRegistry.knowledge["neutron"]!.steps(from: "kilo", to: "queens")
        #expect(steps.count == 6)
        #expect(steps.allSatisfy { $0.requiredStop == nil })
        #expect(steps[0].commands.map { $0.argv.suffix(2) } == [["upgrade", "--expand"], ["upgrade", "--contract"]])
    }

    @Test func neutronBranchesAndOfflineMigrations() {
        var sim = SimSandbox(release: "kilo")
        #expect(sim.run("neutron-db-manage upgrade --expand", tool: "kilo").exitCode == 2)
        #expect(sim.run("neutron-db-manage upgrade heads", tool: "liberty").exitCode == 0)
        #expect(sim.run("neutron-db-manage --config-file /etc/neutron/neutron.conf upgrade --expand", tool: "mitaka").exitCode == 0)
        #expect(sim.state.databases["neutron"]?.schema["expand"] == "mitaka")
        #expect(sim.run("neutron-db-manage has_offline_migrations", tool: "mitaka").exitCode == 1)
        #expect(sim.run("neutron-db-manage upgrade --contract", tool: "mitaka").exitCode == 0)
        #expect(sim.run("neutron-db-manage has_offline_migrations", tool: "mitaka").exitCode == 0)
        #expect(sim.state.databases["neutron"]?.schema["main"] == "mitaka")
    }

    @Test func keystoneRollingSyncInOrderFromNewton() throws {
        var sim = SimSandbox(release: "mitaka")
        #expect(sim.run("keystone-manage db_sync --expand", tool: "mitaka").exitCode == 2)
        #expect(sim.run("keystone-manage db_sync --migrate", tool: "newton").exitCode == 1)
        #expect(sim.run("keystone-manage db_sync --expand", tool: "newton").exitCode == 0)
        #expect(sim.run("keystone-manage db_sync --migrate", tool: "newton").exitCode == 0)
        #expect(sim.run("keystone-manage db_sync --contract", tool: "newton").exitCode == 0)
        #expect(sim.state.databases["keystone"]?.schema["main"] == "newton")
        let steps = try PluginRegistry.knowledge["keystone"]!.steps(from: "kilo", to: "queens")
        #expect(steps.map(\.release) == ["liberty", "mitaka", "newton", "ocata", "pike", "queens"])
        #expect(steps.allSatisfy { $0.commands.map(\.text) == ["keystone-manage db_sync"] && $0.requiredStop == nil })
        #expect(steps[3].apiRemovals == ["PKI and PKIz token formats"])
        let queens = try #require(PluginRegistry.knowledge["keystone"]!.step(for: "queens"))
        #expect(queens.apiRemovals.first?.contains("v2.0") == true)
        #expect(queens.endpoints.first?.path == "/v3")
    }

    @Test func keystoneSeedsTheIdentityEndpointAndTokenProvider() {
        let kilo = SimSandbox(release: "kilo").state
        #expect(kilo.catalog.endpoints.contains { $0.url.hasSuffix("/v2.0") })
        #expect(kilo.hosts["ctl1"]?.files["/etc/keystone/keystone.conf"]?.contains("uuid") == true)
        #expect(SimSandbox(release: "queens").state.catalog.endpoints.contains { $0.url.hasSuffix(":5000/v3") })
    }

    @Test func rabbitSeedsTheOldClusterWithNotificationBacklog() {
        var sim = SimSandbox(release: "kilo", newRelease: "queens")
        let queues = sim.state.brokers["rabbit_old"]?.queues ?? []
        #expect(queues.first { $0.name == "notifications.info" }?.messages == 50)
        #expect(sim.state.hosts["rmq2"]?.services["rabbitmq-server"]?.running == false)
        #expect(sim.run("rabbitmqctl status", tool: nil, on: "rmq1").exitCode == 0)
        #expect(sim.run("rabbitmqctl status", tool: nil, on: "rmq2").exitCode == 69)
        #expect(sim.state.hosts["glq1"]?.services["openstack-glance-api"]?.running == false)
        #expect(sim.state.hosts["glq1"]?.code["glance"] == "queens")
    }
}
