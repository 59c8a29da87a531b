import FerryCore
import FerrySimulation
import FerryPlugins
import Foundation

/// A small simulation context: fixed durations, no randomness.
struct TestSimContext: SimContext {
    var computes = 10
    var releases: [String] { Releases.names }
    var retiredComputes: Int? = nil
    var now: Double { 1_800_000_000 }
    func duration(_ key: String, _ fallback: Double) -> Double { fallback }
    func random(_ key: String) -> Double { 0.5 }
}

/// A simulated region: a few hosts per group, every component seeded at `release`.
struct SimSandbox {
    var state = SimState()
    let context = TestSimContext()
    let components = PluginRegistry.simComponents

    init(release: String, newRelease: String? = nil) {
        let groups: [String: [String]] = [
            "glance_old": ["ctl1", "ctl2"], "glance_new": ["glq1"], "cinder_old": ["ctl1", "ctl2"], "cinder_new": ["cnq1"],
            "nova_old": ["ctl1", "ctl2"], "nova_new": ["nvq1"], "neutron_old": ["ctl1", "ctl2"], "neutron_new": ["neq1"],
            "keystone_old": ["ctl1"], "keystone_new": ["ksq1"], "rabbit_old": ["rmq1"], "rabbit_new": ["rmq2"],
            "computes": ["cmp001", "cmp002", "cmp003"], "network_nodes": ["net1"], "runner": ["runner1"],
        ]
        for (group, hosts) in groups {
            for h in hosts {
                if state.hosts[h] == nil { state.hosts[h] = SimHost(groups: []) }
                state.hosts[h]!.groups.append(group)
            }
        }
        for c in components { c.seed(&state, release: release, newRelease: newRelease, context: context) }
    }

    /// Runs a command line on a host with the tools of `tool` (a virtualenv of that release).
    mutating func run(_ line: String, tool: String?, on host: String = "runner1") -> SimOutcome {
        let argv = line.split(separator: " ").map(String.init)
        let command = SimCommand(host: host, text: line, argv: argv, toolRelease: tool)
        for c in components where c.programs.contains(command.program) {
            if let rejected = c.reject(command, state: state) { return rejected }
            if let outcome = c.run(command, state: &state, context: context) { return outcome }
        }
        return SimOutcome(exitCode: 0, stdout: "(recorded)", duration: 0)
    }
}

/// A runbook written to a fresh directory.
func writeRunbook(_ text: String) throws -> String {
    let dir = NSTemporaryDirectory() + "ferry-plugin-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/runbook.lua"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

func loadRunbook(_ text: String) async throws -> Runbook {
    try await RunbookLoader.load(path: try writeRunbook(text), extensions: PluginRegistry.extensions)
}
