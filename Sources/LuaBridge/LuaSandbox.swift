import CLua
import CLuaShim
import Foundation

/// What Lua code may reach outside the VM: files under some directories (read-only)
/// and modules found on some paths. Nothing else of the machine: no `os.execute`,
/// `io.popen`, `package.loadlib`, binary chunks, or files elsewhere.
public struct LuaSandbox: Sendable {
    /// Directories whose files Lua may read (`io.open(path)` read-only, `require`).
    public var readableRoots: [String]
    /// Module search templates, e.g. `/rb/?.lua`, `/repo/scripts/?.lua`.
    public var modulePaths: [String]
    /// Where modules (`require`) are read: the disk, or a runbook's journaled files.
    public var files: LuaFileSource

    public init(readableRoots: [String], modulePaths: [String], files: LuaFileSource = LuaFileSource()) {
        self.readableRoots = readableRoots.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
        self.modulePaths = modulePaths
        self.files = files
    }

    /// Whether `path` (absolute, or relative to the first root) lies under a readable root.
    public func resolve(_ path: String) -> String? {
        let base = readableRoots.first ?? FileManager.default.currentDirectoryPath
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path)
        let resolved = url.standardizedFileURL.resolvingSymlinksInPath().path
        for root in readableRoots where resolved == root || resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
            return resolved
        }
        return nil
    }

    func searchPath(_ module: String) -> (path: String?, tried: [String]) {
        let name = module.replacingOccurrences(of: ".", with: "/")
        let candidates = modulePaths.map { $0.replacingOccurrences(of: "?", with: name) }
        // A journaled module is the one the run loaded, whatever the disk holds now.
        for candidate in candidates {
            if let resolved = resolve(candidate), files.isPreloaded(resolved) { return (candidate, candidates) }
        }
        for candidate in candidates {
            if let resolved = resolve(candidate), files.fileExists(atPath: resolved) { return (candidate, candidates) }
        }
        return (nil, candidates)
    }
}

extension LuaVM {
    /// Locks the standard library down to what runbooks may use and installs the
    /// restricted `require` and read-only `io.open`.
    public func installSandbox(_ sandbox: LuaSandbox) throws {
        register(LuaFunction("__sandbox.readfile") { call in
            let path = try call.string(1)
            guard let resolved = sandbox.resolve(path) else {
                throw LuaArgumentError("io.open: '\(path)' is outside the runbook's directory; runbooks may only read their own files")
            }
            // Data files are read as they are now: only code (the runbook's files and the
            // modules it requires) comes from `files`, a journaled copy on resume.
            guard let data = FileManager.default.contents(atPath: resolved) else {
                return .values([.nil, .string("\(path): No such file or directory")])
            }
            return .value(.string(String(decoding: data, as: UTF8.self)))
        })
        register(LuaFunction("__sandbox.searchpath") { call in
            let module = try call.string(1)
            let (path, tried) = sandbox.searchPath(module)
            if let path { return .value(.string(path)) }
            return .values([.nil, .string(tried.map { "\n\tno file '\($0)'" }.joined())])
        })
        register(LuaFunction("__sandbox.loadfile") { call in
            let path = try call.string(1)
            guard let resolved = sandbox.resolve(path), let data = sandbox.files.contents(atPath: resolved) else {
                throw LuaArgumentError("cannot read module file '\(path)'")
            }
            let chunkName = "@" + LuaVM.displayPath(resolved)
            var text = String(decoding: data, as: UTF8.self)
            let status = text.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { ferry_load_text(call.L, $0.baseAddress, buf.count, chunkName) }
            }
            if status != ferry_lua_ok() {
                // The message is on the stack; hand it back as (nil, message).
                lua_pushnil(call.L)
                ferry_insert(call.L, -2)
                return .pushed(2)
            }
            return .pushed(1)
        })
        try run(source: Self.sandboxSource, chunkName: "=ferry-sandbox")
    }

    /// Makes reading an undefined global an error (a typo such as `on = computes`
    /// fails where it is written instead of acting on nil). Declaring globals stays allowed
    /// until ``lockGlobals()``. The global table's metatable is protected: a runbook can
    /// neither replace it (`setmetatable(_G, …)`) nor reach it (`getmetatable(_G)`), so
    /// only Ferry, through the function pinned here, can lock it.
    public func strictGlobalReads() throws {
        try run(
            source: """
                local error, tostring, rawset = error, tostring, rawset
                local locked = false
                setmetatable(_G, {
                  __index = function(_, name)
                    error("undefined global '" .. tostring(name) .. "' (a missing quote or local?)", 2)
                  end,
                  __newindex = function(t, name, value)
                    if locked then error("assignment to undeclared global '" .. tostring(name) .. "' (declare it local)", 2) end
                    rawset(t, name, value)
                  end,
                  __metatable = "the global table's metatable belongs to Ferry (strict globals)",
                })
                __ferry_lock_globals = function() locked = true end
                """, chunkName: "=ferry-strict")
        globalsLock = takeGlobal("__ferry_lock_globals")
    }

    /// Refuses new globals from now on (accidental globals inside steps are bugs).
    public func lockGlobals() throws {
        if globalsLock == nil { try strictGlobalReads() }
        _ = try callSync(globalsLock!, [])
    }

    /// A path as error messages show it: relative to the working directory when under it.
    public static func displayPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let prefix = cwd.hasSuffix("/") ? cwd : cwd + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// sandbox.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`);
    /// run as the chunk `=ferry-sandbox` with the `__sandbox` natives registered.
    static let sandboxSource = String(decoding: PackageResources.sandbox_lua, as: UTF8.self)
}
