import FerryCore
import Foundation
import LuaBridge

/// The simulated region's hosts, groups, VIPs and databases: the region file completed with
/// what it leaves out. Generic groups come from `simulate:` (`computes`, `network_nodes`,
/// `db`, `lb`); each component adds its own (``SimComponent/complete(_:)``), its controllers
/// (`<component>_old`, `<component>_new`) with a VIP per API, and its databases.
public enum SimTopology {
    /// The region a run sees: `base` with every group, VIP and database it does not name.
    static func expand(_ base: Region, config: SimConfig, components: SimComponents) -> Region {
        var r = base
        r.ssh.transport = .local
        if r.ssh.parallel == SSHSettings().parallel { r.ssh.parallel = 1000 }
        if r.groups["computes"] == nil {
            let width = max(4, String(config.computes).count)
            addGroup(&r, "computes", hosts: (0..<config.computes).map {
                "cmp" + String(repeating: "0", count: max(0, width - String($0 + 1).count)) + String($0 + 1)
            })
        }
        addGroup(&r, "network_nodes", hosts: (1...max(1, config.networkNodes)).map { String(format: "net%02d", $0) })
        addGroup(&r, "db", hosts: (1...3).map { "db\($0)" })
        addGroup(&r, "lb", hosts: ["lb1", "lb2"])
        // What every component brings to any region (a region-wide service's hosts and settings).
        for c in components.all { c.complete(&r) }
        var vips = r.vips
        var databases = r.databases
        let enabled = config.components ?? []
        for name in enabled {
            let c = components.component(name)
            // A component without an API (a message broker) has no controllers or VIP.
            guard !c.apis.isEmpty else { continue }
            for side in ["old", "new"] {
                addGroup(&r, "\(name)_\(side)", hosts: (1...config.controllers).map { "\(name)-\(side)-\($0)" })
            }
            for api in c.apis where vips[api.name] == nil {
                let servers: [String: LuaValue] = [
                    "\(name)_old": .array((r.groups["\(name)_old"] ?? []).map { .string($0) }),
                    "\(name)_new": .array((r.groups["\(name)_new"] ?? []).map { .string($0) }),
                ]
                vips[api.name] = ["driver": "sim", "url": .string("http://\(api.name).sim:\(api.port)"), "servers": .map(servers)]
            }
        }
        for name in enabled {
            for db in components.component(name).databases where databases[db] == nil {
                databases[db] = ["driver": "sim", "database": .string(db)]
            }
        }
        r.vips = vips
        r.databases = databases
        // Each host's package family, generated hosts included (`inventory.families` may name `computes`).
        r.resolveFamilies()
        return r
    }

    /// Adds a group of new hosts, unless the region already has the group (from its inventory).
    public static func addGroup(_ region: inout Region, _ group: String, hosts: [String]) {
        guard region.groups[group] == nil else { return }
        for n in hosts {
            region.addHost(RegionHost(name: n, groups: [group]))
            region.addToGroup(group, n)
        }
    }
}
