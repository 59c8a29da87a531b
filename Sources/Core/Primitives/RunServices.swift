import Foundation
import LuaBridge

/// The one place a run's primitives get their drivers: the run's own (a simulated
/// region hands its drivers in through ``RunDrivers``) or the real ones, built from the
/// region file. Every primitive asks here; none builds a driver itself.
extension RunEnvironment {
    /// `catalog.*`: Keystone v3 (kept for the run: it holds a token).
    public func catalog() throws -> any CatalogDriver {
        if let own = drivers.catalog { return own }
        let k = try resources.catalog { try KeystoneCatalog(region: region) }
        if k.settings.insecure { warnInsecure(section: "keystone", target: k.settings.authURL) }
        return k
    }

    /// `broker.*`: the RabbitMQ management API.
    public func broker() throws -> any BrokerDriver {
        if let own = drivers.broker { return own }
        let b = try RabbitMQBroker(region: region)
        if b.insecure { warnInsecure(section: "broker", target: b.url) }
        return b
    }

    /// `http.*`.
    public var http: any HTTPRequester { drivers.http ?? HTTPService.shared }

    /// `ansible.playbook`: Ansible on this machine.
    public var playbooks: any PlaybookDriver { drivers.playbooks ?? AnsiblePlaybooks() }

    /// `vip.*`: the region's VIPs, each with the driver its `driver:` names (``VIPDrivers``).
    public var vips: VIPDirectory { VIPDirectory(region: region, transport: transport, simulated: drivers.vip) }

    /// `db.backup`, `db.verify`, `db.restore`.
    public func backups() throws -> any BackupDriver {
        if let own = drivers.backups { return own }
        guard let backups = databases?.backups(artifactDirectory: artifactDirectory ?? ".ferry/artifacts", transport: transport) else {
            throw LuaArgumentError("db: this region's database driver cannot back up")
        }
        return backups
    }

    /// `insecure: true` in the region is loud: a warning in the run's log and journal, at
    /// the first call of the run that uses it.
    func warnInsecure(section: String, target: String) {
        guard resources.firstTime("insecure:\(section)") else { return }
        log(LogLine(level: .warn, message: "INSECURE: TLS certificates are NOT verified for \(section) at \(target) (insecure: true in the region's \(section): section)", invocation: nil))
    }
}
