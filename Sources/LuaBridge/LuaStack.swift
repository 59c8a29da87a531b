import CLua

// Stack helpers. Every function here uses only Lua API that does not raise
// (raw access, no metamethods), so Swift frames are never skipped by a longjmp.

typealias LuaStatePointer = OpaquePointer

@inline(__always) func luaPushString(_ L: LuaStatePointer, _ s: String) {
    var s = s
    s.withUTF8 { buf in
        _ = buf.withMemoryRebound(to: CChar.self) { lua_pushlstring(L, $0.baseAddress, buf.count) }
    }
}

func luaPush(_ L: LuaStatePointer, _ value: LuaValue) {
    switch value {
    case .nil: lua_pushnil(L)
    case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
    case .int(let i): lua_pushinteger(L, lua_Integer(i))
    case .number(let d): lua_pushnumber(L, d)
    case .string(let s): luaPushString(L, s)
    case .array(let a):
        lua_checkstack(L, 3)
        lua_createtable(L, Int32(clamping: a.count), 0)
        for (i, v) in a.enumerated() {
            luaPush(L, v)
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
    case .map(let m):
        lua_checkstack(L, 3)
        lua_createtable(L, 0, Int32(clamping: m.count))
        for (k, v) in m {
            luaPushString(L, k)
            luaPush(L, v)
            lua_rawset(L, -3)
        }
    }
}

func luaString(_ L: LuaStatePointer, _ index: Int32) -> String? {
    let t = lua_type(L, index)
    guard t == LUA_TSTRING || t == LUA_TNUMBER else { return nil }
    var len = 0
    // lua_tolstring on a number converts it in place; fine for the values read here.
    guard let p = lua_tolstring(L, index, &len) else { return nil }
    return p.withMemoryRebound(to: UInt8.self, capacity: len) {
        String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
    }
}

func luaTypeName(_ L: LuaStatePointer, _ index: Int32) -> String {
    String(cString: lua_typename(L, lua_type(L, index)))
}

/// How deep tables may nest to cross into Ferry. Each level is a Swift frame and two Lua
/// stack slots: a table nested a million deep (a loop builds one in a few lines) would
/// overflow both.
let luaValueMaxDepth = 200

/// Converts the value at `index` into a ``LuaValue``.
func luaValue(_ L: LuaStatePointer, _ index: Int32, path: String = "") throws -> LuaValue {
    var seen = Set<UnsafeRawPointer>()
    return try luaValue(L, lua_absindex(L, index), path: path, seen: &seen)
}

private func luaValue(_ L: LuaStatePointer, _ index: Int32, path: String, seen: inout Set<UnsafeRawPointer>) throws
    -> LuaValue
{
    if lua_type(L, index) == LUA_TTABLE && seen.count >= luaValueMaxDepth {
        throw LuaConversionError(path: path, reason: "tables nested deeper than \(luaValueMaxDepth) levels cannot be stored")
    }
    switch lua_type(L, index) {
    case LUA_TNIL, LUA_TNONE: return .nil
    case LUA_TBOOLEAN: return .bool(lua_toboolean(L, index) != 0)
    case LUA_TNUMBER:
        if lua_isinteger(L, index) != 0 { return .int(Int64(ferry_tointeger(L, index))) }
        return .number(ferry_tonumber(L, index))
    case LUA_TSTRING:
        return .string(luaString(L, index) ?? "")
    case LUA_TTABLE:
        guard let ptr = lua_topointer(L, index) else { return .nil }
        if seen.contains(ptr) {
            throw LuaConversionError(path: path, reason: "a table that contains itself (a cycle) cannot be stored")
        }
        seen.insert(ptr)
        defer { seen.remove(ptr) }
        lua_checkstack(L, 4)
        let n = Int(lua_rawlen(L, index))
        var count = 0
        var stringKeys: [String: LuaValue] = [:]
        var intKeys: [Int: LuaValue] = [:]
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            // key at -2, value at -1
            count += 1
            let keyType = lua_type(L, -2)
            if keyType == LUA_TSTRING {
                var len = 0
                let p = lua_tolstring(L, -2, &len)!
                let key = p.withMemoryRebound(to: UInt8.self, capacity: len) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
                }
                do {
                    stringKeys[key] = try luaValue(
                        L, lua_absindex(L, -1), path: path.isEmpty ? key : "\(path).\(key)", seen: &seen)
                } catch {
                    ferry_lua_pop(L, 2)
                    throw error
                }
            } else if keyType == LUA_TNUMBER && lua_isinteger(L, -2) != 0 {
                let key = Int(ferry_tointeger(L, -2))
                do {
                    intKeys[key] = try luaValue(L, lua_absindex(L, -1), path: "\(path)[\(key)]", seen: &seen)
                } catch {
                    ferry_lua_pop(L, 2)
                    throw error
                }
            } else {
                let typeName = luaTypeName(L, -2)
                ferry_lua_pop(L, 2)
                throw LuaConversionError(
                    path: path, reason: "a table with a \(typeName) key cannot be stored (only strings or 1…n)")
            }
            ferry_lua_pop(L, 1)
        }
        if count == 0 { return .map([:]) }
        if stringKeys.isEmpty {
            guard intKeys.count == n, (1...n).allSatisfy({ intKeys[$0] != nil }) else {
                throw LuaConversionError(
                    path: path, reason: "a table with gaps in its integer keys cannot be stored (use a sequence 1…n)")
            }
            return .array((1...n).map { intKeys[$0]! })
        }
        guard intKeys.isEmpty else {
            throw LuaConversionError(
                path: path, reason: "a table that mixes string keys and integer keys cannot be stored")
        }
        return .map(stringKeys)
    default:
        throw LuaConversionError(path: path, reason: "a \(luaTypeName(L, index)) value cannot be stored (only nil, booleans, numbers, strings and tables of them)")
    }
}
