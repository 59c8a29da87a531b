import FerryCore
import FerrySimulation
import Foundation
import LuaBridge

/// The instances' data plane in the simulated region: what an Open vSwitch agent's restart does to the traffic of the
/// instances of its host, the instances' ports and addresses (the `ml2_port_bindings` and `ipallocations` tables), and
/// `ping` from a network node's DHCP namespace, answered from that.
///
/// Upstream, by release (NeutronKnowledge.dataplane cites each):
/// - **Kilo**: every start of the agent wipes the host's flows: `setup_integration_br` removes all of br-int's flows
///   (leaving one NORMAL flow), `reset_tunnel_br` re-creates br-tun without flows, `setup_physical_bridges` removes the
///   physical bridges' (openstack/neutron@2015.1.0 neutron/plugins/openvswitch/agent/ovs_neutron_agent.py `__init__`,
///   `setup_integration_br`, `reset_tunnel_br`, `setup_physical_bridges`), and local VLANs are allocated afresh
///   (`provision_local_vlan` pops `available_local_vlans`; no record of the old ones). Tunnel and VLAN traffic of the
///   host's instances stops until the first `rpc_loop` iteration has processed every port (`process_network_ports`).
/// - **Liberty on**: the agent keeps the flows on start (`drop_flows_on_start`, default False) and removes the stale
///   ones (an older cookie) only after its first full sync (`cleanup_stale_flows`), and it restores each port's local
///   VLAN from the `other_config` `net_uuid` that `port_bound` writes into OVSDB (`_restore_local_vlan_map`):
///   openstack/neutron@7.0.0 and @12.0.0 neutron/plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py. Kilo's
///   `port_bound` writes no `other_config`: the first start of a Liberty-or-later agent over ports a Kilo agent bound
///   finds no hint, allocates new local VLANs, installs the inbound tunnel/VLAN flows for them (replacing Kilo's, same
///   match) and re-tags the ports only in `_bind_devices` at the end of that first sync: the instances of the host lose
///   traffic until then. Its later restarts restore the tags: no loss.
/// - An agent stopped (or unable to reach neutron-server) changes no flow: ovs-vswitchd keeps forwarding with the
///   flows it has. Local VLAN ids are host-local; on the wire a tunnel carries the segmentation id (br-tun
///   `provision_local_vlan` maps tun_id ↔ local VLAN on each host), so an upgraded host and one not yet upgraded reach
///   each other as long as each has its flows.
///
/// The model: a restart that wipes or re-tags opens a window `dataplane:<host>` (``SimState/transient``) from the
/// restart's instant until the end of its first sync: the restart's own time plus 0.1 s (a model figure, the
/// per-port work of `treat_devices_added_or_updated` and the firewall; `durations:` key
/// `neutron-openvswitch-agent resync per port`) per port of the host, stretched as
/// the restart was under the database's load. A start that timed out syncing leaves it open until a restart syncs.
/// What it does not keep: OVSDB's `other_config` survives a rollback upstream (a host rolled back to Kilo and
/// restarted on Queens again keeps its tags); the model counts that second first-start as re-tagging again.
enum NeutronDataplane {
    static let agent = "neutron-openvswitch-agent"
    static let key = "dataplane:"
    /// Seconds of the first sync per port of the host (before `durations:` and `duration_scale`).
    static let perPortKey = "neutron-openvswitch-agent resync per port"

    // MARK: Where the instances are

    /// The instances' layout: instance `k` of the region (compute `k / perHost`, the `k % perHost`-th there, computes
    /// in name order) has one port on network `k % networks`, address 10.<n / 256>.<n % 256>.<10 + k / networks>.
    struct Layout {
        var computes: [String]
        var index: [String: Int]
        var perHost: Int
        var networks: Int

        init(_ state: SimState, context: any SimContext) {
            computes = Sim.hosts(state, in: "computes")
            index = Dictionary(uniqueKeysWithValues: computes.enumerated().map { ($1, $0) })
            let total = state.databases["nova"]?.counters["instances"] ?? 0
            perHost = computes.isEmpty ? 0 : total / max(1, context.computes)
            // A network per four ports (NeutronSimulation.seed's DHCP networks: five per compute).
            networks = max(1, context.computes * 5)
        }

        func address(_ k: Int) -> String {
            let n = k % networks
            return "10.\(n / 256 % 256).\(n % 256).\(10 + k / networks)"
        }

        /// The instance an address names: (host, its n-th instance there, network), or nil.
        func instance(_ ip: String) -> (host: String, slot: Int, network: Int)? {
            let parts = ip.split(separator: ".").compactMap { Int($0) }
            guard parts.count == 4, parts[0] == 10, parts[3] >= 10, perHost > 0 else { return nil }
            let n = parts[1] * 256 + parts[2]
            let k = (parts[3] - 10) * networks + n
            guard n < networks, k < computes.count * perHost else { return nil }
            return (computes[k / perHost], k % perHost, n)
        }

        static func port(host: String, slot: Int) -> String { Sim.uuid("port:\(host):\(slot)") }
        static func network(_ n: Int) -> String { Sim.uuid("network:\(n)") }
        static func subnet(_ n: Int) -> String { Sim.uuid("subnet:\(n)") }
    }

    /// Ports the host's agent binds: its instances' on a compute, a DHCP port per network and two per router on a
    /// network node.
    static func ports(host: String, state: SimState, context: any SimContext) -> Int {
        if state.hosts[host]?.groups.contains("computes") == true {
            return context.computes > 0 ? (state.databases["nova"]?.counters["instances"] ?? 0) / context.computes : 0
        }
        let db = state.databases["neutron"]
        return (db?.counters["dhcp_networks:\(host)"] ?? 0) + 2 * (db?.counters["l3_routers:\(host)"] ?? 0)
    }

    // MARK: Outages

    struct Outage: Equatable {
        var from: Double
        /// nil: until a restart syncs.
        var until: Double?
        var why: String

        init(from: Double, until: Double?, why: String) { (self.from, self.until, self.why) = (from, until, why) }
        init?(_ text: String?) {
            guard let parts = text?.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false), parts.count == 3,
                  let from = Double(parts[0]) else { return nil }
            (self.from, until, why) = (from, Double(parts[1]), String(parts[2]))
        }
        var encoded: String { "\(from)|\(until.map { "\($0)" } ?? "")|\(why)" }
        func covers(_ t: Double) -> Bool { from <= t && (until.map { t < $0 } ?? true) }
    }

    static func outage(_ state: SimState, host: String) -> Outage? { Outage(state.transient[key + host]) }

    /// The host's instances are cut off at `t`: its agent's restart is still syncing (or timed out doing so).
    static func cutOff(_ state: SimState, host: String, at t: Double) -> Outage? {
        outage(state, host: host).flatMap { $0.covers(t) ? $0 : nil }
    }

    /// An OVS agent restarted: the window its restart opens (or closes), per the facts above.
    static func restarted(host: String, previous: String, release: String, at: Double, seconds: Double, synced: Bool,
                          state: inout SimState, context: any SimContext) {
        let nominal = context.duration("\(agent) restart", 8)
        let stretch = nominal > 0 ? max(1, seconds / nominal) : 1
        let sync = Double(ports(host: host, state: state, context: context)) * context.duration(perPortKey, 0.1) * stretch
        let end: Double? = synced ? at + seconds + sync : nil
        let why: String?
        if Sim.before(release, "liberty") {
            why = "the \(release) agent's start removed the host's flows until its first sync"
        } else if Sim.before(previous, "liberty") {
            why = "the first \(release) start over ports a \(previous) agent bound (no other_config net_uuid) re-tags their local VLANs "
                + "at the end of its first sync"
        } else {
            why = nil
        }
        let current = cutOff(state, host: host, at: at)
        if let why {
            // A loss that was still running goes on: it began then.
            state.transient[key + host] = Outage(from: current?.from ?? at, until: end, why: current?.why ?? why).encoded
        } else if var current, synced {
            // A restart that syncs ends what an earlier one left (its flows put back, its ports re-tagged).
            current.until = end
            state.transient[key + host] = current.encoded
        }
    }

    // MARK: Tables

    /// `ml2_port_bindings` (port_id, host, vif_type, vnic_type; openstack/neutron@2015.1.0 neutron/plugins/ml2/models.py
    /// `PortBinding`) and `ipallocations` (port_id, ip_address, subnet_id, network_id; @2015.1.0 neutron/db/models_v2.py
    /// `IPAllocation`), for the instances' ports: the model keeps no DHCP or router port.
    static func table(_ name: String, database: String, state: SimState, context: any SimContext) -> SimTable? {
        guard database == "neutron", name == "ml2_port_bindings" || name == "ipallocations" else { return nil }
        let l = Layout(state, context: context)
        var rows: [[String: LuaValue]] = []
        rows.reserveCapacity(l.computes.count * l.perHost)
        for (h, host) in l.computes.enumerated() {
            for slot in 0..<l.perHost {
                let port = Layout.port(host: host, slot: slot)
                if name == "ml2_port_bindings" {
                    rows.append(["port_id": .string(port), "host": .string(host), "vif_type": .string("ovs"), "vnic_type": .string("normal")])
                } else {
                    let k = h * l.perHost + slot
                    let n = k % l.networks
                    rows.append(["port_id": .string(port), "ip_address": .string(l.address(k)), "subnet_id": .string(Layout.subnet(n)),
                                 "network_id": .string(Layout.network(n))])
                }
            }
        }
        if name == "ml2_port_bindings" {
            return SimTable(columns: ["port_id", "host", "vif_type", "vnic_type"], rows: rows,
                            unmodelled: ["profile", "vif_details", "driver", "segment", "status"])
        }
        return SimTable(columns: ["port_id", "ip_address", "subnet_id", "network_id"], rows: rows)
    }

    // MARK: ping

    /// `ip netns exec qdhcp-<network> ping -c N -W S <address>` on a network node: answered from the model when the
    /// address is an instance's and the namespace its network's; any other form of `ip` (or of ping) is left to the
    /// recorder. iputils' output (iputils s20101006 ping/ping_common.c `finish`, ping.c: the same lines in the
    /// s20121221 Ubuntu 16.04 ships and the 20160308 of CentOS 7): `N packets transmitted, R received, L% packet loss,
    /// time Tms`, exit 1 when nothing was received (`exit(!nreceived || …)`).
    static func ping(_ command: SimCommand, state: SimState, context: any SimContext) -> SimOutcome? {
        let argv = command.argv
        guard argv.count >= 5, argv[1] == "netns", argv[2] == "exec", argv[3].hasPrefix("qdhcp-"),
              (argv[4] as NSString).lastPathComponent == "ping" else { return nil }
        var count = 1
        var wait = 1.0
        var target: String?
        var i = 5
        while i < argv.count {
            switch argv[i] {
            case "-c": guard i + 1 < argv.count, let n = Int(argv[i + 1]), n > 0 else { return nil }; count = n; i += 2
            case "-W": guard i + 1 < argv.count, let w = Double(argv[i + 1]), w > 0 else { return nil }; wait = w; i += 2
            case "-q": i += 1
            default:
                guard target == nil, !argv[i].hasPrefix("-") else { return nil }
                target = argv[i]
                i += 1
            }
        }
        guard let ip = target, state.hosts[command.host]?.groups.contains("network_nodes") == true,
              state.hosts[command.host]?.services["neutron-dhcp-agent"] != nil else { return nil }
        let l = Layout(state, context: context)
        guard let inst = l.instance(ip), argv[3] == "qdhcp-" + Layout.network(inst.network) else { return nil }
        let now = context.now
        let reachable = cutOff(state, host: inst.host, at: now) == nil && cutOff(state, host: command.host, at: now) == nil
        var out = "PING \(ip) (\(ip)) 56(84) bytes of data.\n"
        // A reply in 0.3–0.8 ms, the same for the same instance.
        let rtt = 300 + Int(context.random("ping|\(ip)") * 500)
        if reachable {
            for seq in 1...count { out += "64 bytes from \(ip): icmp_seq=\(seq) ttl=64 time=0.\(rtt) ms\n" }
        }
        let elapsed = (count - 1) * 1000
        out += "\n--- \(ip) ping statistics ---\n"
        out += "\(count) packets transmitted, \(reachable ? count : 0) received, \(reachable ? 0 : 100)% packet loss, time \(elapsed)ms\n"
        if reachable {
            out += "rtt min/avg/max/mdev = 0.\(rtt)/0.\(rtt)/0.\(rtt)/0.000 ms\n"
            return SimOutcome(stdout: out, duration: Double(count - 1) + 0.001)
        }
        return SimOutcome(exitCode: 1, stdout: out + "\n", duration: Double(count - 1) + wait)
    }
}
