import FerryCore
import FerrySimulation
import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// The simulated region through the command line: separate processes for run and
/// rollback see one region (kept beside the journal), and a drill with its report.
@Suite struct CLISimulationTests {
    static let root = Repository.root

    /// The saved model without its clock, without the timestamped backups `host:ini` leaves
    /// on hosts (`nova.conf.ferry-<time>`: they stay, as on real hosts, and a drill ignores them too),
    /// and without what passes by itself (`transient`: the data-plane windows of the agents' restarts,
    /// which a drill does not compare either).
    static func model(_ dir: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/.ferry/sim/sim-60.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        var state = object?["state"] as? [String: Any] ?? [:]
        state["transient"] = nil
        if var hosts = state["hosts"] as? [String: Any] {
            for (name, value) in hosts {
                guard var host = value as? [String: Any], let files = host["files"] as? [String: Any] else { continue }
                host["files"] = files.filter { $0.key.range(of: #"\.ferry-\d{8}T\d{6}"#, options: .regularExpression) == nil }
                hosts[name] = host
            }
            state["hosts"] = hosts
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func runAndRollbackInSeparateProcessesPutTheRegionBack() async throws {
        let dir = NSTemporaryDirectory() + "ferry-cli-sim-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/scripts", toPath: dir + "/scripts")
        try "runbook { name = \"noop\" }\nstep \"look\" { run = function(ctx) ctx.state.n = #inventory.hosts(\"computes\") end }\n"
            .write(toFile: dir + "/noop.lua", atomically: true, encoding: .utf8)
        let first = try await FerryProcess.run(["run", "noop.lua", "-r", "sim", "--computes", "60"], in: dir)
        #expect(first.code == 0, "\(first.stderr)")
        let pristine = try Self.model(dir)

        let run = try await FerryProcess.run(["run", "scripts/runbooks/sim-agents", "-r", "sim", "--computes", "60"], in: dir)
        #expect(run.code == 0, "\(run.stdout)\(run.stderr)")
        #expect(try Self.model(dir) != pristine)
        let status = try await FerryProcess.run(["status", "last"], in: dir)
        #expect(status.stdout.contains("switch-agents"), "\(status.stdout)")
        let back = try await FerryProcess.run(["rollback", "last", "--yes"], in: dir)
        #expect(back.code == 0, "\(back.stdout)\(back.stderr)")
        #expect(try Self.model(dir) == pristine)

        let drill = try await FerryProcess.run(["drill", "scripts/runbooks/sim-agents", "-r", "sim", "--computes", "60", "--times", "2",
                                          "--html", "drill.html"], in: dir)
        #expect(drill.code == 0, "\(drill.stdout)\(drill.stderr)")
        #expect(drill.stdout.contains("region back where it began"))
        let html = try String(contentsOfFile: dir + "/drill.html", encoding: .utf8)
        for step in ["backup-databases", "ship-venv", "switch-compute", "switch-agents"] { #expect(html.contains(step)) }

        let bad = try await FerryProcess.run(["run", "noop.lua", "-r", "local", "--computes", "5"], in: dir)
        #expect(bad.code == 2)
        #expect(bad.stderr.contains("--computes applies to a simulated region"), "\(bad.stderr)")
    }

    /// kill -9 in the middle of a per-host step: every host the journal calls done has its
    /// change in the model the next process reads, and resuming finishes the rest.
    @Test func aKilledSimulatedRunResumesOnAModelThatAgreesWithTheJournal() async throws {
        let dir = NSTemporaryDirectory() + "ferry-cli-sim-kill-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // The first 40 hosts switch at once; the others' first command is held (in real
        // time) until the test creates the release file, so the kill lands mid-step however
        // fast or loaded the machine is, and the resumed run goes straight through.
        try """
            region: simkill
            simulate:
              computes: 300
              seed: 9
              faults: [{ kind: hold, command: "echo held", until: release }]
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        try """
            runbook { name = "switch" }
            local order
            step "switch" { on = "computes", parallel = 10,
              run = function(host, ctx)
                if not order then
                  order = {}
                  for i, h in ipairs(inventory.hosts("computes")) do order[h.name] = i end
                end
                if order[host.name] > 40 then host:run("echo held") end
                host:run("ln -sfn /opt/venvs/queens /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent")
              end,
              undo = function(host, ctx) host:run("ln -sfn /opt/venvs/kilo /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent") end }
            """.write(toFile: dir + "/switch.lua", atomically: true, encoding: .utf8)
        // The journal (and its schema) exists before the child opens it: both creating it race.
        let journal = try RunJournal(path: dir + "/j.db")
        // The journal is the latch: 40 hosts done is a state the run holds until released.
        // Should the run end first, it is not killed (the expectations below say how it ended).
        let (reached, killed) = try await FerryProcess.run(["run", "switch.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir) { child in
            let reached = try await Wait.until("40 hosts done", unless: .child(child, "ferry run")) {
                guard let run = try? await journal.runs().first else { return false }
                return ((try? await journal.hosts(run.id, step: 0, phase: .run).filter { $0.status == .ok }.count) ?? 0) >= 40
            }
            if reached { try child.signal(SIGKILL) }
            return reached
        }
        #expect(killed.signal == SIGKILL, "the run ended before it was killed: \(killed.stderr)")
        let run = try #require(try await journal.runs().first)
        let done = try await journal.hosts(run.id, step: 0, phase: .run).filter { $0.status == .ok }.map(\.host)
        #expect(reached && done.count == 40, "\(done.count) done at the kill")
        FileManager.default.createFile(atPath: dir + "/release", contents: nil)
        let model = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), components: PluginRegistry.simComponents, stateDirectory: dir + "/sim")
        for host in done {
            #expect(model.state.hosts[host]?.services["neutron-openvswitch-agent"]?.release == "queens", "\(host) is done in the journal, not in the model")
        }
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let after = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), components: PluginRegistry.simComponents, stateDirectory: dir + "/sim")
        #expect(after.state.hosts.values.filter { $0.services["neutron-openvswitch-agent"]?.release == "queens" }.count == 300)
    }
}
