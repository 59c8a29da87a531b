import FerryCore
import FerrySimulation
import Foundation
import LuaBridge
import Testing

/// A plugin adds a primitive: its natives, built with the run's box, reach the run's
/// services (here the transport's typed file operations) as Ferry's own primitives do.
@Suite struct RunNativesTests {
    static let extensions: RunbookLoader.Extensions = {
        var e = RunbookLoader.Extensions()
        e.runNatives = [{ box in
            [LuaFunction("plugin_read") { call in
                let env = try box.require("plugin_read")
                let host = try env.selector.hosts(try call.string(1))[0]
                let path = try call.string(2)
                return .yield {
                    let content = try await env.transport.file(.read(path: path), on: host).content
                    return [content.map { .string($0) } ?? .nil]
                }
            }]
        }]
        return e
    }()

    @Test func aPluginNativeUsesTheRunsTransport() async throws {
        let dir = NSTemporaryDirectory() + "ferry-natives-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            runbook { name = "plugin-native" }
            step "edit" { on = "cmp0001", run = function(host, ctx)
              host:ini("/etc/demo.conf"):set("DEFAULT", "answer", "42")
              ctx.state.read = plugin_read(host.name, "/etc/demo.conf")
              ctx.state.absent = plugin_read(host.name, "/etc/nothing-here") == nil
            end }
            """.write(toFile: dir + "/main.lua", atomically: true, encoding: .utf8)
        try "region: natives\nsimulate: { seed: 1 }\n".write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let sim = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), computes: 2, stateDirectory: nil)
        let engine = Engine(runbook: try await RunbookLoader.load(path: dir + "/main.lua", extensions: Self.extensions),
                            region: sim.region, transport: sim.transport, journal: try RunJournal(path: dir + "/j.db"),
                            databases: sim.databaseDriver, clock: sim.clock, drivers: sim.drivers)
        var options = RunOptions()
        options.virtualTime = true
        let outcome = try await engine.run(options)
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await engine.journal.run(outcome.runID).state
        #expect(state["read"].stringValue?.contains("answer = 42") == true, "\(state)")
        #expect(state["absent"] == .bool(true))
    }

    @Test func outsideARunThePluginNativeSaysSo() async throws {
        let dir = NSTemporaryDirectory() + "ferry-natives-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            runbook { name = "too-early" }
            plugin_read("cmp0001", "/etc/x")
            """.write(toFile: dir + "/main.lua", atomically: true, encoding: .utf8)
        await #expect {
            _ = try await RunbookLoader.load(path: dir + "/main.lua", extensions: Self.extensions)
        } throws: { error in
            "\(error)".contains("plugin_read needs a region") && "\(error)".contains("main.lua:2")
        }
    }
}
