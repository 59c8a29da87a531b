import Foundation

/// A value that can cross between Lua and Swift: the JSON-able subset of Lua.
///
/// Functions, userdata, threads, cyclic tables and tables whose keys are neither
/// a sequence `1…n` nor all strings cannot cross; converting one raises
/// ``LuaConversionError`` naming where in the value it was found.
public enum LuaValue: Sendable, Hashable {
    case `nil`
    case bool(Bool)
    case int(Int64)
    case number(Double)
    case string(String)
    case array([LuaValue])
    case map([String: LuaValue])

    public var isNil: Bool { if case .nil = self { return true } else { return false } }

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .number(let d): return String(d)
        default: return nil
        }
    }

    public var intValue: Int? {
        switch self {
        case .int(let i): return Int(i)
        case .number(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .number(let d): return d
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// Lua truthiness: everything but nil and false.
    public var isTruthy: Bool {
        switch self {
        case .nil: return false
        case .bool(let b): return b
        default: return true
        }
    }

    public var arrayValue: [LuaValue]? {
        switch self {
        case .array(let a): return a
        case .map(let m) where m.isEmpty: return []
        default: return nil
        }
    }

    public var mapValue: [String: LuaValue]? {
        switch self {
        case .map(let m): return m
        case .array(let a) where a.isEmpty: return [:]
        default: return nil
        }
    }

    public subscript(key: String) -> LuaValue {
        if case .map(let m) = self { return m[key] ?? .nil }
        return .nil
    }

    /// Element `index` (0-based, Swift style) of an array, or nil.
    public subscript(index: Int) -> LuaValue {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return .nil
    }

    /// The Lua type name, for error messages.
    public var typeName: String {
        switch self {
        case .nil: return "nil"
        case .bool: return "boolean"
        case .int, .number: return "number"
        case .string: return "string"
        case .array, .map: return "table"
        }
    }
}

extension LuaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(nilLiteral: ()) { self = .nil }
    public init(arrayLiteral elements: LuaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, LuaValue)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}

// JSON, the form in which values are journaled.
extension LuaValue: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .nil; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([LuaValue].self) { self = .array(a); return }
        self = .map(try c.decode([String: LuaValue].self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .nil: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .map(let m): try c.encode(m)
        }
    }

    /// Compact JSON with sorted keys (stable for comparisons and journals).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    public static func fromJSON(_ text: String) throws -> LuaValue {
        try JSONDecoder().decode(LuaValue.self, from: Data(text.utf8))
    }
}

/// A value that cannot cross from Lua into Swift.
public struct LuaConversionError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { path.isEmpty ? reason : "\(reason) (at \(path))" }
}

/// A reference to a Lua value (function or table) pinned in one VM's registry.
public struct LuaRef: Sendable, Hashable {
    public let id: Int32
    public init(id: Int32) { self.id = id }
}

/// An argument handed to a Lua function: plain data or a value pinned in the VM.
public enum LuaArg: Sendable {
    case value(LuaValue)
    case ref(LuaRef)
}
