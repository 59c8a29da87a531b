import CLua
import CLuaShim

/// What a Swift function exposed to Lua returns.
public enum LuaReturn: Sendable {
    /// Values to hand back to Lua.
    case values([LuaValue])
    /// The function pushed this many values onto the stack itself.
    case pushed(Int32)
    /// Suspend the calling coroutine until the operation finishes; its values (or
    /// error) are then handed back to the caller. Only the calling coroutine waits.
    case yield(@Sendable () async throws -> [LuaValue])

    public static let none = LuaReturn.values([])
    public static func value(_ v: LuaValue) -> LuaReturn { .values([v]) }
}

/// A Swift function callable from Lua.
public struct LuaFunction: Sendable {
    public let name: String
    public let body: @Sendable (LuaCall) throws -> LuaReturn
    public init(_ name: String, _ body: @escaping @Sendable (LuaCall) throws -> LuaReturn) {
        self.name = name
        self.body = body
    }
}

/// The arguments of one call from Lua, read without ever raising a Lua error.
public struct LuaCall {
    let L: OpaquePointer
    public let vm: LuaVM
    public let functionName: String
    /// What the engine attached to the running coroutine (host, step…), if anything.
    public var context: (any Sendable)? { vm.runningContext }

    public var count: Int { Int(lua_gettop(L)) }

    public func isNil(_ i: Int) -> Bool { lua_type(L, Int32(i)) <= LUA_TNIL }
    public func isTable(_ i: Int) -> Bool { lua_type(L, Int32(i)) == LUA_TTABLE }
    public func isFunction(_ i: Int) -> Bool { lua_type(L, Int32(i)) == LUA_TFUNCTION }
    public func typeName(_ i: Int) -> String { luaTypeName(L, Int32(i)) }

    func bad(_ i: Int, _ expected: String) -> LuaArgumentError {
        LuaArgumentError("bad argument #\(i) to '\(functionName)' (\(expected) expected, got \(typeName(i)))")
    }

    public func value(_ i: Int) throws -> LuaValue {
        do { return try luaValue(L, Int32(i)) } catch let e as LuaConversionError {
            throw LuaArgumentError("bad argument #\(i) to '\(functionName)': \(e)")
        }
    }

    public func string(_ i: Int) throws -> String {
        guard lua_type(L, Int32(i)) == LUA_TSTRING || lua_type(L, Int32(i)) == LUA_TNUMBER,
            let s = luaString(L, Int32(i))
        else { throw bad(i, "string") }
        return s
    }

    public func optionalString(_ i: Int) throws -> String? { isNil(i) ? nil : try string(i) }

    public func number(_ i: Int) throws -> Double {
        guard lua_type(L, Int32(i)) == LUA_TNUMBER else { throw bad(i, "number") }
        return ferry_tonumber(L, Int32(i))
    }

    public func integer(_ i: Int) throws -> Int {
        guard lua_type(L, Int32(i)) == LUA_TNUMBER else { throw bad(i, "integer") }
        return Int(ferry_tointeger(L, Int32(i)))
    }

    public func bool(_ i: Int) -> Bool { lua_toboolean(L, Int32(i)) != 0 }

    /// A table argument converted to data (`nil` gives an empty map).
    public func table(_ i: Int, optional: Bool = false) throws -> LuaValue {
        if optional && isNil(i) { return .map([:]) }
        guard isTable(i) else { throw bad(i, "table") }
        return try value(i)
    }

    /// Pins the function (or table) at `i` in the registry; release it with ``LuaVM/release(_:)``.
    public func ref(_ i: Int) -> LuaRef {
        lua_pushvalue(L, Int32(i))
        return LuaRef(id: luaL_ref(L, ferry_registryindex()))
    }

    public func function(_ i: Int) throws -> LuaRef {
        guard isFunction(i) else { throw bad(i, "function") }
        return ref(i)
    }

    /// Reads field `key` of the table at `i` without metamethods.
    public func field(_ i: Int, _ key: String) throws -> LuaValue {
        guard isTable(i) else { throw bad(i, "table") }
        luaPushString(L, key)
        lua_rawget(L, Int32(i) > 0 ? Int32(i) : Int32(i) - 1)
        defer { ferry_lua_pop(L, 1) }
        do { return try luaValue(L, -1, path: key) } catch let e as LuaConversionError {
            throw LuaArgumentError("bad argument #\(i) to '\(functionName)': \(e)")
        }
    }

    /// The length of the table at `i` (raw, no metamethods); 0 if it is not a table.
    public var lengthOf: (Int) -> Int { { i in isTable(i) ? Int(lua_rawlen(L, Int32(i))) : 0 } }

    /// Pushes a value pinned in the registry (for `.pushed` returns).
    public func push(_ ref: LuaRef) { lua_rawgeti(L, ferry_registryindex(), lua_Integer(ref.id)) }
    public func push(_ value: LuaValue) { luaPush(L, value) }
}
