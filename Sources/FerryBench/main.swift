import FerryCore
import Foundation
import LuaBridge

// ferry-bench bridge [N]   cost of calls across the Lua/Swift boundary
// ferry-bench engine [HOSTS] [STEPS]   engine overhead per host-step with the journal on

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func benchBridge(_ n: Int) async throws {
    let vm = try LuaVM(instructionBudget: 0)
    await vm.register(LuaFunction("noop") { _ in .none })
    await vm.register(LuaFunction("add") { call in .value(.int(Int64(try call.integer(1)) + Int64(try call.integer(2)))) })
    await vm.register(LuaFunction("yieldnow") { _ in .yield { [] } })
    try await vm.run(source: """
        function lua_loop(n) local x = 0 for i = 1, n do x = x + i end return x end
        function c_loop(n) local r = rawequal for i = 1, n do r(i, i) end end
        function swift_loop(n) local f = noop for i = 1, n do f() end end
        function swift_args_loop(n) local f = add for i = 1, n do f(i, 1) end end
        function yield_loop(n) local y = yieldnow for i = 1, n do y() end end
        """, chunkName: "bench")
    func time(_ name: String, _ iterations: Int, coroutine: Bool = false) async throws -> Double {
        let ref = await vm.globalRef(name)!
        let clock = ContinuousClock()
        let start = clock.now
        if coroutine {
            _ = try await vm.call(ref, [.value(.int(Int64(iterations)))])
        } else {
            _ = try await vm.callSync(ref, [.value(.int(Int64(iterations)))])
        }
        return seconds(clock.now - start) / Double(iterations) * 1e9
    }
    _ = try await time("c_loop", n / 10)
    let empty = try await time("lua_loop", n)
    let c = try await time("c_loop", n)
    let swift = try await time("swift_loop", n)
    let swiftArgs = try await time("swift_args_loop", n)
    let yields = max(1, n / 10)
    let yield = try await time("yield_loop", yields, coroutine: true)
    // Many coroutines at once: 1,000 coroutines each suspending 100 times.
    let clock = ContinuousClock()
    let ref = await vm.globalRef("yield_loop")!
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<1000 { group.addTask { _ = try await vm.call(ref, [.value(100)]) } }
        try await group.waitForAll()
    }
    let concurrent = seconds(clock.now - start) / 100_000 * 1e9
    func row(_ label: String, _ value: Double, _ note: String = "") {
        print(label.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: "%10.1f", value) + (note.isEmpty ? "" : "  " + note))
    }
    print("call".padding(toLength: 52, withPad: " ", startingAt: 0) + "   ns/call")
    row("empty Lua loop iteration (baseline)", empty)
    row("Lua → C function (rawequal)", c)
    row("Lua → trampoline → Swift, no args", swift, String(format: "(%.2fx the C call)", swift / c))
    row("Lua → trampoline → Swift, 2 args + 1 result", swiftArgs, String(format: "(%.2fx the C call)", swiftArgs / c))
    row("async primitive: suspend + resume (one coroutine)", yield, String(format: "(%.0fx the C call; target < 5000)", yield / c))
    row("async suspend + resume, 1,000 coroutines at once", concurrent)
}

func benchEngine(hosts: Int, steps: Int) async throws {
    let dir = NSTemporaryDirectory() + "ferry-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var lua = "runbook { name = \"bench\" }\n"
    for i in 0..<steps {
        lua += "step \"noop-\(i)\" { on = \"computes\", run = function(host, ctx) end, undo = function(host, ctx) end }\n"
    }
    try lua.write(toFile: dir + "/bench.lua", atomically: true, encoding: .utf8)
    try """
        region: bench
        inventory: { groups: { computes: "cmp[1:\(hosts)]" } }
        ssh: { transport: local, parallel: 1000 }
        """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
    let runbook = try await RunbookLoader.load(path: dir + "/bench.lua")
    let region = try RegionLoader.load(path: dir + "/region.yaml")
    let journal = try RunJournal(path: dir + "/journal.db")
    let engine = Engine(runbook: runbook, region: region, transport: LocalTransport(), journal: journal)
    let clock = ContinuousClock()
    let start = clock.now
    let outcome = try await engine.run(RunOptions())
    let runTime = seconds(clock.now - start)
    let rollbackStart = clock.now
    let rolled = try await engine.rollback(outcome.runID, yes: true)
    let rollbackTime = seconds(clock.now - rollbackStart)
    precondition(outcome.status == .succeeded && rolled.status == .rolledBack)
    let total = hosts * steps
    let rss = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("VmHWM") }.map(String.init) ?? "?"
    print("host-steps: \(total) (\(hosts) hosts × \(steps) steps), journal on, parallel 1000")
    print(String(format: "run:      %.2f s  → %.0f host-steps/s (target ≥ 5000)", runTime, Double(total) / runTime))
    print(String(format: "rollback: %.2f s  → %.0f host-steps/s", rollbackTime, Double(total) / rollbackTime))
    print("peak memory: \(rss.replacingOccurrences(of: "VmHWM:", with: "").trimmingCharacters(in: .whitespaces))")
}

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : "" {
case "bridge":
    try await benchBridge(args.count > 2 ? Int(args[2])! : 2_000_000)
case "engine":
    try await benchEngine(hosts: args.count > 2 ? Int(args[2])! : 2000, steps: args.count > 3 ? Int(args[3])! : 5)
default:
    print("usage: ferry-bench bridge [N] | engine [HOSTS] [STEPS]")
    exit(2)
}
