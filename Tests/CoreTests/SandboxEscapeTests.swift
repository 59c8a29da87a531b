import FerryCore
import Foundation
import LuaBridge
import Testing

/// Ways a runbook might reach past the sandbox (the machine Ferry runs on, Ferry's own
/// Lua, the instruction budget), each tried where a runbook's code runs: while the files
/// load (what `validate`, `plan` and `run` all do first) and inside a step during a run.
/// Each must be refused with a clear error, or be harmless.
@Suite struct SandboxEscapeTests {
    enum Expectation: Sendable {
        /// Raises an error whose message contains this text.
        case refused(String)
        /// Runs; afterwards this Lua expression holds, the canary file does not exist, and
        /// the steps declared after it still load and run.
        case harmless(check: String)
    }

    enum Place: Sendable { case loading, step }

    struct Attempt: Sendable, CustomTestStringConvertible {
        let name: String
        /// The body of a function; `CANARY` is replaced with a path that must never exist.
        let lua: String
        let expect: Expectation
        var places: [Place] = [.loading, .step]
        var testDescription: String { name }
    }

    /// Small, so runaway loops end in milliseconds (the loops in these attempts are bounded
    /// too: an attempt that gets through ends instead of hanging the test).
    static let budget: Int64 = 2_000_000

    static let attempts: [Attempt] = [
        // The machine: processes, environment, files.
        Attempt(name: "os.execute", lua: "os.execute('touch CANARY')", expect: .refused("os.execute is not available to runbooks")),
        Attempt(name: "require('os').execute", lua: "require('os').execute('touch CANARY')",
                expect: .refused("os.execute is not available to runbooks")),
        Attempt(name: "os.getenv", lua: "return os.getenv('HOME')", expect: .refused("os.getenv is not available to runbooks")),
        Attempt(name: "require('os').getenv", lua: "return require('os').getenv('PATH')", expect: .refused("os.getenv is not available")),
        Attempt(name: "os.remove", lua: "os.remove('CANARY')", expect: .refused("os.remove is not available")),
        Attempt(name: "os.exit", lua: "os.exit(0)", expect: .refused("os.exit is not available")),
        Attempt(name: "io.popen", lua: "io.popen('touch CANARY')", expect: .refused("io.popen is not available to runbooks")),
        Attempt(name: "require('io').popen", lua: "require('io').popen('touch CANARY')", expect: .refused("io.popen is not available")),
        Attempt(name: "io.write", lua: "io.write('x')", expect: .refused("io.write is not available")),
        Attempt(name: "io.open outside", lua: "io.open('/etc/passwd')", expect: .refused("'/etc/passwd' is outside the runbook's directory")),
        Attempt(name: "io.open ../", lua: "io.open('../region.yaml')", expect: .refused("is outside the runbook's directory")),
        Attempt(name: "io.open through a symlink", lua: "io.open('etc-link/passwd')", expect: .refused("is outside the runbook's directory")),
        Attempt(name: "io.lines outside", lua: "for l in io.lines('/etc/hostname') do end", expect: .refused("is outside the runbook's directory")),
        Attempt(name: "io.open for writing", lua: "assert(io.open('data.txt', 'w'))", expect: .refused("runbooks may only read files")),
        Attempt(name: "io.open inside", lua: "assert(io.open('data.txt'):read('a') == 'inside-data')", expect: .harmless(check: "true")),
        Attempt(name: "io table replaced", lua: "io.open = function() end", expect: .refused("io.open cannot be set")),
        Attempt(name: "dofile", lua: "dofile('/etc/passwd')", expect: .refused("undefined global 'dofile'")),
        Attempt(name: "loadfile", lua: "loadfile('/etc/passwd')", expect: .refused("undefined global 'loadfile'")),
        // The debug library: hooks (the budget), upvalues (Ferry's natives), the registry.
        Attempt(name: "debug.sethook", lua: "debug.sethook()", expect: .refused("debug.sethook is not available to runbooks")),
        Attempt(name: "require('debug').sethook", lua: "require('debug').sethook()", expect: .refused("debug.sethook is not available")),
        Attempt(name: "debug.getupvalue", lua: "return debug.getupvalue(inventory.host, 1)", expect: .refused("debug.getupvalue is not available")),
        Attempt(name: "debug.getregistry", lua: "return debug.getregistry()", expect: .refused("debug.getregistry is not available")),
        Attempt(name: "debug.setmetatable", lua: "debug.setmetatable('', { __index = {} })", expect: .refused("debug.setmetatable is not available")),
        Attempt(name: "debug.getinfo", lua: "return debug.getinfo(1).func", expect: .refused("debug.getinfo is not available")),
        // Binary chunks and load with an environment.
        Attempt(name: "string.dump", lua: "return load(string.dump(function() end))", expect: .refused("string.dump is not available")),
        Attempt(name: "load mode b", lua: "assert(load(string.char(27) .. 'LuaT', 'x', 'b'))", expect: .refused("attempt to load a binary chunk")),
        Attempt(name: "load binary from a reader", lua: """
            local parts = { string.char(27) .. 'LuaT' }
            assert(load(function() return table.remove(parts, 1) end))
            """, expect: .refused("attempt to load a binary chunk")),
        Attempt(name: "load with an env holding require", lua: "load('require(\"os\").execute(\"touch CANARY\")', 'x', 't', { require = require })()",
                expect: .refused("os.execute is not available")),
        Attempt(name: "load with an empty env", lua: "assert(load('return os, require, _G', 'x', 't', {})() == nil)",
                expect: .harmless(check: "true")),
        // The shared string metatable: Ferry's own Lua calls string methods.
        Attempt(name: "string metatable __index", lua: "getmetatable('').__index = { sub = function() return 'pwned' end }",
                expect: .refused("attempt to index a string value")),
        Attempt(name: "string metatable replaced by debug", lua: "debug.setmetatable('', nil)", expect: .refused("debug.setmetatable is not available")),
        Attempt(name: "string library patched", lua: "string.sub = function() return 'pwned' end; string.find = string.sub",
                expect: .harmless(check: "('abc'):sub(2) == 'bc' and ('abc'):find('c') == 3")),
        // package: native libraries and searchers.
        Attempt(name: "package.loadlib", lua: "package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', 'system')",
                expect: .refused("package.loadlib is not available")),
        Attempt(name: "require('package').loadlib", lua: "require('package').loadlib('libc.so.6', '*')",
                expect: .refused("package.loadlib is not available")),
        Attempt(name: "package.cpath", lua: "package.cpath = '/tmp/?.so'; require('evil')", expect: .refused("package.cpath cannot be set")),
        Attempt(name: "package.searchers replaced", lua: "package.searchers = { function() return function() return os end end }",
                expect: .refused("package.searchers cannot be set")),
        Attempt(name: "a searcher added", lua: """
            table.insert(package.searchers, 1, function(name) return function() return { name = name } end end)
            assert(require('anything').name == 'anything')
            """, expect: .harmless(check: "true")),
        Attempt(name: "require a C module", lua: "require('socket.core')", expect: .refused("module 'socket.core' not found")),
        // collectgarbage.
        Attempt(name: "collectgarbage stop", lua: """
            collectgarbage('stop')
            local s
            for i = 1, 200 do s = string.rep('x', 1000000) .. i end
            """, expect: .harmless(check: "collectgarbage('count') < 100 * 1024")),
        Attempt(name: "collectgarbage count", lua: "assert(type(collectgarbage('count')) == 'number')", expect: .harmless(check: "true")),
        Attempt(name: "collectgarbage modes", lua: """
            collectgarbage('generational'); collectgarbage('incremental', 1, 1); collectgarbage('step', 1e9)
            """, expect: .harmless(check: "true")),
        // The instruction budget.
        Attempt(name: "pcall catches the budget", lua: "for i = 1, 40 do pcall(function() while true do end end) end",
                expect: .refused("instruction budget exceeded")),
        Attempt(name: "xpcall handler swallows the budget", lua: """
            for i = 1, 40 do xpcall(function() while true do end end, function() return 'swallowed' end) end
            """, expect: .refused("instruction budget exceeded")),
        Attempt(name: "xpcall handler runs without the hook", lua: """
            local spun = 0
            for i = 1, 3 do
              xpcall(function() while true do end end, function() for j = 1, 3000000 do spun = spun + 1 end return 'x' end)
            end
            """, expect: .refused("instruction budget exceeded")),
        Attempt(name: "load reader swallows the budget", lua: "for i = 1, 40 do load(function() while true do end end) end",
                expect: .refused("instruction budget exceeded")),
        Attempt(name: "__gc finalizer", lua: "setmetatable({}, { __gc = function() end })", expect: .refused("__gc (a finalizer) is not available")),
        Attempt(name: "__gc on a Ferry class", lua: """
            getmetatable(inventory.host('ctl1')).__gc = function() end
            inventory.host('ctl1')
            """, expect: .refused("__gc is not available to runbooks"), places: [.step]),
        Attempt(name: "coroutine", lua: "coroutine.wrap(function() while true do end end)()", expect: .refused("undefined global 'coroutine'")),
        Attempt(name: "require('coroutine')", lua: "require('coroutine')", expect: .refused("module 'coroutine' not found")),
        Attempt(name: "parallel items catch the budget", lua: """
            for i = 1, 40 do pcall(parallel, { 1 }, function() while true do end end) end
            """, expect: .refused("instruction budget exceeded"), places: [.step]),
        // Ferry's own globals and the global table.
        Attempt(name: "setmetatable(_G)", lua: "setmetatable(_G, nil)", expect: .refused("cannot change a protected metatable")),
        Attempt(name: "getmetatable(_G)", lua: "getmetatable(_G).__index = nil", expect: .refused("attempt to index a string value")),
        Attempt(name: "rawset over Ferry's entry points", lua: """
            for _, name in ipairs { '__ferry_invoke_host', '__ferry_invoke_wave', '__ferry_probe', '__ferry_select', '__ferry_make_ctx', '__ferry_state',
                                    '__ferry_parallel_item', '__ferry_declarations' } do
              rawset(_G, name, function() error('hijacked ' .. name) end)
            end
            rawset(_G, '__ferry_fns', {})
            """, expect: .harmless(check: "true")),
        Attempt(name: "Ferry's natives and sandbox", lua: "return __native.host_run, __sandbox.readfile", expect: .refused("undefined global '__native'")),
        Attempt(name: "warn", lua: "warn('@on'); warn('\\27[2J')", expect: .refused("undefined global 'warn'")),
    ]

    struct Setup {
        let fixture: Fixture
        let canary: String
    }

    func setup(_ runbook: String) throws -> Setup {
        let f = try Fixture(runbook: runbook, extraFiles: ["rb/data.txt": "inside-data"])
        try FileManager.default.createSymbolicLink(atPath: f.directory + "/rb/etc-link", withDestinationPath: "/etc")
        return Setup(fixture: f, canary: f.directory + "/CANARY")
    }

    func body(_ a: Attempt, canary: String) -> String {
        var lua = "local function attempt()\n\(a.lua.replacingOccurrences(of: "CANARY", with: canary))\nend\nattempt()\n"
        if case .harmless(let check) = a.expect { lua += "assert(\(check), 'harm: ' .. \(luaString(check)))\n" }
        return lua
    }

    func luaString(_ s: String) -> String { "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }

    /// Steps after the attempt, which must still load and run as declared.
    static let after = """
        step "after" { run = function(ctx) ctx.state.after = "ran" end }
        step "after-on-host" { on = "ctl1", run = function(host, ctx) host:run("true") end }
        """

    @Test(arguments: attempts) func escapeWhileLoading(_ a: Attempt) async throws {
        guard a.places.contains(.loading) else { return }
        let s = try setup("")
        let runbook = "runbook { name = \"escape\" }\ndo\n" + body(a, canary: s.canary) + "end\n" + Self.after
        try runbook.write(toFile: s.fixture.runbookPath, atomically: true, encoding: .utf8)
        defer { #expect(!FileManager.default.fileExists(atPath: s.canary), "\(a.name) reached the machine") }
        let loaded: Runbook
        do {
            loaded = try await RunbookLoader.load(path: s.fixture.runbookPath, instructionBudget: Self.budget)
        } catch {
            let message = (error as? FerryError)?.message ?? (error as? ValidationErrors)?.problems.joined(separator: "\n") ?? "\(error)"
            guard case .refused(let text) = a.expect else {
                Issue.record("\(a.name) should be harmless, but loading failed: \(message)")
                return
            }
            #expect(message.contains(text), "\(a.name): \(message)")
            #expect(message.contains("runbook.lua:"), "\(a.name): the error should name the runbook's line: \(message)")
            return
        }
        if case .refused(let text) = a.expect {
            Issue.record("\(a.name) should be refused (\(text)), but the runbook loaded")
            return
        }
        #expect(loaded.steps.map(\.name) == ["after", "after-on-host"], "\(a.name)")
        #expect(loaded.steps.first?.location.file.hasSuffix("runbook.lua") == true, "\(a.name): \(loaded.steps.first?.location.description ?? "")")
        let outcome = try await run(loaded, s.fixture)
        #expect(outcome.status == .succeeded, "\(a.name): \(outcome.message ?? "")")
    }

    @Test(arguments: attempts) func escapeInsideAStep(_ a: Attempt) async throws {
        guard a.places.contains(.step) else { return }
        let s = try setup("")
        let runbook = "runbook { name = \"escape\" }\nstep \"attempt\" { run = function(ctx)\n" + body(a, canary: s.canary) + "end }\n" + Self.after
        try runbook.write(toFile: s.fixture.runbookPath, atomically: true, encoding: .utf8)
        defer { #expect(!FileManager.default.fileExists(atPath: s.canary), "\(a.name) reached the machine") }
        let loaded = try await RunbookLoader.load(path: s.fixture.runbookPath, instructionBudget: Self.budget)
        let outcome = try await run(loaded, s.fixture)
        switch a.expect {
        case .refused(let text):
            #expect(outcome.status == .failed, "\(a.name) should be refused (\(text))")
            #expect(outcome.step == "attempt", "\(a.name)")
            #expect(outcome.message?.contains(text) == true, "\(a.name): \(outcome.message ?? "")")
        case .harmless:
            #expect(outcome.status == .succeeded, "\(a.name): \(outcome.message ?? "")")
        }
    }

    func run(_ runbook: Runbook, _ f: Fixture) async throws -> RunOutcome {
        let engine = Engine(runbook: runbook, region: try f.region(), transport: LocalTransport(), journal: try f.journal())
        let outcome = try await engine.run(RunOptions())
        if outcome.status == .succeeded {
            #expect(try await engine.journal.run(outcome.runID).state["after"] == "ran")
        }
        return outcome
    }
}
