import FerryCore
import Foundation
import Testing

@Suite struct ValidationTests {
    func problems(_ runbook: String) async throws -> [String] {
        let f = try Fixture(runbook: runbook)
        do {
            _ = try await f.load()
            return []
        } catch let e as ValidationErrors {
            return e.problems
        } catch let e as FerryError {
            return [e.message]
        }
    }

    @Test func everyMistakeNamesItsFileAndLine() async throws {
        let found = try await problems("""
            runbook { name = "bad" }
            step "a" { run = function(ctx) end, paralel = 3 }
            step "b" { run = function(ctx) end, timeout = "soon" }
            step "a" { run = function(ctx) end }
            step "c" { undo = function(ctx) end }
            step "d" { on = "computes", parallel = "ten", run = function(h, ctx) end }
            step "e" { run = function(ctx) end, before = { "no-such-check" } }
            step "f" { run = "echo hi" }
            step "g"
            """)
        let expected = [
            "runbook.lua:2: step \"a\": unknown field 'paralel' (did you mean 'parallel'?)",
            "runbook.lua:3: step \"b\": timeout: 'soon' is not a duration",
            "runbook.lua:4: duplicate step name \"a\" (first declared at ",
            "runbook.lua:5: step \"c\": run is missing",
            "runbook.lua:6: step \"d\": parallel must be a whole number ≥ 1, got \"ten\"",
            "runbook.lua:7: step \"e\": before: no check named \"no-such-check\"",
            "runbook.lua:8: step \"f\": run must be a function, got \"echo hi\"",
            "runbook.lua:9: step \"g\" has no body",
        ]
        for e in expected {
            #expect(found.contains { $0.contains(e) }, "missing: \(e)\nfound:\n\(found.joined(separator: "\n"))")
        }
    }

    @Test func syntaxAndRuntimeErrorsNameTheLine() async throws {
        let syntax = try await problems("runbook { name = 'x' }\nstep \"a\" { run = function(ctx) end\n")
        #expect(syntax.first?.contains("runbook.lua:3:") == true, "\(syntax)")
        let runtime = try await problems("runbook { name = 'x' }\n\nlocal t = nil\nprint(t.field)\n")
        #expect(runtime.first?.contains("runbook.lua:4: attempt to index a nil value") == true, "\(runtime)")
        let global = try await problems("runbook { name = 'x' }\nstep 'a' { run = function(ctx) missing_helper() end }\nos.execute('true')")
        #expect(global.first?.contains("runbook.lua:3:") == true, "\(global)")
    }

    @Test func selectorMatchingNoHostIsAnErrorWithItsLine() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "sel" }
            step "ok" { on = "computes", run = function(h, ctx) end }
            step "typo" { on = "compute", run = function(h, ctx) end }
            """)
        let runbook = try await f.load()
        #expect(throws: ValidationErrors.self) { try Plan.build(runbook, region: try f.region()) }
        do { _ = try Plan.build(runbook, region: try f.region()) } catch let e as ValidationErrors {
            #expect(e.problems[0].hasSuffix("runbook.lua:3: step \"typo\": selector 'compute' matches no host or group (did you mean 'computes'?)"))
        }
    }

    /// Issue 15: a selector an `on` function returns that selects nothing fails the step (or
    /// the check) naming the function's file and line.
    @Test func aBadSelectorFromAnOnFunctionNamesItsLine() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "on-fn" }
            check "typo-check" { on = function(ctx)
              return { "controller" }
            end, probe = function(host, ctx) return true end }
            step "typo" {
              on = function(ctx) return { "compute" } end,
              run = function(h, ctx) end,
              after = { "typo-check" },
            }
            """)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains(
            "runbook.lua:6: in what the 'on' function returned: selector 'compute' matches no host or group (did you mean 'computes'?)") == true,
            "\(outcome.message ?? "")")
        let checks = try await engine.runChecks(["typo-check"], runID: outcome.runID)
        #expect(checks.first?.message?.contains("runbook.lua:2: in what the 'on' function returned: selector 'controller'") == true,
                "\(checks.map { $0.message ?? "" })")
    }

    @Test func sandboxRefusesTheMachine() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "sandbox" }
            local results = {}
            -- What the sandbox leaves out raises a clear error where it is used.
            local function refused(f)
              local ok, err = pcall(f)
              return not ok and err:find("is not available to runbooks", 1, true) ~= nil
            end
            results.execute = refused(function() return os.execute end)
            results.popen = refused(function() return io.popen end)
            results.loadlib = refused(function() return package.loadlib end)
            local ok, err = pcall(io.open, "/etc/passwd")
            results.outside = (not ok) and err or "opened"
            local fh = io.open("data.txt")
            results.inside = fh and fh:read("a") or "missing"
            local bin = load(string.char(27) .. "Lua")
            results.binary = bin == nil
            results.helper = require("helper").answer
            -- The standard tables through require are the sandbox's too (they were the
            -- originals: require("os").execute ran shell commands).
            results.required = refused(function() return require("os").execute end)
              and refused(function() return require("os").getenv end)
              and refused(function() return require("debug").sethook end)
              and refused(function() return require("debug").getupvalue end)
              and require("os") == os and require("debug") == debug
            results.loaded = package.loaded.os == os and package.loaded.debug == debug
            step "noop" { run = function(ctx) ctx.state.results = results end }
            """, extraFiles: ["rb/data.txt": "inside-data", "rb/helper.lua": "return { answer = 42 }"])
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        let r = try await engine.journal.run(outcome.runID).state["results"]
        #expect(r["execute"] == true)
        #expect(r["popen"] == true)
        #expect(r["loadlib"] == true)
        #expect(r["outside"].stringValue?.contains("outside the runbook's directory") == true)
        #expect(r["inside"] == "inside-data")
        #expect(r["binary"] == true)
        #expect(r["helper"] == 42)
        #expect(r["required"] == true)
        #expect(r["loaded"] == true)
    }

    @Test func accidentalGlobalsInsideStepsAreRefused() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "globals" }
            step "leak" { run = function(ctx) counter = 1 end }
            """)
        let outcome = try await f.engine().run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("runbook.lua:2: assignment to undeclared global 'counter'") == true)
    }

    @Test func stateThatCannotBeStoredFailsTheStepClearly() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "state" }
            step "bad-state" { run = function(ctx) ctx.state.fn = function() end end }
            """)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("ctx.state cannot be saved") == true, "\(outcome.message ?? "")")
        #expect(outcome.message?.contains("function value cannot be stored") == true)
        #expect(outcome.message?.contains("(at fn)") == true)
        let steps = try await engine.journal.steps(outcome.runID)
        #expect(steps.first?.status == .failed)
    }
}
