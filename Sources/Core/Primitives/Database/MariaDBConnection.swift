import CMariaDB
import Foundation
import LuaBridge
import Synchronization

/// Where a database is and how to log in (the password already resolved).
public struct DatabaseEndpoint: Sendable {
    public var name: String
    public var host: String?
    public var port: Int
    public var socket: String?
    public var user: String
    public var password: String?
    public var database: String?
    public var connectTimeout: Int = 10

    public var place: String { socket ?? "\(host ?? "127.0.0.1"):\(port)" }
}

/// A failure of the database primitive, naming the database and the cause.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    public let database: String
    public let code: Int
    public let message: String
    public var description: String { "db \(database): \(message)" }

    public init(database: String, code: Int, message: String) {
        self.database = database
        self.code = code
        self.message = message
    }
}

/// One MariaDB/MySQL connection through MariaDB Connector/C. Its blocking calls
/// run on the connection's own serial queue, never on Swift's cooperative pool.
public final class MariaDBConnection: Sendable {
    private let queue: DispatchQueue
    // Only touched on `queue`.
    nonisolated(unsafe) private var handle: UnsafeMutablePointer<MYSQL>?
    public let endpoint: DatabaseEndpoint

    private static let libraryReady: Bool = { mysql_server_init(0, nil, nil) == 0 }()

    private init(endpoint: DatabaseEndpoint) {
        self.endpoint = endpoint
        queue = DispatchQueue(label: "ferry.db.\(endpoint.name)")
    }

    deinit {
        // Nothing else can reach the connection now; close it right here.
        if let h = handle { mysql_close(h) }
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    public static func connect(_ endpoint: DatabaseEndpoint) async throws -> MariaDBConnection {
        _ = libraryReady
        let c = MariaDBConnection(endpoint: endpoint)
        try await c.onQueue { try c.open() }
        return c
    }

    private func open() throws {
        guard let m = mysql_init(nil) else { throw DatabaseError(database: endpoint.name, code: 0, message: "out of memory") }
        var timeout = UInt32(endpoint.connectTimeout)
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
        var readTimeout = UInt32(3600)
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &readTimeout)
        if endpoint.socket == nil {
            var proto = UInt32(MYSQL_PROTOCOL_TCP.rawValue)
            mysql_options(m, MYSQL_OPT_PROTOCOL, &proto)
        }
        let ok = mysql_real_connect(
            m, endpoint.socket == nil ? (endpoint.host ?? "127.0.0.1") : nil, endpoint.user, endpoint.password,
            endpoint.database, UInt32(endpoint.port), endpoint.socket, 0)
        if ok == nil {
            let error = describe(m)
            mysql_close(m)
            throw error
        }
        handle = m
    }

    private func describe(_ m: UnsafeMutablePointer<MYSQL>) -> DatabaseError {
        let code = Int(mysql_errno(m))
        let text = String(cString: mysql_error(m))
        let message: String
        switch code {
        case 1045: message = "access denied for \(endpoint.user) at \(endpoint.place) (wrong password?): \(text)"
        case 1049: message = "no database '\(endpoint.database ?? "")' at \(endpoint.place)"
        case 2002, 2003: message = "cannot connect to \(endpoint.place) (is the server running?): \(text)"
        case 2006, 2013: message = "lost the connection to \(endpoint.place) during the call (the statement may have run): \(text)"
        default: message = "\(text) (error \(code))"
        }
        return DatabaseError(database: endpoint.name, code: code, message: message)
    }

    public func close() async {
        _ = try? await onQueue {
            if let h = self.handle { mysql_close(h) }
            self.handle = nil
        }
    }

    /// Rows as maps column → value, from a prepared statement with bound parameters.
    public func query(_ sql: String, _ parameters: [LuaValue] = []) async throws -> (rows: [[String: LuaValue]], columns: [String], affected: Int) {
        try await onQueue { try self.execute(sql, parameters) }
    }

    private func execute(_ sql: String, _ parameters: [LuaValue]) throws -> (rows: [[String: LuaValue]], columns: [String], affected: Int) {
        guard let m = handle else { throw DatabaseError(database: endpoint.name, code: 0, message: "the connection is closed") }
        guard let stmt = mysql_stmt_init(m) else { throw describe(m) }
        defer { mysql_stmt_close(stmt) }
        let statementError = { () -> DatabaseError in
            let code = Int(mysql_stmt_errno(stmt))
            let text = String(cString: mysql_stmt_error(stmt))
            if code == 2006 || code == 2013 { return self.describe(m) }
            return DatabaseError(database: self.endpoint.name, code: code, message: "\(text) (error \(code)) in: \(sql.prefix(120))")
        }
        if mysql_stmt_prepare(stmt, sql, UInt(sql.utf8.count)) != 0 { throw statementError() }
        let expected = Int(mysql_stmt_param_count(stmt))
        guard expected == parameters.count else {
            throw DatabaseError(database: endpoint.name, code: 0,
                                message: "the statement has \(expected) placeholder(s) but \(parameters.count) value(s) were given")
        }
        // Parameter buffers live in their own heap allocations for the statement's lifetime.
        var allocations: [UnsafeMutableRawPointer] = []
        defer { allocations.forEach { $0.deallocate() } }
        let paramBinds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: max(1, expected))
        paramBinds.initialize(repeating: MYSQL_BIND(), count: max(1, expected))
        defer { paramBinds.deallocate() }
        /// An 8-byte value in its own allocation, bound as `type`.
        func scalar<T>(_ value: T, _ type: enum_field_types, into bind: inout MYSQL_BIND) {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            p.storeBytes(of: value, as: T.self)
            allocations.append(p)
            bind.buffer_type = type
            bind.buffer = p
        }
        for (i, value) in parameters.enumerated() {
            var bind = MYSQL_BIND()
            switch value {
            case .nil:
                bind.buffer_type = MYSQL_TYPE_NULL
            case .int(let n):
                scalar(n, MYSQL_TYPE_LONGLONG, into: &bind)
            case .number(let d):
                scalar(d, MYSQL_TYPE_DOUBLE, into: &bind)
            case .bool(let b):
                scalar(Int64(b ? 1 : 0), MYSQL_TYPE_LONGLONG, into: &bind)
            case .string, .array, .map:
                let text = value.stringValue ?? value.jsonString()
                let bytes = Array(text.utf8)
                let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
                bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                allocations.append(p)
                bind.buffer_type = MYSQL_TYPE_STRING
                bind.buffer = p
                bind.buffer_length = UInt(bytes.count)
            }
            paramBinds[i] = bind
        }
        if expected > 0 && mysql_stmt_bind_param(stmt, paramBinds) != 0 { throw statementError() }
        if mysql_stmt_execute(stmt) != 0 { throw statementError() }

        guard let meta = mysql_stmt_result_metadata(stmt) else {
            return ([], [], Int(mysql_stmt_affected_rows(stmt)))
        }
        defer { mysql_free_result(meta) }
        var update: my_bool = 1
        mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update)
        if mysql_stmt_store_result(stmt) != 0 { throw statementError() }
        let count = Int(mysql_num_fields(meta))
        let fields = mysql_fetch_fields(meta)!
        var columns: [String] = []
        var types: [enum_field_types] = []
        let resultBinds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: max(1, count))
        resultBinds.initialize(repeating: MYSQL_BIND(), count: max(1, count))
        defer { resultBinds.deallocate() }
        let lengths = UnsafeMutablePointer<UInt>.allocate(capacity: max(1, count))
        defer { lengths.deallocate() }
        let nulls = UnsafeMutablePointer<my_bool>.allocate(capacity: max(1, count))
        defer { nulls.deallocate() }
        for i in 0..<count {
            let f = fields[i]
            columns.append(String(cString: f.name))
            types.append(f.type)
            let size = max(1, Int(f.max_length) + 1)
            let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1)
            allocations.append(p)
            var bind = MYSQL_BIND()
            bind.buffer_type = MYSQL_TYPE_STRING
            bind.buffer = p
            bind.buffer_length = UInt(size)
            bind.length = lengths + i
            bind.is_null = nulls + i
            resultBinds[i] = bind
        }
        if mysql_stmt_bind_result(stmt, resultBinds) != 0 { throw statementError() }
        var rows: [[String: LuaValue]] = []
        while true {
            let r = mysql_stmt_fetch(stmt)
            if r == MYSQL_NO_DATA { break }
            if r == 1 { throw statementError() }
            var row: [String: LuaValue] = [:]
            for i in 0..<count {
                if nulls[i] != 0 {
                    row[columns[i]] = .nil
                    continue
                }
                let raw = resultBinds[i].buffer.assumingMemoryBound(to: UInt8.self)
                let text = String(decoding: UnsafeBufferPointer(start: raw, count: Int(lengths[i])), as: UTF8.self)
                row[columns[i]] = Self.typed(text, types[i])
            }
            rows.append(row)
        }
        return (rows, columns, Int(mysql_stmt_affected_rows(stmt)))
    }

    static func typed(_ text: String, _ type: enum_field_types) -> LuaValue {
        switch type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24, MYSQL_TYPE_YEAR:
            return Int64(text).map { .int($0) } ?? .string(text)
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            return Double(text).map { .number($0) } ?? .string(text)
        default:
            return .string(text)
        }
    }

    /// Runs a plain statement (no result set, no parameters), e.g. SET, BEGIN.
    public func command(_ sql: String) async throws {
        try await onQueue {
            guard let m = self.handle else { throw DatabaseError(database: self.endpoint.name, code: 0, message: "the connection is closed") }
            if mysql_real_query(m, sql, UInt(sql.utf8.count)) != 0 { throw self.describe(m) }
            if let r = mysql_store_result(m) { mysql_free_result(r) }
        }
    }
}
