import FerryCore
import Foundation

/// What the simulated region hands a run: its transport and every driver, each working on
/// the model (SimTransport.swift, SimDrivers.swift). The engine never asks which region it has.
extension SimRegion {
    public var transport: any Transport { SimTransport(sim: self) }

    public var drivers: RunDrivers {
        var d = RunDrivers()
        d.backups = SimBackups(sim: self)
        d.catalog = SimCatalogDriver(sim: self)
        d.broker = SimBrokerDriver(sim: self)
        d.http = SimHTTP(sim: self)
        d.playbooks = SimPlaybooks(sim: self)
        d.unjudged = unjudged
        d.vip = { [self] name in
            guard self.state.vips[name] != nil else {
                throw VIPError(vip: name, message: "no VIP named '\(name)' in the simulated region (vips: \(self.state.vips.keys.sorted().joined(separator: ", ")))")
            }
            return SimVIPDriver(sim: self, name: name)
        }
        return d
    }

    public var databaseDriver: any DatabaseDriver { SimDatabaseDriver(sim: self) }
}
