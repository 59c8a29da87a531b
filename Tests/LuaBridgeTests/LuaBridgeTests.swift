import Foundation
import LuaBridge
import Synchronization
import FerryTestSupport
import Testing

/// Counts live instances so a test can prove Swift objects were released.
final class LiveCounter: Sendable {
    let live = Atomic<Int>(0)
    var value: Int { live.load(ordering: .sequentiallyConsistent) }
}

final class Tracked: Sendable {
    let counter: LiveCounter
    init(_ counter: LiveCounter) {
        self.counter = counter
        counter.live.add(1, ordering: .sequentiallyConsistent)
    }
    deinit { counter.live.subtract(1, ordering: .sequentiallyConsistent) }
}

struct Boom: Error, CustomStringConvertible { var description: String { "boom from Swift" } }


@Suite struct LuaBridgeTests {
    @Test func valuesRoundTripBothWays() async throws {
        let vm = try LuaVM()
        let value: LuaValue = [
            "name": "glance", "count": 3, "ratio": 0.5, "on": true,
            "hosts": ["a", "b", "c"], "nested": ["deep": ["x": 1]], "empty": [:],
        ]
        await vm.register(LuaFunction("echo") { call in .value(try call.value(1)) })
        await vm.setGlobal("input", value)
        let out = try await vm.run(source: "return echo(input)", chunkName: "t.lua")
        #expect(out == [value])
        // A table made in Lua comes back with the right shapes.
        let made = try await vm.run(source: "return {1, 2.5, 'x', {k = false}}, nil, 7", chunkName: "t.lua")
        #expect(made == [.array([1, 2.5, "x", ["k": false]]), .nil, 7])
        // JSON form keeps integers and floats apart.
        #expect(try LuaValue.fromJSON(value.jsonString()) == value)
    }

    @Test func valuesThatCannotCrossGiveClearErrors() async throws {
        let vm = try LuaVM()
        await vm.register(LuaFunction("store") { call in _ = try call.value(1); return .none })
        let cases = [
            ("store({ f = function() end })", "function value cannot be stored (only nil, booleans, numbers, strings and tables of them) (at f)"),
            ("local t = {}; t.me = t; store(t)", "contains itself"),
            ("store({1, 2, x = 3})", "mixes string keys and integer keys"),
            ("store({[1] = 1, [3] = 3})", "gaps"),
            // A loop builds a table nested a million deep in a few lines; converting it
            // recursed per level until the stack overflowed (found by the loader fuzz test).
            ("local t = {}; for _ = 1, 1000000 do t = { t } end; store(t)", "tables nested deeper than 200 levels cannot be stored"),
        ]
        for (source, expected) in cases {
            do {
                try await vm.run(source: source, chunkName: "bad.lua")
                Issue.record("no error for \(source)")
            } catch let e as LuaError {
                #expect(e.message.contains(expected), "\(e.message)")
                #expect(e.message.hasPrefix("bad.lua:1:"), "\(e.message)")
            }
        }
    }

    @Test func swiftErrorBecomesLuaErrorWithFileLineAndReleasesSwiftObjects() async throws {
        let counter = LiveCounter()
        let vm = try LuaVM()
        await vm.register(LuaFunction("explode") { _ in
            let object = Tracked(counter)
            _ = object
            throw Boom()
        })
        let source = """
            local function inner()
              explode()
            end
            local ok, err = pcall(inner)
            assert(not ok)
            return err
            """
        let result = try await vm.run(source: source, chunkName: "runbook.lua")
        #expect(result == ["runbook.lua:2: boom from Swift"])
        // Uncaught, it carries a traceback too.
        do {
            try await vm.run(source: "\n\nexplode()", chunkName: "runbook.lua")
            Issue.record("expected an error")
        } catch let e as LuaError {
            #expect(e.message == "runbook.lua:3: boom from Swift")
            #expect(e.location?.line == 3)
            #expect(e.traceback?.contains("runbook.lua:3") == true)
        }
        #expect(counter.value == 0)
    }

    @Test func asyncErrorReleasesSwiftObjectsAndNamesTheLine() async throws {
        let counter = LiveCounter()
        let vm = try LuaVM()
        await vm.register(LuaFunction("fetch") { _ in
            let object = Tracked(counter)
            return .yield {
                _ = object
                try await Task.sleep(for: .milliseconds(1))
                throw Boom()
            }
        })
        let ref = try #require(await vm.globalRefAfterRun(source: "f = function()\n  fetch()\nend", name: "f", chunkName: "step.lua"))
        do {
            _ = try await vm.call(ref, [])
            Issue.record("expected an error")
        } catch let e as LuaError {
            #expect(e.message == "step.lua:2: boom from Swift")
        }
        // The error reaches the caller while the task that ran the operation may still be
        // finishing (it lets go of the closure, and the object, as it ends): wait for that,
        // however long the machine takes. An object never let go is a leak: the hang guard fails it.
        #expect(try await Wait.until("the Swift object released", every: .milliseconds(10), unless: .never) { counter.value == 0 })
    }

    /// A thousand coroutines wait at once: each wait returns only after all thousand have
    /// started waiting (a barrier), so coroutines run one after another would never finish
    /// (the time limit fails the test) — no wall-clock bound needed. Alone it takes a tenth of
    /// a second; in the full suite on two cores it shares the cooperative threads with the
    /// CPU-bound fuzz and drill suites and once ran past 2 minutes, hence the generous limit:
    /// it only fails a hang.
    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func thousandCoroutinesAwaitAsyncPrimitivesConcurrently() async throws {
        let vm = try LuaVM()
        let waiting = LiveCounter()
        let everyoneWaits = Latch()
        await vm.register(LuaFunction("wait") { call in
            let n = try call.integer(1)
            return .yield {
                if waiting.live.add(1, ordering: .sequentiallyConsistent).newValue == 1000 { everyoneWaits.open() }
                await everyoneWaits.wait()
                return [.int(Int64(n))]
            }
        })
        let ref = try #require(await vm.globalRefAfterRun(source: "f = function(i) return wait(200) + i end", name: "f"))
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<1000 {
                group.addTask { try await vm.call(ref, [.value(.int(Int64(i)))])[0].intValue! }
            }
            return try await group.reduce(0, +)
        }
        #expect(total == 1000 * 200 + (0..<1000).reduce(0, +))
        #expect(waiting.value == 1000)
        #expect(await vm.liveCoroutines == 0)
    }

    @Test func yieldInsidePcallWorks() async throws {
        let vm = try LuaVM()
        await vm.register(LuaFunction("later") { call in
            let fail = call.bool(1)
            return .yield {
                try await Task.sleep(for: .milliseconds(1))
                if fail { throw Boom() }
                return ["ok"]
            }
        })
        let ref = try #require(
            await vm.globalRefAfterRun(
                source: """
                    f = function()
                      local ok1, v1 = pcall(later, false)
                      local ok2, e2 = pcall(function() return later(true) end)
                      return ok1, v1, ok2, e2
                    end
                    """, name: "f"))
        let out = try await vm.call(ref, [])
        #expect(out == [true, "ok", false, "t.lua:3: boom from Swift"])
    }

    @Test func instructionBudgetStopsRunawayLoop() async throws {
        let vm = try LuaVM(instructionBudget: 2_000_000)
        do {
            try await vm.run(source: "while true do end", chunkName: "loop.lua")
            Issue.record("expected the budget to stop the loop")
        } catch let e as LuaError {
            #expect(e.kind == .budget)
            #expect(e.message.contains("instruction budget exceeded"))
            #expect(e.message.hasPrefix("loop.lua:1:"))
        }
        // Inside a coroutine too, and the VM stays usable afterwards.
        let ref = try #require(await vm.globalRefAfterRun(source: "f = function() while true do end end", name: "f"))
        await #expect(throws: LuaError.self) { try await vm.call(ref, []) }
        #expect(try await vm.run(source: "return 1 + 1", chunkName: "t.lua") == [2])
    }

    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func cancellingTheCallerStopsTheCoroutine() async throws {
        let vm = try LuaVM()
        let waiting = Latch()  // the coroutine yielded and its operation is about to sleep
        let stopped = Latch()  // that sleep was cancelled
        await vm.register(LuaFunction("forever") { _ in
            .yield {
                waiting.open()
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    stopped.open()
                    throw error
                }
                return []
            }
        })
        let ref = try #require(await vm.globalRefAfterRun(source: "f = function() forever() end", name: "f"))
        let task = Task { try await vm.call(ref, []) }
        await waiting.wait()
        #expect(await vm.liveCoroutines == 1)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(await vm.liveCoroutines == 0)
        // The operation it waited on was cancelled too, not left sleeping.
        await stopped.wait()
    }

    @Test func yieldingOutsideACoroutineIsAClearError() async throws {
        let vm = try LuaVM()
        await vm.register(LuaFunction("io_call") { _ in .yield { [] } })
        do {
            try await vm.run(source: "io_call()", chunkName: "decl.lua")
            Issue.record("expected an error")
        } catch let e as LuaError {
            #expect(e.message.contains("can only be called inside a step"))
        }
    }
}

extension LuaVM {
    func globalRefAfterRun(source: String, name: String, chunkName: String = "t.lua") throws -> LuaRef? {
        try run(source: source, chunkName: chunkName)
        return globalRef(name)
    }
}
