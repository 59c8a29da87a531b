import FerryCore
import FerrySimulation
@testable import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// Issue 12 item 7: data-plane probes. Upstream (NeutronKnowledge.dataplane): a Kilo OVS agent's every start removes
/// its host's flows; the first start of a Liberty-or-later agent over ports a Kilo agent bound re-tags their local
/// VLANs at the end of its first sync; a stopped agent changes no flow. The simulation keeps each host's window
/// (NeutronDataplane), answers `ip netns exec qdhcp-… ping` from it, and neutron.dataplane_probe gates the agents'
/// waves on instances answering.
@Suite struct LibraryIssue12DataplaneTests {
    struct Context: SimContext {
        var computes: Int
        func duration(_ key: String, _ fallback: Double) -> Double { fallback }
        func random(_ key: String) -> Double { 0.5 }
        var releases: [String] { Releases.all.map(\.name) }
        var retiredComputes: Int? { nil }
        var now: Double { 0 }
    }

    /// An instance of `host` (its `slot`-th): its address and its network's DHCP namespace.
    static func instance(_ state: SimState, computes: Int, host: String, slot: Int = 0) throws -> (ip: String, namespace: String) {
        let l = NeutronDataplane.Layout(state, context: Context(computes: computes))
        let k = try #require(l.index[host]) * l.perHost + slot
        return (l.address(k), "qdhcp-" + NeutronDataplane.Layout.network(k % l.networks))
    }

    /// A runbook directory beside a copy of the repository's `scripts/lib` (so it can `require "lib.…"`).
    static func runbook(_ files: [String: String]) throws -> String {
        let root = NSTemporaryDirectory() + "ferry-dataplane-" + UUID().uuidString
        let dir = root + "/scripts/runbooks/test"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repository.root + "/scripts/lib", toPath: root + "/scripts/lib")
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    /// kilo-to-queens with its 40-nova-neutron.lua's phases.nova_neutron given `extra` (e.g. `dataplane = false`).
    static func kiloToQueens(_ extra: String) throws -> String {
        let source = Repository.root + "/scripts/runbooks/kilo-to-queens"
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where name.hasSuffix(".lua") {
            var text = try String(contentsOfFile: source + "/" + name, encoding: .utf8)
            if name == "40-nova-neutron.lua" {
                text = text.replacingOccurrences(of: "  dataplane = { sample = 2, hosts = 3, max_loss = \"1m\" },\n", with: "  " + extra + ",\n")
                #expect(text.contains(extra))
            }
            files[name] = text
        }
        return try runbook(files)
    }

    // MARK: The model

    /// What a restart does, release by release (openstack/neutron@2015.1.0 ovs_neutron_agent.py setup_integration_br /
    /// reset_tunnel_br; @7.0.0 and @12.0.0 _restore_local_vlan_map, port_bound, _bind_devices).
    @Test func restartsCutAHostOffWhereUpstreamLosesItsFlowsOrTags() throws {
        var state = SimState()
        state.hosts["cmp0001"] = SimHost(groups: ["computes"])
        state.databases["nova"] = SimDatabase(component: "nova")
        state.databases["nova"]?.counters["instances"] = 10
        let ctx = Context(computes: 1)
        let sim = NeutronSimulation()
        func restart(_ from: String, _ to: String, at: Double, seconds: Double = 8, synced: Bool = true) {
            sim.restarted(unit: "neutron-openvswitch-agent", host: "cmp0001", previous: from, release: to, at: at, seconds: seconds,
                          synced: synced, state: &state, context: ctx)
        }
        // Kilo: every start wipes the flows until the first sync (8 s restart + 10 ports × 0.1 s).
        restart("kilo", "kilo", at: 100)
        #expect(NeutronDataplane.outage(state, host: "cmp0001") == NeutronDataplane.Outage(from: 100, until: 109, why: "the kilo agent's start removed the host's flows until its first sync"))
        #expect(NeutronDataplane.cutOff(state, host: "cmp0001", at: 108.9) != nil)
        #expect(NeutronDataplane.cutOff(state, host: "cmp0001", at: 109) == nil)
        // The first Queens start over Kilo-bound ports: re-tagged at the end of its first sync, stretched with the restart.
        restart("kilo", "queens", at: 200, seconds: 16)
        let retag = try #require(NeutronDataplane.outage(state, host: "cmp0001"))
        #expect(retag.from == 200 && retag.until == 218 && retag.why.contains("re-tags their local VLANs"), "\(retag)")
        // Queens over Queens-bound ports: the tags are restored, nothing is lost.
        restart("queens", "queens", at: 300)
        #expect(NeutronDataplane.cutOff(state, host: "cmp0001", at: 300) == nil)
        #expect(NeutronDataplane.outage(state, host: "cmp0001") == retag)
        // A Kilo start that timed out syncing: cut off until a restart that syncs.
        restart("queens", "kilo", at: 400, synced: false)
        #expect(NeutronDataplane.cutOff(state, host: "cmp0001", at: 10_000)?.from == 400)
        restart("kilo", "kilo", at: 500)
        #expect(NeutronDataplane.outage(state, host: "cmp0001") == NeutronDataplane.Outage(from: 400, until: 509, why: "the kilo agent's start removed the host's flows until its first sync"))
        // A drill does not compare what passes by itself.
        var before = state
        before.transient = [:]
        #expect(SimDiff.lines(before, state).isEmpty)
    }

    /// `ip netns exec qdhcp-<net> ping -c 1 -W 1 <ip>` on a network node: iputils' lines (ping_common.c `finish`) and exit
    /// status (1 when nothing came back); a stopped agent keeps its host's flows; forms the model does not know are recorded.
    @Test func pingFromADHCPNamespaceAnswersAsIputilsDoes() async throws {
        let s = try await LibraryTests.make(runbook: try writeRunbook(#"runbook { name = "noop" } step "noop" { run = function() end }"#),
                                            release: "kilo", target: "queens", computes: 4) { state in
            state.transient["dataplane:cmp0002"] = NeutronDataplane.Outage(from: 0, until: nil, why: "test").encoded
        }
        let up = try Self.instance(s.sim.state, computes: 4, host: "cmp0001", slot: 3)
        let ok = try await StrictSimulationTests.run(s, "ip netns exec \(up.namespace) ping -c 1 -W 1 \(up.ip)", on: "net01")
        #expect(ok.exitCode == 0)
        let lines = ok.stdout.components(separatedBy: "\n")
        #expect(lines.count == 7, "\(lines)")
        #expect(lines[0] == "PING \(up.ip) (\(up.ip)) 56(84) bytes of data.")
        #expect(lines[1].hasPrefix("64 bytes from \(up.ip): icmp_seq=1 ttl=64 time=0.") && lines[1].hasSuffix(" ms"), "\(lines[1])")
        #expect(Array(lines[2...4]) == ["", "--- \(up.ip) ping statistics ---", "1 packets transmitted, 1 received, 0% packet loss, time 0ms"])
        #expect(lines[5].hasPrefix("rtt min/avg/max/mdev = 0.") && lines[5].hasSuffix("/0.000 ms") && lines[6] == "", "\(lines[5])")

        let down = try Self.instance(s.sim.state, computes: 4, host: "cmp0002")
        let lost = try await StrictSimulationTests.run(s, "ip netns exec \(down.namespace) ping -c 1 -W 1 \(down.ip)", on: "net02")
        #expect(lost.exitCode == 1)
        #expect(lost.stdout == "PING \(down.ip) (\(down.ip)) 56(84) bytes of data.\n\n--- \(down.ip) ping statistics ---\n"
                + "1 packets transmitted, 0 received, 100% packet loss, time 0ms\n\n")

        // Stopping the agent changes no flow: its instances still answer.
        let stop = try await StrictSimulationTests.run(s, "systemctl stop neutron-openvswitch-agent", on: "cmp0001")
        #expect(stop.exitCode == 0, "\(stop.stderr)")
        let still = try await StrictSimulationTests.run(s, "ip netns exec \(up.namespace) ping -c 1 -W 1 \(up.ip)", on: "net01")
        #expect(still.exitCode == 0)
        // Starting the Kilo agent again wipes them: 8 s of restart and 10 ports' sync.
        let start = try await StrictSimulationTests.run(s, "systemctl start neutron-openvswitch-agent", on: "cmp0001")
        #expect(start.exitCode == 0, "\(start.stderr)")
        let window = try #require(NeutronDataplane.outage(s.sim.state, host: "cmp0001"))
        #expect(window.until.map { $0 - window.from } == 9, "\(window)")

        // Forms the model does not know: recorded, not judged (exit 0, nothing printed).
        for text in ["ip netns exec \(up.namespace) ping -f \(up.ip)", "ip addr show", "ip netns exec qdhcp-nope ping -c 1 -W 1 \(up.ip)",
                     "ip netns exec \(up.namespace) ping -c 1 -W 1 192.0.2.7"] {
            let r = try await StrictSimulationTests.run(s, text, on: "net01")
            #expect(r.exitCode == 0 && r.stdout.isEmpty, "\(text): \(r.stdout)")
        }
    }

    // MARK: The library

    /// The probe pings the instances of the hosts it samples and names those that stay silent past max_loss.
    @Test func theProbeNamesTheInstancesOfAHostCutOff() async throws {
        let dir = try Self.runbook(["main.lua": """
            runbook { name = "probe" }
            local neutron = require "lib.neutron"
            local p = neutron.dataplane_probe { hosts = 20, sample = 1, max_loss = "20s" }
            step "look" { run = function() end, after = { p.name } }
            """])
        let s = try await LibraryTests.make(runbook: dir, release: "kilo", target: "queens", computes: 20) { state in
            state.transient["dataplane:cmp0007"] = NeutronDataplane.Outage(from: 0, until: nil, why: "test").encoded
        }
        let run = try await LibraryIssue12Tests.run(s)
        #expect(run.status == .failed)
        // The port the probe samples on cmp0007: its first by port id.
        let l = NeutronDataplane.Layout(s.sim.state, context: Context(computes: 20))
        let slot = try #require((0..<l.perHost).min { NeutronDataplane.Layout.port(host: "cmp0007", slot: $0) < NeutronDataplane.Layout.port(host: "cmp0007", slot: $1) })
        let ip = try Self.instance(s.sim.state, computes: 20, host: "cmp0007", slot: slot).ip
        let expected = "1 of 20 instance(s) unreachable from network_nodes for more than 20 s (max_loss 20 s): \(ip) on cmp0007 (not restarted yet)"
        let checks = try await s.engine.journal.checks(run.runID)
        #expect(checks.contains { $0.name == "neutron-dataplane" && !$0.passed && $0.message == expected }, "\(checks.map { $0.message ?? "" })")

        // The same with the host's window over: it passes.
        let fine = try await LibraryTests.make(runbook: dir, release: "kilo", target: "queens", computes: 20) { state in
            state.transient["dataplane:cmp0007"] = NeutronDataplane.Outage(from: 0, until: 1, why: "test").encoded
        }
        let good = try await LibraryIssue12Tests.run(fine)
        #expect(good.status == .succeeded, "\(good.message ?? "")")
    }

    /// A spec key the probe does not know is refused with a suggestion, as every helper does.
    @Test func anUnknownSpecKeyIsRefused() async throws {
        let dir = try Self.runbook(["main.lua": """
            runbook { name = "probe" }
            local neutron = require "lib.neutron"
            neutron.dataplane_probe { max_los = "20s" }
            """])
        do {
            _ = try await LibraryTests.make(runbook: dir, release: "kilo", target: "queens", computes: 4)
            Issue.record("the runbook loaded")
        } catch {
            #expect("\(error)".contains("neutron.dataplane_probe: unknown field 'max_los' (did you mean 'max_loss'?)"), "\(error)")
        }
    }

    /// The first Queens start of a network node re-tags its DHCP and router ports (many: 300 on this region's nodes) for
    /// 38 s. The old wiring restarts the four nodes 8 s apart behind the database gate alone: for a while no network node
    /// reaches any instance, and the run passes without seeing it. The probe sees it: with too small an allowance it
    /// fails naming the node and instances; with the default one it holds each node until it reaches instances again, so
    /// two nodes are never cut off at once. The rollback leaves the region as it was.
    @Test func theProbeCatchesTheNetworkNodesOutageTheOldWiringDoesNotSee() async throws {
        func nodesCutOffTogether(_ s: LibraryTests.Sim) -> Int {
            let state = s.sim.state
            let windows = Sim.hosts(state, in: "network_nodes").compactMap { NeutronDataplane.outage(state, host: $0) }
            // The most windows covering one instant (each window's start is where the count can peak).
            return windows.map { w in windows.filter { $0.covers(w.from) }.count }.max() ?? 0
        }
        let old = try await LibraryTests.make(runbook: try Self.kiloToQueens("dataplane = false"), release: "kilo", target: "queens",
                                              computes: 200)
        let unseen = try await LibraryIssue12Tests.run(old)
        #expect(unseen.status == .succeeded, "\(unseen.step ?? ""): \(unseen.message ?? "")")
        #expect(nodesCutOffTogether(old) >= 2, "\(nodesCutOffTogether(old))")

        let strict = try await LibraryTests.make(runbook: try Self.kiloToQueens(#"dataplane = { max_loss = "1m" }, network_max_loss = "10s""#),
                                                 release: "kilo", target: "queens", computes: 200)
        let before = strict.sim.state
        let caught = try await LibraryIssue12Tests.run(strict)
        #expect(caught.status == .failed)
        #expect(caught.step == "switch-network-agents", "\(caught.step ?? "")")
        #expect(caught.message?.contains("unreachable from network_nodes for more than 10 s (max_loss 10 s)") == true, "\(caught.message ?? "")")
        #expect(caught.message?.contains(" from net01 (") == true, "\(caught.message ?? "")")
        let back = try await strict.engine.rollback(caught.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(SimRegion.differences(before, strict.sim.state).isEmpty, "\(SimRegion.differences(before, strict.sim.state))")

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 200)
        let good = try await LibraryIssue12Tests.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        #expect(nodesCutOffTogether(fixed) == 1)
        let checks = try await fixed.engine.journal.checks(good.runID)
        #expect(checks.contains { $0.name == "neutron-network-agents-gate" && $0.passed })
        #expect(checks.contains { $0.name == "neutron-dataplane" && $0.passed })
    }
}
