import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// Lua that never yields holds its VM: cancelling the call (a step's timeout, Ctrl-C)
/// must still stop it, and a VM's Lua cannot take more memory than its limit.
// Serialized, and each loop that never yields runs in `BusyLua.alone` (so too the busy
// loops of other suites, BusyLoopTimeoutTests): such a loop holds a thread of the
// (two-thread, on this machine) cooperative pool until it is stopped; two at once would
// leave none for the stopping.
@Suite(.serialized) struct InterruptAndMemoryTests {
    /// Runs `source`'s function `f` with no instruction budget, waits until it is inside
    /// Lua (it calls `started()`), cancels it, and returns how the call ended.
    static func cancelWhileRunning(_ source: String) async throws -> (any Error)? {
        try await BusyLua.alone { try await cancelWhileRunningAlone(source) }
    }

    private static func cancelWhileRunningAlone(_ source: String) async throws -> (any Error)? {
        let vm = try LuaVM(instructionBudget: 0)
        let inside = Latch()
        await vm.register(LuaFunction("started") { _ in
            inside.open()
            return .none
        })
        let ref = try #require(await vm.globalRefAfterRun(source: source, name: "f", chunkName: "loop.lua"))
        let task = Task { try await vm.call(ref, []) }
        await inside.wait()
        task.cancel()
        do {
            _ = try await task.value
            return nil
        } catch {
            return error
        }
    }

    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func aCancelledLoopThatNeverYieldsStops() async throws {
        let error = try await Self.cancelWhileRunning("f = function() started(); while true do end end")
        #expect(error != nil, "the loop ran to an end it does not have")
    }

    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func catchingTheStopWithPcallDoesNotHelp() async throws {
        let error = try await Self.cancelWhileRunning("""
            f = function()
              started()
              while true do pcall(function() while true do end end) end
            end
            """)
        #expect(error != nil)
    }

    @Test func theVMKeepsWorkingAfterAStoppedCoroutine() async throws {
        let vm = try LuaVM(instructionBudget: 0)
        let inside = Latch()
        await vm.register(LuaFunction("started") { _ in
            inside.open()
            return .none
        })
        let loop = try #require(await vm.globalRefAfterRun(source: "f = function() started(); while true do end end", name: "f", chunkName: "a.lua"))
        try await BusyLua.alone {
            let task = Task { try await vm.call(loop, []) }
            await inside.wait()
            task.cancel()
            _ = try? await task.value
        }
        let ok = try #require(await vm.globalRefAfterRun(source: "g = function() local n = 0; for i = 1, 100000 do n = n + i end; return n end", name: "g", chunkName: "b.lua"))
        #expect(try await vm.call(ok, []) == [.int(5_000_050_000)])
    }

    @Test func luaCannotHoldMoreThanItsMemoryLimit() async throws {
        let vm = try LuaVM(memoryLimit: 32 << 20)
        let ref = try #require(await vm.globalRefAfterRun(source: """
            f = function()
              local t = {}
              for i = 1, 1e8 do t[i] = string.rep("x", 64) .. i end
              return #t
            end
            """, name: "f", chunkName: "hog.lua"))
        do {
            _ = try await vm.call(ref, [])
            Issue.record("a table of 10^8 strings fit in 32 MiB")
        } catch let e as LuaError {
            #expect(e.kind == .memory, "\(e)")
            #expect(e.message.contains("at most 32 MiB") && e.message.contains("FERRY_LUA_MEMORY"), "\(e.message)")
        }
        #expect(await vm.memoryUsed <= 32 << 20)
        // The VM is usable once the garbage is collected.
        #expect(try await vm.run(source: "collectgarbage(); return 1 + 1", chunkName: "after.lua") == [.int(2)])
    }
}
