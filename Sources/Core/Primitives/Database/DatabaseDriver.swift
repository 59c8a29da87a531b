import Foundation
import LuaBridge
import Synchronization

/// One open database session, whatever drives it.
public protocol DatabaseSession: Sendable {
    func query(_ sql: String, _ parameters: [LuaValue]) async throws -> (rows: [[String: LuaValue]], columns: [String], affected: Int)
    func command(_ sql: String) async throws
    func close() async
    /// A global status variable (`Threads_running`), as the server reports it (nil:
    /// unknown variable). A typed call, so a simulated server answers it without SQL.
    func status(_ variable: String) async throws -> LuaValue
}

extension DatabaseSession {
    public func status(_ variable: String) async throws -> LuaValue {
        // SHOW STATUS cannot take a bound parameter; the information schema can.
        let result: (rows: [[String: LuaValue]], columns: [String], affected: Int)
        do {
            result = try await query(
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = UPPER(?)", [.string(variable)])
        } catch let e as DatabaseError where e.code == 1109 || e.code == 3167 {
            // MySQL 5.7+/8.0 keep it in performance_schema.
            result = try await query(
                "SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = ?", [.string(variable)])
        }
        return result.rows.first?["VARIABLE_VALUE"] ?? .nil
    }
}

extension MariaDBConnection: DatabaseSession {}

/// Opens sessions to the region's databases by name.
public protocol DatabaseDriver: Sendable {
    func connect(_ name: String) async throws -> any DatabaseSession
    /// Closes what the driver keeps for the run (SSH forwards); called when a run ends.
    func close() async
    /// `db.backup` / `db.verify` / `db.restore` for this kind of database, writing artifacts
    /// under `artifactDirectory` (nil: this driver cannot back up).
    func backups(artifactDirectory: String, transport: any Transport) -> (any BackupDriver)?
}

extension DatabaseDriver {
    public func close() async {}
    public func backups(artifactDirectory: String, transport: any Transport) -> (any BackupDriver)? { nil }
}

/// The real driver: MariaDB Connector/C, settings from the region's `databases:`.
/// A database with `via: HOST` is reached through that SSH host (a local port
/// forwarded over direct-tcpip), as OpenStack databases often only answer controllers.
public struct MariaDBDriver: DatabaseDriver {
    public let region: Region
    public let transport: (any Transport)?
    let forwards: ForwardTable

    public init(region: Region, transport: (any Transport)? = nil) {
        self.region = region
        self.transport = transport
        forwards = ForwardTable()
    }

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
        var e = try endpoint(name)
        if case .map(let settings)? = region.databases[name], let via = settings["via"]?.stringValue {
            guard let host = region.hosts[via] else {
                throw DatabaseError(database: name, code: 0, message: "via: no host named '\(via)' in region \(region.name)")
            }
            guard let ssh = transport as? NIOSSHTransport else {
                throw DatabaseError(database: name, code: 0, message: "via \(via) needs the nio SSH transport (ssh: { transport: nio })")
            }
            let target = e.host ?? "127.0.0.1"
            let port = e.port
            let forward: SSHLocalForward
            do { forward = try await forwards.forward(key: "\(via)|\(target)|\(port)") { try await ssh.forward(to: target, port: port, via: host) } } catch {
                throw DatabaseError(database: name, code: 0, message: "cannot reach \(target):\(port) through \(via): \(error)")
            }
            e.host = "127.0.0.1"
            e.port = forward.port
            e.socket = nil
        }
        return try await MariaDBConnection.connect(e)
    }

    public func close() async { await forwards.closeAll() }

    public func backups(artifactDirectory: String, transport: any Transport) -> (any BackupDriver)? {
        DatabaseBackups(driver: self, artifactDirectory: artifactDirectory, transport: transport)
    }
}

/// Forwarded ports, one per (SSH host, target), shared by a run's connections.
actor ForwardTable {
    private var forwards: [String: SSHLocalForward] = [:]

    func forward(key: String, open: () async throws -> SSHLocalForward) async throws -> SSHLocalForward {
        if let f = forwards[key] { return f }
        let f = try await open()
        forwards[key] = f
        return f
    }

    func closeAll() async {
        for f in forwards.values { await f.close() }
        forwards = [:]
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
    private let said = Mutex<Set<String>>([])

    public init() {}

    /// True the first time `key` is given in this run (for warnings given once).
    func firstTime(_ key: String) -> Bool { said.withLock { $0.insert(key).inserted } }

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
