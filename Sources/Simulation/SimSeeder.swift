import FerryCore
import Foundation

/// The model of a region untouched by any run: its hosts, an empty broker and catalog, each
/// component as its plugin seeds it (``SimComponent/seed(_:release:newRelease:context:)``),
/// every simulated VIP's servers, and each component's code behind its link.
enum SimSeeder {
    static func seed(region: Region, config: SimConfig, components: SimComponents, context: any SimContext) -> SimState {
        var s = SimState()
        for name in region.hostOrder {
            s.hosts[name] = SimHost(groups: region.hosts[name]?.groups ?? [], family: region.hosts[name]?.family)
        }
        s.brokers["default"] = SimBroker()
        s.catalog.regions = ["RegionOne"]
        for c in config.components ?? [] {
            components.component(c).seed(&s, release: config.release, newRelease: config.target, context: context)
        }
        // One database server holds every component's database.
        for name in s.databases.keys { s.databases[name]?.flags["server_version"] = config.databaseServer }
        // Every simulated VIP: its `_old` servers ready, its `_new` ones in maintenance.
        for (name, settings) in region.vips where settings["driver"].stringValue == "sim" && s.vips[name] == nil {
            var vip = SimVIP()
            for (group, servers) in settings["servers"].mapValue ?? [:] {
                for h in servers.arrayValue?.compactMap(\.stringValue) ?? [] { vip.servers[h] = group.hasSuffix("_new") ? "maint" : "ready" }
            }
            s.vips[name] = vip
        }
        // Each component's code is a virtualenv per release behind a link, as the reference
        // team shipped it: `/opt/openstack/<component>` → `/opt/venvs/<release>`.
        for (name, host) in s.hosts {
            var h = host
            for (component, release) in h.code where h.links["/opt/openstack/\(component)"] == nil {
                h.links["/opt/openstack/\(component)"] = "/opt/venvs/\(release)"
            }
            s.hosts[name] = h
        }
        return s
    }
}
