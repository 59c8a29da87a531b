import FerryCore
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
}
