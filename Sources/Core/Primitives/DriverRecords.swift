import Foundation
import LuaBridge

// What crosses the driver seams (`CatalogDriver`, `BrokerDriver`, `VIPDriver`) is typed
// records (CatalogRecords.swift, BrokerRecords.swift, VIP/VIPRecords.swift). Each record
// turns into the table runbooks see in one place, its `luaValue`; the records Lua hands
// back (`catalog.restore(snapshot)`, `vip.restore(previous)`) are read in one place too,
// their `init(lua:)`, which names the key that is missing or of the wrong type.

/// A record that runbooks see as a table.
public protocol LuaRecord: Sendable, Equatable {
    /// The table runbooks see: the keys documented in docs/lua-api.md.
    var luaValue: LuaValue { get }
}

/// A record that runbooks hand back (a snapshot to restore, a switch to undo).
public protocol LuaParsableRecord: LuaRecord {
    /// Reads the table `luaValue` made; throws ``LuaRecordError`` naming the first key
    /// that is missing or of the wrong type.
    init(lua: LuaValue) throws
}

/// A value that is not the record it should be, with where in it: `services[2].id: missing`.
public struct LuaRecordError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Where in the value (`services[2].id`, Lua's 1-based indices); empty for the value itself.
    public let path: String
    /// `missing`, `expected a string, got number`, …
    public let problem: String
    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
}

/// Reads the fields of one table, strictly: a string is a Lua string (not a number), an
/// integer a number without a fraction. Used by the records' `init(lua:)` and by the
/// HTTP drivers on the JSON their APIs answer.
struct FieldReader {
    let fields: [String: LuaValue]
    let path: String

    init(_ value: LuaValue, at path: String = "") throws {
        guard let fields = value.mapValue else { throw Self.mistyped(value, "a table", at: path) }
        self.fields = fields
        self.path = path
    }

    func at(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func present(_ key: String) -> LuaValue? {
        guard let v = fields[key], !v.isNil else { return nil }
        return v
    }

    func missing(_ key: String) -> LuaRecordError { LuaRecordError(path: at(key), problem: "missing") }

    static func mistyped(_ value: LuaValue, _ expected: String, at path: String) -> LuaRecordError {
        // Lua calls both tables; which one it was is what the reader needs to hear.
        let got: String
        switch value {
        case .array: got = "a list"
        case .map: got = "a table of named fields"
        default: got = value.typeName
        }
        return LuaRecordError(path: path, problem: "expected \(expected), got \(got)")
    }

    static func string(_ v: LuaValue, at path: String) throws -> String {
        guard case .string(let s) = v else { throw mistyped(v, "a string", at: path) }
        return s
    }

    static func int(_ v: LuaValue, at path: String) throws -> Int {
        switch v {
        case .int(let i): return Int(i)
        case .number(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: throw mistyped(v, "an integer", at: path)
        }
    }

    static func bool(_ v: LuaValue, at path: String) throws -> Bool {
        guard case .bool(let b) = v else { throw mistyped(v, "a boolean", at: path) }
        return b
    }

    func string(_ key: String) throws -> String {
        guard let v = present(key) else { throw missing(key) }
        return try Self.string(v, at: at(key))
    }

    func optionalString(_ key: String) throws -> String? { try present(key).map { try Self.string($0, at: at(key)) } }

    func int(_ key: String) throws -> Int {
        guard let v = present(key) else { throw missing(key) }
        return try Self.int(v, at: at(key))
    }

    func optionalInt(_ key: String) throws -> Int? { try present(key).map { try Self.int($0, at: at(key)) } }

    func optionalBool(_ key: String) throws -> Bool? { try present(key).map { try Self.bool($0, at: at(key)) } }

    /// A list, each element read by `element` (given its path, `key[i]`).
    func optionalList<T>(_ key: String, _ element: (LuaValue, String) throws -> T) throws -> [T]? {
        guard let v = present(key) else { return nil }
        guard let list = v.arrayValue else { throw Self.mistyped(v, "a list", at: at(key)) }
        return try list.enumerated().map { try element($1, "\(at(key))[\($0 + 1)]") }
    }

    func list<T>(_ key: String, _ element: (LuaValue, String) throws -> T) throws -> [T] {
        guard let l = try optionalList(key, element) else { throw missing(key) }
        return l
    }

    /// A table keyed by name, each value read by `element` (given its path, `key.name`).
    func optionalMap<T>(_ key: String, _ element: (LuaValue, String) throws -> T) throws -> [String: T]? {
        guard let v = present(key) else { return nil }
        guard let map = v.mapValue else { throw Self.mistyped(v, "a table keyed by name", at: at(key)) }
        var out: [String: T] = [:]
        for (name, value) in map { out[name] = try element(value, "\(at(key)).\(name)") }
        return out
    }
}

extension LuaValue {
    /// `.string(s)`, or `.nil` for nil: a key absent from the table runbooks see.
    static func optional(_ string: String?) -> LuaValue { string.map { .string($0) } ?? .nil }
    /// `.int(n)`, or `.nil` for nil.
    static func optional(_ int: Int?) -> LuaValue { int.map { .int(Int64($0)) } ?? .nil }
    /// `.bool(b)`, or `.nil` for nil.
    static func optional(_ bool: Bool?) -> LuaValue { bool.map { .bool($0) } ?? .nil }
}

extension LuaValue {
    /// A table of the fields that are not nil (Lua cannot tell a nil field from an absent one).
    static func record(_ fields: KeyValuePairs<String, LuaValue>) -> LuaValue {
        .map(Dictionary(fields.filter { !$0.value.isNil }.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
    }
}
