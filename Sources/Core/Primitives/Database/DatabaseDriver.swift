import Foundation
import LuaBridge
import Synchronization

/// One open database session, whatever drives it.
public protocol DatabaseSession: Sendable {
    func query(_ sql: String, _ parameters: [LuaValue]) async throws -> (rows: [[String: LuaValue]], columns: [String], affected: Int)
    func command(_ sql: String) async throws
    func close() async
}

extension MariaDBConnection: DatabaseSession {}

/// Opens sessions to the region's databases by name.
public protocol DatabaseDriver: Sendable {
    func connect(_ name: String) async throws -> any DatabaseSession
}

/// The real driver: MariaDB Connector/C, settings from the region's `databases:`.
public struct MariaDBDriver: DatabaseDriver {
    public let region: Region

    public init(region: Region) { self.region = region }

    public func endpoint(_ name: String) throws -> DatabaseEndpoint {
        guard case .map(let settings)? = region.databases[name] else {
            let known = region.databases.keys.sorted().joined(separator: ", ")
            throw DatabaseError(database: name, code: 0, message: "no database named '\(name)' in region \(region.name) (databases: \(known.isEmpty ? "none" : known))")
        }
        let password: String?
        do { password = try settings["password"].flatMap { try region.secretValue($0) } } catch {
            throw DatabaseError(database: name, code: 0, message: "\(error)")
        }
        return DatabaseEndpoint(
            name: name, host: settings["host"]?.stringValue, port: settings["port"]?.intValue ?? 3306,
            socket: settings["socket"]?.stringValue, user: settings["user"]?.stringValue ?? "root", password: password,
            database: settings["database"]?.stringValue ?? name,
            connectTimeout: settings["connect_timeout"]?.stringValue.flatMap(DurationText.seconds).map { Int($0) } ?? 10)
    }

    public func connect(_ name: String) async throws -> any DatabaseSession {
        try await MariaDBConnection.connect(try endpoint(name))
    }
}

/// Sessions a run opened, closed when it ends.
public final class RunResources: Sendable {
    private let sessions = Mutex<[Int: any DatabaseSession]>([:])
    private let keystone = Mutex<KeystoneCatalog?>(nil)

    /// The run's Keystone client (its token is reused across calls).
    func catalog(_ make: () throws -> KeystoneCatalog) throws -> KeystoneCatalog {
        try keystone.withLock { k in
            if let k { return k }
            let made = try make()
            k = made
            return made
        }
    }
    private let next = Mutex(1)

    public init() {}

    func add(_ session: any DatabaseSession) -> Int {
        let id = next.withLock { n -> Int in
            defer { n += 1 }
            return n
        }
        sessions.withLock { $0[id] = session }
        return id
    }

    func session(_ id: Int) throws -> any DatabaseSession {
        guard let s = sessions.withLock({ $0[id] }) else { throw LuaArgumentError("the database connection is closed") }
        return s
    }

    func remove(_ id: Int) -> (any DatabaseSession)? { sessions.withLock { $0.removeValue(forKey: id) } }

    public func closeAll() async {
        let all = sessions.withLock { s -> [any DatabaseSession] in
            defer { s = [:] }
            return Array(s.values)
        }
        for s in all { await s.close() }
    }
}
