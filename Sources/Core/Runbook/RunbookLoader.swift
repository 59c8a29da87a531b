import Foundation
import LuaBridge

/// Turns runbook files into a ``Runbook``: runs them in a sandboxed VM, then
/// validates every declaration and names the file and line of each mistake.
public enum RunbookLoader {
    /// Extra Lua modules (plugins) and natives to install before the runbook runs.
    public struct Extensions: Sendable {
        /// Natives that need no run (knowledge: releases, steps).
        public var natives: [LuaFunction]
        /// Natives that act during a run, built with the run's ``RuntimeBox``: through
        /// `box.require(_:)` they reach the run's services (transport, databases, drivers,
        /// clock) exactly as Ferry's own primitives do, so a plugin can add a primitive.
        public var runNatives: [@Sendable (RuntimeBox) -> [LuaFunction]] = []
        /// Lua sources for `require` names (e.g. `ferry.<component>`), preloaded.
        public var modules: [String: String]
        /// Globals bound to a module at load (`release` → `ferry.release`).
        public var globals: [String: String]
        public init(natives: [LuaFunction] = [], modules: [String: String] = [:], globals: [String: String] = [:]) {
            self.natives = natives
            self.modules = modules
            self.globals = globals
        }
    }

    public static func load(path: String, extensions: Extensions = Extensions(),
                            instructionBudget: Int64 = LuaVM.defaultInstructionBudget) async throws -> Runbook
    {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
            throw FerryError.invalid("\(path): no such runbook file or directory")
        }
        let files: [String]
        let directory: String
        if isDirectory.boolValue {
            directory = absolute
            let names = try FileManager.default.contentsOfDirectory(atPath: absolute).filter { $0.hasSuffix(".lua") }.sorted()
            guard !names.isEmpty else { throw FerryError.invalid("\(path): the directory holds no .lua files") }
            files = names.map { absolute + "/" + $0 }
        } else {
            directory = URL(fileURLWithPath: absolute).deletingLastPathComponent().path
            files = [absolute]
        }
        return try await load(absolute: absolute, entries: files, directory: directory, scripts: scriptsDirectory(near: directory),
                              source: LuaFileSource(), extensions: extensions, instructionBudget: instructionBudget)
    }

    /// Loads the runbook a run journaled (``RunJournal/runbookSnapshot(_:)``): its files come
    /// from the journal, never from disk, and keep their original names in error messages.
    /// A module or file the run had not read yet is read from disk when first asked for.
    public static func load(snapshot: RunbookSnapshot, extensions: Extensions = Extensions(),
                            instructionBudget: Int64 = LuaVM.defaultInstructionBudget) async throws -> Runbook
    {
        let entries = snapshot.files.filter(\.entry).map(snapshot.absolutePath)
        guard !entries.isEmpty else { throw FerryError.invalid("the journaled runbook \(snapshot.runbookPath) holds no file of its own") }
        let roots = [snapshot.directory] + (snapshot.scripts.map { [$0] } ?? [])
        let resolver = LuaSandbox(readableRoots: roots, modulePaths: [])
        var preloaded: [String: Data] = [:]
        for f in snapshot.files {
            let path = snapshot.absolutePath(f)
            preloaded[path] = f.content
            if let resolved = resolver.resolve(path) { preloaded[resolved] = f.content }
        }
        return try await load(absolute: snapshot.runbookPath, entries: entries, directory: snapshot.directory, scripts: snapshot.scripts,
                              source: LuaFileSource(preloaded: preloaded), extensions: extensions, instructionBudget: instructionBudget,
                              journaled: snapshot)
    }

    static func load(absolute: String, entries files: [String], directory: String, scripts: String?, source: LuaFileSource,
                     extensions: Extensions, instructionBudget: Int64, journaled: RunbookSnapshot? = nil) async throws -> Runbook
    {
        let runtime = RuntimeBox()
        let budget = ProcessInfo.processInfo.environment["FERRY_LUA_BUDGET"].flatMap(Int64.init) ?? instructionBudget
        let memory = ProcessInfo.processInfo.environment["FERRY_LUA_MEMORY"].flatMap(Int.init).map { $0 << 20 } ?? LuaVM.defaultMemoryLimit
        let vm = try LuaVM(instructionBudget: budget, memoryLimit: memory)
        await vm.register(natives(runtime) + extensions.natives + extensions.runNatives.flatMap { $0(runtime) })
        // The prelude learns the runbook's own files: a declaration a helper makes is placed at
        // the line of the runbook file that called the helper.
        try await vm.run(source: RunbookPrelude.source, chunkName: "=ferry-prelude",
                         args: files.map { .value(.string(LuaVM.displayPath($0))) })
        // Ferry's entry points are pinned now and leave the global table, before any other
        // Lua runs: a runbook cannot replace them (`rawset(_G, "__ferry_invoke_host", …)`).
        let entry = Runbook.EntryPoints(
            invokeHost: try await takeGlobal(vm, "__ferry_invoke_host"),
            invokeWave: try await takeGlobal(vm, "__ferry_invoke_wave"),
            probe: try await takeGlobal(vm, "__ferry_probe"),
            select: try await takeGlobal(vm, "__ferry_select"),
            makeContext: try await takeGlobal(vm, "__ferry_make_ctx"),
            state: try await takeGlobal(vm, "__ferry_state"),
            parallelItem: try await takeGlobal(vm, "__ferry_parallel_item"))
        let declarationsRef = try await takeGlobal(vm, "__ferry_declarations")
        let functionsRef = try await takeGlobal(vm, "__ferry_fns")
        var roots = [directory]
        var modulePaths = ["\(directory)/?.lua", "\(directory)/?/init.lua"]
        if let scripts {
            roots.append(scripts)
            modulePaths += ["\(scripts)/?.lua", "\(scripts)/?/init.lua", "\(scripts)/lib/?.lua"]
        }
        try await vm.installSandbox(LuaSandbox(readableRoots: roots, modulePaths: modulePaths, files: source))
        for (name, source) in extensions.modules.sorted(by: { $0.key < $1.key }) {
            try await vm.run(
                source: "local name, src = ...; package.preload[name] = function(...) return assert(load(src, '=' .. name))(...) end",
                chunkName: "=preload", args: [.value(.string(name)), .value(.string(source))])
        }
        for (global, module) in extensions.globals.sorted(by: { $0.key < $1.key }) {
            try await vm.run(source: "local g, m = ...; rawset(_G, g, require(m))", chunkName: "=globals",
                             args: [.value(.string(global)), .value(.string(module))])
        }

        try await vm.strictGlobalReads()
        var hasher = Fingerprint()
        for file in files {
            let display = LuaVM.displayPath(file)
            guard let data = source.contents(atPath: file) else {
                throw FerryError.invalid("\(display): cannot read it")
            }
            hasher.add(display)
            hasher.add(data)
            do {
                try await vm.run(source: String(decoding: data, as: UTF8.self), chunkName: display, results: false)
            } catch let error as LuaError {
                throw FerryError.invalid(error.message + (error.traceback.map { tb in
                    error.kind == .syntax ? "" : "\n" + tb.split(separator: "\n").filter {
                        !$0.contains("[C]") && !$0.contains("ferry-") && !$0.contains("(...tail calls...)")
                    }.prefix(6).joined(separator: "\n")
                } ?? ""))
            }
        }
        try await vm.lockGlobals()

        runtime.parallelItem = entry.parallelItem
        runtime.directory = directory

        let declarations: LuaValue
        do {
            declarations = try await vm.callSync(declarationsRef, [])[0]
        } catch let e as LuaConversionError {
            throw FerryError.invalid("\(files.map(LuaVM.displayPath).joined(separator: ", ")): a declaration holds a value Ferry cannot read: \(e)")
        }
        var validator = DeclarationValidator(vm: vm, functions: functionsRef, files: files)
        let (info, steps, checks, checkOrder) = try await validator.validate(declarations)
        if !validator.problems.isEmpty { throw ValidationErrors(validator.problems) }
        // What the files that ran were: journaled when a run starts.
        var snapshot = journaled ?? RunbookSnapshot(runbookPath: absolute, directory: directory, scripts: scripts, files: [])
        let entrySet = Set(files)
        var read: [RunbookFile] = []
        for (path, data) in source.takeNewReads() {
            if let f = snapshot.file(at: path, data: data, entry: entrySet.contains(path)) { read.append(f) }
        }
        // Entries were read in the order they ran, modules as they were required.
        snapshot.files += read.filter(\.entry) + read.filter { !$0.entry }
        return Runbook(
            path: absolute, files: files, directory: directory, info: info!, steps: steps, checks: checks,
            checkOrder: checkOrder, vm: vm, runtime: runtime, fingerprint: hasher.hex, entry: entry,
            snapshot: snapshot, fileSource: source, fromJournal: journaled != nil)
    }

    /// The natives the prelude wraps (`__native.*`; it hides the table from runbooks).
    static func natives(_ runtime: RuntimeBox) -> [LuaFunction] {
        RuntimeAPI.natives(runtime) + DatabaseAPI.natives(runtime) + VIPAPI.natives(runtime) + ServiceAPI.natives(runtime)
            + PlaybookAPI.natives(runtime)
    }

    static func takeGlobal(_ vm: LuaVM, _ name: String) async throws -> LuaRef {
        guard let ref = await vm.takeGlobal(name) else { throw FerryError.failed("internal: the prelude did not define \(name)") }
        return ref
    }

    /// The library directory whose `lib/` runbooks may `require` (``FerryLibrary/root(near:environment:)``).
    public static func scriptsDirectory(near directory: String) -> String? {
        FerryLibrary.root(near: directory)
    }
}

/// FNV-1a over the runbook's files: enough to notice that a runbook changed between
/// a run and its resume.
struct Fingerprint {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ data: Data) {
        for b in data {
            hash ^= UInt64(b)
            hash &*= 0x100_0000_01b3
        }
    }
    mutating func add(_ s: String) { add(Data(s.utf8)) }
    var hex: String { String(format: "%016llx", hash) }
}
