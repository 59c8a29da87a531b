import FerryCore
import FerrySimulation
import Foundation
import LuaBridge

/// Neutron's `agents` table in the simulated region, row by row (``SimTable``): an agent per agent unit of each
/// host (`neutron-openvswitch-agent` on computes and network nodes, the DHCP, L3 and metadata agents on network
/// nodes), and the OVS agents of computes retired without `neutron agent-delete` (`Sim.retiredComputes`).
///
/// An agent's `heartbeat_timestamp` is the last time a neutron-server heard its report: the agents report over RPC
/// to the broker of their neutron.conf (`report_state`, openstack/neutron@12.0.0 neutron/agent/rpc.py `PluginReportStateAPI`),
/// so an agent is alive (heartbeat: now) while its unit runs and a running neutron-server listens on that broker,
/// else dead. The model does not keep when a dead agent last reported: its heartbeat is a day before the query,
/// past any `agent_down_time` (75 s by default, @12.0.0 neutron/conf/agent/database/agents_db.py). `agent_type` as
/// neutron-lib names them (openstack/neutron-lib@1.13.0 neutron_lib/constants.py `AGENT_TYPE_OVS` …).
/// A DELETE removes rows (as `neutron agent-delete`, @12.0.0 neutron/db/agents_db.py `delete_agent`); an INSERT of a
/// deleted agent puts it back.
enum NeutronAgents {
    static let types = [
        "neutron-openvswitch-agent": ("Open vSwitch agent", "N/A"), "neutron-dhcp-agent": ("DHCP agent", "dhcp_agent"),
        "neutron-l3-agent": ("L3 agent", "l3_agent"), "neutron-metadata-agent": ("Metadata agent", "N/A"),
    ]

    static func seed(_ state: inout SimState, release: String, context: any SimContext) {
        guard var db = state.databases["neutron"] else { return }
        for host in Sim.retiredComputes(release: release, context: context) { db.flags["agent:\(host):neutron-openvswitch-agent"] = "retired" }
        state.databases["neutron"] = db
    }

    struct Agent {
        var host, binary: String
        var running: Bool
    }

    static func agents(_ state: SimState) -> [Agent] {
        guard let db = state.databases["neutron"] else { return [] }
        var out: [Agent] = []
        for (host, h) in state.hosts {
            for (unit, svc) in h.services where svc.component == "neutron" && types[unit] != nil {
                out.append(Agent(host: host, binary: unit, running: svc.running))
            }
        }
        for key in db.flags.keys where key.hasPrefix("agent:") {
            let parts = key.split(separator: ":", maxSplits: 2).map(String.init)
            if parts.count == 3, state.hosts[parts[1]] == nil { out.append(Agent(host: parts[1], binary: parts[2], running: false)) }
        }
        return out.filter { db.flags["agent-deleted:\($0.host):\($0.binary)"] == nil }.sorted { ($0.host, $0.binary) < ($1.host, $1.binary) }
    }

    static func table(_ name: String, database: String, state: SimState, context: any SimContext) -> SimTable? {
        guard database == "neutron", name == "agents", let db = state.databases["neutron"] else { return nil }
        let listening = Set(state.hosts.compactMap { host, h -> String? in
            h.services["neutron-server"]?.running == true ? db.flags["server_broker:\(host)"] ?? NeutronSimulation.broker(state, host: host) : nil
        })
        let now = context.now
        let rows = agents(state).map { a -> [String: LuaValue] in
            let alive = a.running && listening.contains(NeutronSimulation.broker(state, host: a.host))
            let (type, topic) = types[a.binary] ?? ("", "N/A")
            return ["id": .string(Sim.uuid("agent:\(a.host):\(a.binary)")), "agent_type": .string(type), "binary": .string(a.binary),
                    "topic": .string(topic), "host": .string(a.host), "admin_state_up": .int(1),
                    "heartbeat_timestamp": .string(SimQuery.datetime(alive ? now : now - 86400))]
        }
        return SimTable(columns: ["id", "agent_type", "binary", "topic", "host", "admin_state_up", "heartbeat_timestamp"], rows: rows,
                        unmodelled: ["created_at", "started_at", "availability_zone", "description", "configurations", "resource_versions",
                                     "load", "resources_synced"])
    }

    static func apply(_ change: SimTableChange, database: String, state: inout SimState) -> Int? {
        guard database == "neutron", change.table == "agents", var db = state.databases["neutron"] else { return nil }
        switch change {
        case .delete(_, let rows):
            for r in rows {
                guard let host = r["host"]?.stringValue, let binary = r["binary"]?.stringValue else { continue }
                db.flags["agent-deleted:\(host):\(binary)"] = "1"
            }
            state.databases["neutron"] = db
            return rows.count
        case .insert(_, let row):
            guard let host = row["host"]?.stringValue, let binary = row["binary"]?.stringValue,
                  db.flags.removeValue(forKey: "agent-deleted:\(host):\(binary)") != nil else { return nil }
            state.databases["neutron"] = db
            return 1
        default:
            return nil
        }
    }
}
