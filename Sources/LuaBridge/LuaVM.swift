import CLua
import CLuaShim
import Foundation

/// One Lua state and the coroutines it runs.
///
/// The actor is the executor that owns the `lua_State`: every Lua call happens inside
/// one of its methods. Each unit of work (a step, a host) runs in its own coroutine;
/// a Swift function that does I/O returns ``LuaReturn/yield(_:)``, which suspends only
/// that coroutine while a Swift task does the work, and the actor resumes it with the
/// results. One state therefore drives thousands of hosts at once (OpenResty's model).
public actor LuaVM {
    /// Instructions a coroutine may run between two yields before it is stopped.
    public static let defaultInstructionBudget: Int64 = 200_000_000
    static let hookEvery: Int32 = 10_000

    nonisolated(unsafe) let L: OpaquePointer
    // Owned by this VM; only touched on its executor (and freed in deinit).
    nonisolated(unsafe) private let header: UnsafeMutablePointer<ferry_vm_header>
    // The fields the C dispatcher reads are nonisolated(unsafe): Lua runs only inside this
    // actor's methods, so the dispatcher is always on the actor's executor; skipping the
    // runtime isolation check there saves most of a native call's cost.
    nonisolated(unsafe) private var functions: [LuaFunction] = []

    private final class Coroutine {
        let thread: OpaquePointer
        let threadRef: Int32
        let context: (any Sendable)?
        var continuation: CheckedContinuation<[LuaValue], any Error>?
        var task: Task<Void, Never>?
        var finished = false
        init(thread: OpaquePointer, threadRef: Int32, context: (any Sendable)?) {
            self.thread = thread
            self.threadRef = threadRef
            self.context = context
        }
    }

    nonisolated(unsafe) private var coroutines: [Int: Coroutine] = [:]
    private var nextCoroutineID = 1
    /// Locks the global table (set by ``strictGlobalReads()``; not reachable from Lua).
    var globalsLock: LuaRef?
    nonisolated(unsafe) private var running: Int?
    nonisolated(unsafe) private var pendingOperation: (@Sendable () async throws -> [LuaValue])?

    /// Coroutines currently alive (running or suspended).
    public var liveCoroutines: Int { coroutines.count }

    /// The most memory a VM's Lua may hold (FERRY_LUA_MEMORY, in MiB, overrides it).
    public static let defaultMemoryLimit = 1 << 30

    /// - Parameter memoryLimit: bytes Lua may hold (0: no limit); past it an allocation
    ///   fails and the code that asked gets a memory error.
    public init(instructionBudget: Int64 = LuaVM.defaultInstructionBudget, memoryLimit: Int = LuaVM.defaultMemoryLimit) throws {
        header = .allocate(capacity: 1)
        header.initialize(to: ferry_vm_header())
        header.pointee.max_ticks = instructionBudget <= 0 ? 0 : max(1, instructionBudget / Int64(Self.hookEvery))
        header.pointee.hook_every = Self.hookEvery
        header.pointee.mem_limit = max(0, memoryLimit)
        guard let L = ferry_newstate(header) else {
            header.deallocate()
            throw LuaError(kind: .memory, message: "cannot create a Lua state")
        }
        self.L = L
        ferry_getextraspace(L).storeBytes(of: UnsafeMutableRawPointer(header), as: UnsafeMutableRawPointer.self)
        ferry_set_dispatcher(luaDispatch)
        guard ferry_safe_openlibs(L) == ferry_lua_ok() else {
            throw LuaError(kind: .memory, message: "cannot open the Lua libraries")
        }
        ferry_install_budget_hook(L, Self.hookEvery)
        header.pointee.owner = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        lua_close(L)
        header.deallocate()
    }

    // MARK: Registering Swift functions

    /// Sets a global (or a field of a global table, with a dotted name) to a Swift function.
    public func register(_ function: LuaFunction, as name: String? = nil) {
        let id = functions.count
        functions.append(function)
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let path = (name ?? function.name).split(separator: ".").map(String.init)
        ferry_pushglobaltable(L)
        for part in path.dropLast() {
            luaPushString(L, part)
            lua_rawget(L, -2)
            if lua_type(L, -1) != LUA_TTABLE {
                ferry_lua_pop(L, 1)
                lua_createtable(L, 0, 4)
                luaPushString(L, part)
                lua_pushvalue(L, -2)
                lua_rawset(L, -4)
            }
        }
        luaPushString(L, path.last!)
        ferry_push_function(L, Int32(id))
        lua_rawset(L, -3)
    }

    public func register(_ functions: [LuaFunction]) {
        for f in functions { register(f) }
    }

    /// Sets a global to a value.
    public func setGlobal(_ name: String, _ value: LuaValue) {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        // Raw: _G may have a strict metatable whose __newindex raises.
        ferry_pushglobaltable(L)
        luaPushString(L, name)
        luaPush(L, value)
        lua_rawset(L, -3)
    }

    public func getGlobal(_ name: String) throws -> LuaValue {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        ferry_pushglobaltable(L)
        luaPushString(L, name)
        lua_rawget(L, -2)
        return try luaValue(L, -1, path: name)
    }

    /// Pins a global (function or table) in the registry.
    public func globalRef(_ name: String) -> LuaRef? {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        ferry_pushglobaltable(L)
        luaPushString(L, name)
        lua_rawget(L, -2)
        if lua_type(L, -1) <= LUA_TNIL { return nil }
        return LuaRef(id: luaL_ref(L, ferry_registryindex()))
    }

    /// Pins a global and removes it from the global table, so Lua code that runs later
    /// can neither call nor replace what Ferry holds (nil if absent).
    public func takeGlobal(_ name: String) -> LuaRef? {
        guard let ref = globalRef(name) else { return nil }
        setGlobal(name, .nil)
        return ref
    }

    /// Pins a new table built from `value`.
    public func makeRef(_ value: LuaValue) -> LuaRef {
        luaPush(L, value)
        return LuaRef(id: luaL_ref(L, ferry_registryindex()))
    }

    public func release(_ ref: LuaRef) { luaL_unref(L, ferry_registryindex(), ref.id) }

    /// The data in a pinned table (or other value).
    public func value(of ref: LuaRef) throws -> LuaValue {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, ferry_registryindex(), lua_Integer(ref.id))
        return try luaValue(L, -1)
    }

    /// Where a pinned function was written: its chunk name (`@path` for a file) and its
    /// first and last lines; nil for a value that is not a Lua function.
    public func functionSource(_ ref: LuaRef) -> (chunk: String, firstLine: Int, lastLine: Int)? {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, ferry_registryindex(), lua_Integer(ref.id))
        guard lua_type(L, -1) == LUA_TFUNCTION else { return nil }
        var info = lua_Debug()
        // ">S" pops the function and fills in its source; it raises no error.
        guard lua_getinfo(L, ">S", &info) != 0, let source = info.source else { return nil }
        return (String(cString: source), Int(info.linedefined), Int(info.lastlinedefined))
    }

    // MARK: Loading code

    /// Loads and runs a chunk on the main thread (declarations; it cannot yield).
    /// `chunkName` is what error messages show, normally the file's path. With `results`
    /// false what the chunk returns is dropped, not converted (a runbook file's return
    /// value, a function say, is none of Ferry's business).
    @discardableResult
    public func run(source: String, chunkName: String, args: [LuaArg] = [], results: Bool = true) throws -> [LuaValue] {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        var source = source
        let status = source.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) {
                // "=name" chunks (Ferry's own) keep their name; files get "@path".
                ferry_load_text(L, $0.baseAddress, buf.count, chunkName.hasPrefix("=") ? chunkName : "@" + chunkName)
            }
        }
        if status != ferry_lua_ok() {
            let message = luaString(L, -1) ?? "cannot load \(chunkName)"
            throw LuaError(kind: .syntax, message: message)
        }
        for a in args { push(a, onto: L) }
        header.pointee.ticks = 0
        let callStatus = ferry_pcall_traceback(L, Int32(args.count), ferry_lua_multret())
        if callStatus != ferry_lua_ok() {
            throw errorFromTracebackMessage(luaString(L, -1) ?? "error in \(chunkName)", status: callStatus)
        }
        guard results else { return [] }
        let n = lua_gettop(L) - top
        return try (0..<n).map { try luaValue(L, top + 1 + $0) }
    }

    public func run(file path: String, chunkName: String? = nil) throws -> [LuaValue] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw LuaError(kind: .syntax, message: "\(chunkName ?? path): cannot read file: \(error.localizedDescription)")
        }
        return try run(source: text, chunkName: chunkName ?? path)
    }

    /// Calls a pinned function synchronously on the main thread (it must not yield).
    public func callSync(_ function: LuaRef, _ args: [LuaArg]) throws -> [LuaValue] {
        try callOnMain(function, args) { top, n in try (0..<n).map { try luaValue(L, top + 1 + $0) } }
    }

    /// Calls a pinned function on the main thread and pins its results (tables with
    /// metatables, functions) instead of converting them.
    public func callSyncPinned(_ function: LuaRef, _ args: [LuaArg]) throws -> [LuaRef] {
        try callOnMain(function, args) { top, n in
            (0..<n).map { i in
                lua_pushvalue(L, top + 1 + i)
                return LuaRef(id: luaL_ref(L, ferry_registryindex()))
            }
        }
    }

    /// Protected call on the main thread; `results` reads the `n` results above `top`.
    private func callOnMain<T>(_ function: LuaRef, _ args: [LuaArg], results: (Int32, Int32) throws -> T) throws -> T {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, ferry_registryindex(), lua_Integer(function.id))
        for a in args { push(a, onto: L) }
        header.pointee.ticks = 0
        let status = ferry_pcall_traceback(L, Int32(args.count), ferry_lua_multret())
        if status != ferry_lua_ok() {
            throw errorFromTracebackMessage(luaString(L, -1) ?? "error", status: status)
        }
        return try results(top, lua_gettop(L) - top)
    }

    /// Pins element `index` of the global table `name` (nil if absent).
    public func ref(global name: String, index: Int) -> LuaRef? {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        ferry_pushglobaltable(L)
        luaPushString(L, name)
        lua_rawget(L, -2)
        guard lua_type(L, -1) == LUA_TTABLE else { return nil }
        lua_rawgeti(L, -1, lua_Integer(index))
        if lua_type(L, -1) <= LUA_TNIL { return nil }
        return LuaRef(id: luaL_ref(L, ferry_registryindex()))
    }

    /// Pins element `index` of a pinned table (nil if absent).
    public func ref(in table: LuaRef, index: Int) -> LuaRef? {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, ferry_registryindex(), lua_Integer(table.id))
        guard lua_type(L, -1) == LUA_TTABLE else { return nil }
        lua_rawgeti(L, -1, lua_Integer(index))
        if lua_type(L, -1) <= LUA_TNIL { return nil }
        return LuaRef(id: luaL_ref(L, ferry_registryindex()))
    }

    private func errorFromTracebackMessage(_ full: String, status: Int32) -> LuaError {
        // ferry_pcall_traceback appends "\nstack traceback:\n…" to the message.
        let parts = full.components(separatedBy: "\nstack traceback:\n")
        let message = parts[0]
        let kind: LuaError.Kind =
            status == LUA_ERRMEM ? .memory : (message.contains("instruction budget exceeded") ? .budget : .runtime)
        return LuaError(kind: kind, message: kind == .memory ? memoryMessage(message) : message, traceback: parts.count > 1 ? parts[1] : nil)
    }

    private func push(_ arg: LuaArg, onto L: OpaquePointer) {
        switch arg {
        case .value(let v): luaPush(L, v)
        case .ref(let r): lua_rawgeti(L, ferry_registryindex(), lua_Integer(r.id))
        }
    }

    // MARK: Coroutines

    /// Runs a pinned function in a new coroutine and returns its results. While it
    /// waits on Swift I/O, other coroutines run. Cancelling the calling task stops it.
    public func call(_ function: LuaRef, _ args: [LuaArg], context: (any Sendable)? = nil) async throws -> [LuaValue] {
        let id = nextCoroutineID
        nextCoroutineID += 1
        lua_checkstack(L, 2)
        guard let thread = lua_newthread(L) else { throw LuaError(kind: .memory, message: "out of memory") }
        let threadRef = luaL_ref(L, ferry_registryindex())
        let co = Coroutine(thread: thread, threadRef: threadRef, context: context)
        coroutines[id] = co
        // A mark left on a finished thread at this address must not stop this one.
        let address = Int(bitPattern: UnsafeMutableRawPointer(thread))
        ferry_interrupt_clear(header, UnsafeMutableRawPointer(thread))
        lua_checkstack(thread, Int32(args.count) + 4)
        lua_rawgeti(thread, ferry_registryindex(), lua_Integer(function.id))
        for a in args { push(a, onto: thread) }
        let nargs = Int32(args.count)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[LuaValue], any Error>) in
                co.continuation = continuation
                if Task.isCancelled {
                    finish(id, .failure(CancellationError()))
                } else {
                    resume(id, nargs: nargs)
                }
            }
        } onCancel: {
            // Lua that never yields holds the actor: the count hook stops it at its next tick.
            self.interrupt(address)
            Task { await self.cancel(id) }
        }
    }

    /// What a memory error says: the limit, and how to raise it.
    private func memoryMessage(_ message: String) -> String {
        let limit = header.pointee.mem_limit
        guard limit > 0 else { return message }
        return "Lua ran out of memory: the runbook's Lua may hold at most \(limit >> 20) MiB (raise it with FERRY_LUA_MEMORY=<MiB>) (\(message))"
    }

    /// Bytes Lua holds now.
    public var memoryUsed: Int { header.pointee.mem_used }

    /// Marks a coroutine's thread to be stopped at its next count-hook tick (any thread may).
    nonisolated private func interrupt(_ address: Int) {
        guard let thread = UnsafeMutableRawPointer(bitPattern: address) else { return }
        _ = ferry_interrupt(header, thread)
    }

    /// Stops a coroutine: its pending operation is cancelled and its caller gets a CancellationError.
    public func cancel(_ id: Int) {
        guard let co = coroutines[id] else { return }
        co.task?.cancel()
        finish(id, .failure(CancellationError()))
    }

    private func resume(_ id: Int, nargs: Int32) {
        guard let co = coroutines[id], !co.finished else { return }
        running = id
        header.pointee.ticks = 0
        var nresults: Int32 = 0
        let status = lua_resume(co.thread, L, nargs, &nresults)
        running = nil
        if status == ferry_lua_yield_status() {
            lua_settop(co.thread, 0)
            guard let operation = pendingOperation else {
                // The count hook yields a coroutine it must stop (uncatchable by pcall).
                if ferry_interrupted(header, UnsafeMutableRawPointer(co.thread)) != 0 {
                    finish(id, .failure(CancellationError()))
                } else if header.pointee.max_ticks > 0 && header.pointee.ticks > header.pointee.max_ticks {
                    finish(id, .failure(LuaError(kind: .budget, message: "instruction budget exceeded (\(header.pointee.max_ticks * Int64(Self.hookEvery)) instructions without yielding), and the error was caught and the loop went on: stopped (raise the budget with FERRY_LUA_BUDGET)")))
                } else {
                    finish(id, .failure(LuaError(kind: .runtime, message: "a coroutine yielded outside a Ferry primitive")))
                }
                return
            }
            pendingOperation = nil
            co.task = Task {
                let result: Result<[LuaValue], any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                self.deliver(id, result)
            }
        } else if status == ferry_lua_ok() {
            let base = lua_gettop(co.thread) - nresults
            do {
                let values = try (0..<nresults).map { try luaValue(co.thread, base + 1 + $0) }
                finish(id, .success(values))
            } catch {
                finish(id, .failure(LuaError(kind: .conversion, message: "a result cannot cross into Ferry: \(error)")))
            }
        } else {
            let message: String
            if let s = luaString(co.thread, -1) {
                message = s
            } else {
                message = "(error object is a \(luaTypeName(co.thread, -1)) value)"
            }
            ferry_traceback(L, co.thread, nil, 0)
            let traceback = luaString(L, -1)
            ferry_lua_pop(L, 1)
            let kind: LuaError.Kind =
                status == LUA_ERRMEM ? .memory : (message.contains("instruction budget exceeded") ? .budget : .runtime)
            finish(id, .failure(LuaError(kind: kind, message: kind == .memory ? memoryMessage(message) : message, traceback: traceback?.replacingOccurrences(of: "stack traceback:\n", with: ""))))
        }
    }

    private func deliver(_ id: Int, _ result: Result<[LuaValue], any Error>) {
        guard let co = coroutines[id], !co.finished else { return }
        co.task = nil
        let L = co.thread
        switch result {
        case .success(let values):
            lua_checkstack(L, Int32(values.count) + 2)
            lua_pushboolean(L, 1)
            for v in values { luaPush(L, v) }
            resume(id, nargs: Int32(values.count) + 1)
        case .failure(let error):
            if error is CancellationError {
                finish(id, .failure(error))
                return
            }
            lua_pushboolean(L, 0)
            luaPushString(L, Self.message(of: error))
            resume(id, nargs: 2)
        }
    }

    private func finish(_ id: Int, _ result: Result<[LuaValue], any Error>) {
        guard let co = coroutines.removeValue(forKey: id), !co.finished else { return }
        co.finished = true
        ferry_interrupt_clear(header, UnsafeMutableRawPointer(co.thread))
        // A coroutine cannot be reset while it is the one running (a cancel from inside).
        if running != id { lua_resetthread(co.thread) }
        luaL_unref(L, ferry_registryindex(), co.threadRef)
        co.continuation?.resume(with: result)
        co.continuation = nil
    }

    /// `__native.http_request` as runbooks know it: `http.request`.
    static func publicName(_ name: String) -> String {
        guard name.hasPrefix("__native.") else { return name }
        let bare = name.dropFirst("__native.".count)
        guard let underscore = bare.firstIndex(of: "_") else { return String(bare) }
        return bare[..<underscore] + "." + bare[bare.index(after: underscore)...]
    }

    static func message(of error: any Error) -> String {
        if let e = error as? LuaError { return e.message }
        return String(describing: error)
    }

    /// What the engine attached to the coroutine that is running now.
    nonisolated var runningContext: (any Sendable)? { running.flatMap { coroutines[$0]?.context } }

    // MARK: Dispatch from the C trampoline

    fileprivate nonisolated func dispatch(_ state: OpaquePointer, _ functionID: Int) -> Int32 {
        guard functionID < functions.count else {
            luaPushString(state, "unknown Swift function")
            return FERRY_CALL_ERROR
        }
        let function = functions[functionID]
        let call = LuaCall(L: state, vm: self, functionName: function.name)
        do {
            switch try function.body(call) {
            case .values(let values):
                lua_checkstack(state, Int32(values.count) + 2)
                for v in values { luaPush(state, v) }
                return Int32(values.count)
            case .pushed(let n):
                return n
            case .yield(let operation):
                guard let id = running, coroutines[id]?.thread == state else {
                    luaPushString(state, "\(Self.publicName(function.name)) waits on I/O and can only be called inside a step, a check or an undo")
                    return FERRY_CALL_ERROR
                }
                pendingOperation = operation
                return FERRY_CALL_YIELD
            }
        } catch {
            luaPushString(state, Self.message(of: error))
            return FERRY_CALL_ERROR
        }
    }
}

/// The one dispatcher the C trampoline calls for every Swift function.
private let luaDispatch: ferry_dispatch_fn = { state, functionID in
    guard let state else { return FERRY_CALL_ERROR }
    let header = ferry_getextraspace(state).load(as: UnsafeMutablePointer<ferry_vm_header>.self)
    guard let owner = header.pointee.owner else { return FERRY_CALL_ERROR }
    let vm = Unmanaged<LuaVM>.fromOpaque(owner).takeUnretainedValue()
    // Lua only runs inside the actor's methods, so this is the actor's executor.
    return vm.dispatch(state, Int(functionID))
}
