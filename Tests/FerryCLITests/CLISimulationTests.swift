import FerryCore
import FerryPlugins
import Foundation
import Testing

/// The simulated region through the command line: separate processes for run and
/// rollback see one region (kept beside the journal), and a drill with its report.
@Suite struct CLISimulationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The saved model without its clock.
    static func model(_ dir: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/.ferry/sim/sim-60.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let state = try JSONSerialization.data(withJSONObject: object?["state"] ?? [:], options: [.sortedKeys])
        return String(decoding: state, as: UTF8.self)
    }

    @Test func runAndRollbackInSeparateProcessesPutTheRegionBack() throws {
        let dir = NSTemporaryDirectory() + "ferry-cli-sim-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/scripts", toPath: dir + "/scripts")
        try "runbook { name = \"noop\" }\nstep \"look\" { run = function(ctx) ctx.state.n = #inventory.hosts(\"computes\") end }\n"
            .write(toFile: dir + "/noop.lua", atomically: true, encoding: .utf8)
        let first = try FerryProcess.run(["run", "noop.lua", "-r", "sim", "--computes", "60"], in: dir)
        #expect(first.code == 0, "\(first.stderr)")
        let pristine = try Self.model(dir)

        let run = try FerryProcess.run(["run", "scripts/runbooks/sim-agents", "-r", "sim", "--computes", "60"], in: dir)
        #expect(run.code == 0, "\(run.stdout)\(run.stderr)")
        #expect(try Self.model(dir) != pristine)
        let status = try FerryProcess.run(["status", "last"], in: dir)
        #expect(status.stdout.contains("switch-agents"), "\(status.stdout)")
        let back = try FerryProcess.run(["rollback", "last", "--yes"], in: dir)
        #expect(back.code == 0, "\(back.stdout)\(back.stderr)")
        #expect(try Self.model(dir) == pristine)

        let drill = try FerryProcess.run(["drill", "scripts/runbooks/sim-agents", "-r", "sim", "--computes", "60", "--times", "2",
                                          "--html", "drill.html"], in: dir)
        #expect(drill.code == 0, "\(drill.stdout)\(drill.stderr)")
        #expect(drill.stdout.contains("region back where it began"))
        let html = try String(contentsOfFile: dir + "/drill.html", encoding: .utf8)
        for step in ["backup-databases", "ship-venv", "switch-compute", "switch-agents"] { #expect(html.contains(step)) }

        let bad = try FerryProcess.run(["run", "noop.lua", "-r", "local", "--computes", "5"], in: dir)
        #expect(bad.code == 2)
        #expect(bad.stderr.contains("--computes applies to a simulated region"), "\(bad.stderr)")
    }

    /// kill -9 in the middle of a per-host step: every host the journal calls done has its
    /// change in the model the next process reads, and resuming finishes the rest.
    @Test func aKilledSimulatedRunResumesOnAModelThatAgreesWithTheJournal() async throws {
        let dir = NSTemporaryDirectory() + "ferry-cli-sim-kill-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Commands also take 1% of their simulated time for real, so the kill lands mid-step.
        try "region: simkill\nsimulate: { computes: 300, time_scale: 0.01, seed: 9 }\n"
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        try """
            runbook { name = "switch" }
            step "switch" { on = "computes", parallel = 10,
              run = function(host, ctx) host:run("ln -sfn /opt/venvs/queens /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent") end,
              undo = function(host, ctx) host:run("ln -sfn /opt/venvs/kilo /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent") end }
            """.write(toFile: dir + "/switch.lua", atomically: true, encoding: .utf8)
        let (process, _, _) = try FerryProcess.start(["run", "switch.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        let journal = try RunJournal(path: dir + "/j.db")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            guard let run = try? await journal.runs().first else { continue }
            if ((try? await journal.hosts(run.id, step: 0, phase: .run).filter { $0.status == .ok }.count) ?? 0) >= 40 { break }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let run = try #require(try await journal.runs().first)
        let done = try await journal.hosts(run.id, step: 0, phase: .run).filter { $0.status == .ok }.map(\.host)
        #expect(done.count >= 40 && done.count < 300, "\(done.count) done at the kill")
        let model = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), components: PluginRegistry.simComponents, stateDirectory: dir + "/sim")
        for host in done {
            #expect(model.state.hosts[host]?.services["neutron-openvswitch-agent"]?.release == "queens", "\(host) is done in the journal, not in the model")
        }
        let resumed = try FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let after = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), components: PluginRegistry.simComponents, stateDirectory: dir + "/sim")
        #expect(after.state.hosts.values.filter { $0.services["neutron-openvswitch-agent"]?.release == "queens" }.count == 300)
    }
}
