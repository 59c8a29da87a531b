import FerryCore
import FerrySimulation
@testable import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// Issue 12 item 6: the DHCP rescheduling storm. A Queens neutron-server on the new broker sees every agent still
/// on the old one as dead; with `allow_automatic_dhcp_failover` (default True, openstack/neutron@12.0.0
/// neutron/conf/agent/database/agentschedulers_db.py) it moves every network of those DHCP agents to the first one
/// that reports to it (@12.0.0 neutron/db/agentschedulers_db.py remove_networks_from_down_agents).
@Suite struct LibraryIssue12NeutronTests {
    static let conf = "/etc/neutron/neutron.conf"

    /// What the old runbook needs to get to the Neutron agents on this region: a Keystone that substitutes
    /// project_id (its endpoints), no Kilo Cinder rows (Queens Cinder starts) and computes that already have a
    /// [placement] section (Queens nova-compute starts): items 1, 2 and 5, fixed elsewhere.
    static func pastItemsOneTwoAndFive(_ s: inout SimState) {
        LibraryIssue12ComputeTests.pastItemsOneAndTwo(&s)
        for h in Sim.hosts(s, in: "computes") { s.hosts[h]?.files["/etc/nova/nova.conf"] = "[placement]\nos_region_name = RegionOne\n" }
    }

    static func networks(_ state: SimState) -> [String: Int] {
        (state.databases["neutron"]?.counters ?? [:]).filter { $0.key.hasPrefix("dhcp_networks:") }
    }

    /// The model alone: an agent on the server's broker gets the networks of the agents on another; L3 routers only
    /// where the region turned allow_automatic_l3agent_failover on (default False, @12.0.0 neutron/conf/db/l3_agentschedulers_db.py).
    @Test func anAgentOnTheServersBrokerGetsTheNetworksOfTheDeadOnes() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        var state = s.sim.state
        let nodes = Sim.hosts(state, in: "network_nodes")
        let server = try #require(Sim.hosts(state, in: "neutron_new").first)
        let total = Self.networks(state).values.reduce(0, +)
        #expect(total == 100 && nodes.count == 4 && Self.networks(state).count == 4)
        let url = "rabbit://neutron@rabbit-new-1:5672/"
        state.hosts[server]?.files[Self.conf] = "[DEFAULT]\ntransport_url = \(url)\n"
        state.hosts[server]?.services["neutron-server"]?.running = true
        #expect(NeutronSimulation().start(unit: "neutron-server", host: server, release: "queens", state: &state) == nil)
        // An agent still on the old broker: alive to no failover-enabled server on its broker that sees others dead.
        #expect(NeutronSimulation.reschedule(unit: "neutron-dhcp-agent", host: nodes[0], state: &state) == nil)
        state.hosts[nodes[0]]?.files[Self.conf] = "[DEFAULT]\ntransport_url = \(url)\n"
        #expect(NeutronSimulation.reschedule(unit: "neutron-l3-agent", host: nodes[0], state: &state) == nil)
        let surge = try #require(NeutronSimulation.reschedule(unit: "neutron-dhcp-agent", host: nodes[0], state: &state))
        #expect(surge.threads == 75)
        #expect(surge.why.contains("rescheduled 75 network(s) onto it from 3 neutron-dhcp-agent(s) reporting to another broker"), "\(surge.why)")
        #expect(Self.networks(state)["dhcp_networks:\(nodes[0])"] == total)
        #expect(NeutronSimulation.reschedule(unit: "neutron-dhcp-agent", host: nodes[0], state: &state) == nil)   // nothing left

        // The options off at the server's start: nothing moves.
        var off = s.sim.state
        off.hosts[server]?.files[Self.conf] = "[DEFAULT]\ntransport_url = \(url)\nallow_automatic_dhcp_failover = false\n"
        off.hosts[server]?.services["neutron-server"]?.running = true
        _ = NeutronSimulation().start(unit: "neutron-server", host: server, release: "queens", state: &off)
        off.hosts[nodes[0]]?.files[Self.conf] = "[DEFAULT]\ntransport_url = \(url)\n"
        #expect(NeutronSimulation.reschedule(unit: "neutron-dhcp-agent", host: nodes[0], state: &off) == nil)
        // L3 on where the region turned it on.
        var l3 = s.sim.state
        l3.hosts[server]?.files[Self.conf] = "[DEFAULT]\ntransport_url = \(url)\nallow_automatic_l3agent_failover = True\n"
        l3.hosts[server]?.services["neutron-server"]?.running = true
        _ = NeutronSimulation().start(unit: "neutron-server", host: server, release: "queens", state: &l3)
        l3.hosts[nodes[0]]?.files[Self.conf] = "[DEFAULT]\ntransport_url = \(url)\n"
        let routers = try #require(NeutronSimulation.reschedule(unit: "neutron-l3-agent", host: nodes[0], state: &l3))
        #expect(routers.why.contains("allow_automatic_l3agent_failover = True") && routers.threads == 14, "\(routers.why)")
    }

    /// The old runbook starts Queens neutron-server with failover on while every agent reports to the old broker:
    /// the first network node's DHCP agent, moved to the new broker, gets every network and times out under the load.
    /// The fixed runbook turns failover off for the window and puts it back: the networks stay where they were.
    @Test func oldRunbookStormsTheFirstDHCPAgentAndTheFixedOneDoesNot() async throws {
        let old = try await LibraryTests.make(runbook: LibraryIssue12Tests.before, release: "kilo", target: "queens", computes: 20,
                                              adjust: Self.pastItemsOneTwoAndFive)
        let before = Self.networks(old.sim.state)
        let run = try await LibraryIssue12Tests.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "switch-network-agents", "\(run.step ?? ""): \(run.message ?? "")")
        let message = run.failedHosts.first?.message ?? ""
        #expect(message.contains("Job for neutron-dhcp-agent.service failed: the agent timed out syncing with neutron-server "
                                 + "(Neutron database overloaded: Threads_running 81, threshold 64)"), "\(message)")
        #expect(message.contains("(allow_automatic_dhcp_failover = True) rescheduled 75 network(s) onto it from 3 neutron-dhcp-agent(s)"),
                "\(message)")
        // The agent that timed out syncs nothing: the storm's 75 threads do not outlive it, so the rollback
        // that restarts net01's agents right after meets the ordinary load (below the threshold), every time.
        let threads = try await old.sim.databaseDriver.connect("neutron").status("Threads_running")
        #expect((Int(threads.stringValue ?? "") ?? 999) < 64, "\(threads)")
        let back = try await old.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "") \(back.step ?? "") \(back.failedHosts.first?.message ?? "")")
        #expect(Self.networks(old.sim.state) == before)   // the neutron database's restore

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let spread = Self.networks(fixed.sim.state)
        let good = try await LibraryIssue12Tests.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        #expect(Self.networks(fixed.sim.state) == spread)
        let db = try #require(fixed.sim.state.databases["neutron"])
        for server in Sim.hosts(fixed.sim.state, in: "neutron_new") {
            // Restored: the keys the file did not have are gone again, and the server restarted with upstream's defaults.
            let text = fixed.sim.state.hosts[server]?.files[Self.conf] ?? ""
            #expect(!text.contains("allow_automatic"), "\(text)")
            #expect(db.flags["server_allow_automatic_dhcp_failover:\(server)"] == "True")
            #expect(db.flags["server_allow_automatic_l3agent_failover:\(server)"] == "False")
        }
    }

    /// A region that runs with L3 failover on keeps it: off for the window, back to True after, and the rollback of the
    /// fixed runbook puts the file back as it was.
    @Test func aRegionsOwnFailoverSettingsComeBack() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) { state in
            for h in Sim.hosts(state, in: "neutron_new") {
                state.hosts[h]?.files[Self.conf] = "[DEFAULT]\nallow_automatic_l3agent_failover = True\n"
            }
        }
        let spread = Self.networks(s.sim.state)
        let run = try await LibraryIssue12Tests.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(Self.networks(s.sim.state) == spread)
        let db = try #require(s.sim.state.databases["neutron"])
        for h in Sim.hosts(s.sim.state, in: "neutron_new") {
            let ini = IniDocument(s.sim.state.hosts[h]?.files[Self.conf] ?? "")
            #expect(ini.get("DEFAULT", "allow_automatic_l3agent_failover") == "True")
            #expect(ini.get("DEFAULT", "allow_automatic_dhcp_failover") == nil)
            #expect(db.flags["server_allow_automatic_l3agent_failover:\(h)"] == "True")
        }
        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        for h in Sim.hosts(s.sim.state, in: "neutron_new") {
            let ini = IniDocument(s.sim.state.hosts[h]?.files[Self.conf] ?? "")
            #expect(ini.get("DEFAULT", "allow_automatic_l3agent_failover") == "True")
            #expect(ini.get("DEFAULT", "allow_automatic_dhcp_failover") == nil)
        }
    }
}
