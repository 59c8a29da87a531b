import Foundation
import LuaBridge

/// `db.backup` / `db.verify` / `db.restore`, whatever holds the data.
public protocol BackupDriver: Sendable {
    func backup(_ name: String, via: RegionHost?) async throws -> DatabaseArtifact
    func verify(_ artifact: DatabaseArtifact) async throws
    func restore(_ artifact: DatabaseArtifact, force: Bool, lockWait: Int, via: RegionHost?) async throws
}

extension DatabaseBackups: BackupDriver {}

/// The Keystone catalog as `catalog.*` uses it (the records: CatalogRecords.swift).
public protocol CatalogDriver: Sendable {
    /// The region endpoints go in when a call names none.
    var defaultRegion: String { get }
    func services() async throws -> [CatalogService]
    /// Each with its service's name and type; nil filters match anything.
    func endpoints(service: String?, interface: String?, region: String?) async throws -> [CatalogEndpoint]
    func ensureService(name: String, type: String, description: String?) async throws -> (CatalogService, created: Bool)
    func ensureEndpoint(service: String, interface: String, region: String, url: String) async throws -> (CatalogEndpoint, action: CatalogEndpointAction)
    func regions() async throws -> [CatalogRegion]
    func createRegion(id: String, description: String?) async throws -> CatalogRegion
    func ensureRegion(id: String, description: String?) async throws -> (CatalogRegion, created: Bool)
    func deleteRegion(id: String) async throws
    func updateEndpoint(id: String, url: String) async throws -> CatalogEndpoint
    func deleteEndpoint(id: String) async throws
    func snapshot() async throws -> CatalogSnapshot
    func restore(_ snapshot: CatalogSnapshot) async throws -> CatalogRestoreSummary
    /// The catalog of a new project-scoped token: what the services that authenticate
    /// (nova reading `volumev3`, …) are given, after Keystone's URL substitutions.
    func tokenCatalog() async throws -> [CatalogTokenService]
}

extension KeystoneCatalog: CatalogDriver {
    public var defaultRegion: String { settings.region ?? "RegionOne" }
}

/// The RabbitMQ management API as `broker.*` uses it (the records: BrokerRecords.swift).
public protocol BrokerDriver: Sendable {
    func overview() async throws -> BrokerOverview
    func vhosts() async throws -> [BrokerVhost]
    func ensureVhost(_ name: String) async throws
    func ensureUser(_ name: String, password: String, tags: String?) async throws
    func ensurePermissions(vhost: String, user: String, configure: String, write: String, read: String) async throws
    /// `definition` is RabbitMQ's open set of policy keys, passed through (``BrokerPolicy/definition``).
    func putPolicy(vhost: String, name: String, pattern: String, definition: LuaValue, applyTo: String, priority: Int) async throws
    func deletePolicy(vhost: String, name: String) async throws
    func policies(vhost: String?) async throws -> [BrokerPolicy]
    func queues(vhost: String?) async throws -> [BrokerQueue]
    func queue(vhost: String, name: String) async throws -> BrokerQueue
}

extension RabbitMQBroker: BrokerDriver {}

/// `http.request`.
public protocol HTTPRequester: Sendable {
    func request(method: String, url: String, headers: [String: String], body: Data?, timeout: Double,
                 caFile: String?, insecure: Bool) async throws -> HTTPResponse
}

extension HTTPService: HTTPRequester {
    public func request(method: String, url: String, headers: [String: String], body: Data?, timeout: Double,
                        caFile: String?, insecure: Bool) async throws -> HTTPResponse
    {
        try await request(method: method, url: url, headers: headers, body: body, timeout: timeout, caFile: caFile,
                          insecure: insecure, idempotent: nil)
    }
}

/// Drivers that replace the real ones for a run (the simulated region's). Nil fields
/// keep the real driver.
public struct RunDrivers: Sendable {
    public var backups: (any BackupDriver)?
    public var vip: (@Sendable (String) throws -> any VIPDriver)?
    public var catalog: (any CatalogDriver)?
    public var broker: (any BrokerDriver)?
    public var http: (any HTTPRequester)?
    /// `ansible.playbook`.
    public var playbooks: (any PlaybookDriver)?
    /// Where a simulated region says what it ran without judging (``UnjudgedRecorder``).
    public var unjudged: (any UnjudgedRecorder)?
    public init() {}
}
