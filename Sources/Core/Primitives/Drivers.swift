import Foundation
import LuaBridge

/// `db.backup` / `db.verify` / `db.restore`, whatever holds the data.
public protocol BackupDriver: Sendable {
    func backup(_ name: String, via: RegionHost?) async throws -> DatabaseArtifact
    func verify(_ artifact: DatabaseArtifact) async throws
    func restore(_ artifact: DatabaseArtifact, force: Bool, lockWait: Int, via: RegionHost?) async throws
}

extension DatabaseBackups: BackupDriver {}

/// The Keystone catalog as `catalog.*` uses it.
public protocol CatalogDriver: Sendable {
    /// The region endpoints go in when a call names none.
    var defaultRegion: String { get }
    func services() async throws -> [LuaValue]
    func endpoints(service: String?, interface: String?, region: String?) async throws -> [LuaValue]
    func ensureService(name: String, type: String, description: String?) async throws -> (LuaValue, created: Bool)
    func ensureEndpoint(service: String, interface: String, region: String, url: String) async throws -> (LuaValue, action: String)
    func regions() async throws -> [LuaValue]
    func createRegion(id: String, description: String?) async throws -> LuaValue
    func ensureRegion(id: String, description: String?) async throws -> (LuaValue, created: Bool)
    func deleteRegion(id: String) async throws
    func updateEndpoint(id: String, url: String) async throws -> LuaValue
    func deleteEndpoint(id: String) async throws
    func snapshot() async throws -> LuaValue
    func restore(_ snapshot: LuaValue) async throws -> LuaValue
}

extension KeystoneCatalog: CatalogDriver {
    public var defaultRegion: String { settings.region ?? "RegionOne" }
}

/// The RabbitMQ management API as `broker.*` uses it.
public protocol BrokerDriver: Sendable {
    func overview() async throws -> LuaValue
    func vhosts() async throws -> [LuaValue]
    func ensureVhost(_ name: String) async throws
    func ensureUser(_ name: String, password: String, tags: String?) async throws
    func ensurePermissions(vhost: String, user: String, configure: String, write: String, read: String) async throws
    func putPolicy(vhost: String, name: String, pattern: String, definition: LuaValue, applyTo: String, priority: Int) async throws
    func deletePolicy(vhost: String, name: String) async throws
    func policies(vhost: String?) async throws -> [LuaValue]
    func queues(vhost: String?) async throws -> [LuaValue]
    func queue(vhost: String, name: String) async throws -> LuaValue
}

extension RabbitMQBroker: BrokerDriver {}

/// `http.request`.
public protocol HTTPRequester: Sendable {
    func request(method: String, url: String, headers: [String: String], body: Data?, timeout: Double,
                 caFile: String?, insecure: Bool) async throws -> HTTPResponse
}

extension HTTPService: HTTPRequester {}

/// Drivers that replace the real ones for a run (the simulated region's). Nil fields
/// keep the real driver.
public struct RunDrivers: Sendable {
    public var backups: (any BackupDriver)?
    public var vip: (@Sendable (String) throws -> any VIPDriver)?
    public var catalog: (any CatalogDriver)?
    public var broker: (any BrokerDriver)?
    public var http: (any HTTPRequester)?
    public init() {}
}
