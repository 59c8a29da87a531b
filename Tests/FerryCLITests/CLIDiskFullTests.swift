import FerryCore
import FerryPlugins
import FerrySimulation
import FerryTestSupport
import Foundation
import LuaBridge
import Testing

/// A full disk during a run, for real (issue 11 item 10): a small tmpfs under the run's
/// output directory, or under its journal. Ferry stops cleanly (no trap), says which file
/// and why, journals it when the journal can still be written, and `ferry resume`
/// finishes once there is room, without running done hosts again.
@Suite(.enabled(if: Tmpfs.unavailable == nil, Comment(rawValue: Tmpfs.unavailable ?? "")))
struct CLIDiskFullTests {
    /// Lines of a file written by the hosts, counted.
    static func counts(_ path: String) -> [String: Int] {
        let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return Dictionary(lines.map { ($0, 1) }, uniquingKeysWith: +)
    }

    /// The outputs (`<journal dir>/runs`) are on a 256k tmpfs; cmp003 prints 400 kB. Its
    /// output cannot be kept: cmp003 fails with the file named, no further host starts
    /// (max_fail would allow 5), the journal (elsewhere) records it, and the run is failed,
    /// resumable. With room again, `resume` runs cmp003 and the rest, not cmp001 or cmp002.
    @Test func outputsFillingTheDiskStopTheRunAndResumeFinishesIt() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "outputs" }
            step "hosts" {
              on = "computes", parallel = 1, max_fail = 5,
              run = function(h, ctx)
                h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/ran; " ..
                  "if [ " .. h.name .. " = cmp003 ]; then head -c 400000 /dev/zero | tr '\\\\0' x; fi")
              end,
            }
            """, hosts: 6)
        let runs = dir + "/runs"
        try Tmpfs.mount(at: runs, size: "256k")
        defer { Tmpfs.unmount(runs) }
        let journal = try RunJournal(path: dir + "/j.db")

        let failed = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(failed.code == 1, "a clean, failed run (not a trap): \(failed.code) \(failed.stderr)")
        let run = try #require(try await journal.runs().first)
        let message = "disk full writing \(runs)/\(run.id)/000-hosts/cmp003.out: No space left on device"
        #expect(failed.stderr.contains(message), "\(failed.stderr)")
        #expect(failed.stderr.contains("to resume:    ferry resume \(run.id)"), "\(failed.stderr)")
        #expect(run.status == .failed)
        let hosts = try await journal.hosts(run.id, step: 0, phase: .run)
        #expect(hosts.map(\.host) == ["cmp001", "cmp002", "cmp003"], "no host starts after the disk is full")
        #expect(hosts.last?.status == .failed && hosts.last?.message?.contains(message) == true, "\(hosts.last?.message ?? "")")
        #expect(try await journal.steps(run.id).first?.message?.contains("stopped: \(message); free space there, then resume") == true)

        try Tmpfs.resize(runs, to: "8m")
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(Self.counts(dir + "/out/ran") == ["cmp001": 1, "cmp002": 1, "cmp003": 2, "cmp004": 1, "cmp005": 1, "cmp006": 1])
        #expect(try await journal.run(run.id).status == .succeeded)
        let output = try FileManager.default.attributesOfItem(atPath: "\(runs)/\(run.id)/000-hosts/cmp003.out")[.size] as? Int
        #expect((output ?? 0) > 400_000, "the output is kept in full once there is room")
    }

    /// The journal is on a 4 MB tmpfs, and cmp004's command fills it. The journal cannot
    /// record cmp004's result: the run stops there (exit 3, resumable), naming the journal;
    /// what was journaled before stays. With room again, `resume` takes the lock over and
    /// finishes; hosts journaled done before the disk filled do not run again.
    @Test func journalOnAFullDiskStopsTheRunResumably() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "journal" }
            step "hosts" {
              on = "computes", parallel = 1,
              run = function(h, ctx)
                local out = ctx.vars.out
                h:run("echo " .. h.name .. " >> " .. out .. "/ran; " ..
                  "if [ " .. h.name .. " = cmp004 ] && [ ! -e " .. out .. "/filled ]; then touch " .. out .. "/filled; " ..
                  "head -c 100000000 /dev/zero > " .. ctx.vars.state .. "/filler 2>/dev/null; fi; true")
              end,
            }
            """, hosts: 8)
        let state = dir + "/state"
        try Tmpfs.mount(at: state, size: "4m")
        defer { Tmpfs.unmount(state) }
        try String(contentsOfFile: dir + "/region.yaml", encoding: .utf8)
            .replacingOccurrences(of: "vars: { out: \(dir)/out }", with: "vars: { out: \(dir)/out, state: \(state) }")
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let journal = try RunJournal(path: state + "/j.db")

        let stopped = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "state/j.db"], in: dir)
        #expect(stopped.code == 3, "a clean, resumable stop (not a trap): \(stopped.code) \(stopped.stderr)")
        #expect(stopped.stderr.contains("disk full writing state/j.db: the journal cannot grow"), "\(stopped.stderr)")
        #expect(stopped.stderr.contains("could not give back the lock on region cli and run "), "\(stopped.stderr)")
        let run = try #require(try await journal.runs().first)
        #expect(stopped.stderr.contains("run \(run.id) stopped where its journal ends; free space there, then continue: ferry resume \(run.id) --journal state/j.db"),
                "\(stopped.stderr)")
        let done = try await journal.hosts(run.id, step: 0, phase: .run).filter { $0.status == .ok }.map(\.host)
        #expect(done == ["cmp001", "cmp002", "cmp003"], "what was journaled before the disk filled stays")
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "state/j.db"], in: dir)
        #expect(try LuaValue.fromJSON(status.stdout)["status"] == "interrupted", "\(status.stdout)")

        try FileManager.default.removeItem(atPath: state + "/filler")
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "state/j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("took over the lock"), "\(resumed.stderr)")
        let ran = Self.counts(dir + "/out/ran")
        #expect(ran.count == 8 && ran.values.allSatisfy { $0 >= 1 }, "\(ran)")
        for host in done { #expect(ran[host] == 1, "\(host) was journaled done and ran again") }
        #expect(try await journal.run(run.id).status == .succeeded)
        #expect(try await journal.leases.leases().isEmpty)
    }

    /// Fills the file system of `directory` with a file, then gives `room` bytes back.
    static func fill(_ directory: String, leaving room: Int) throws {
        let path = directory + "/filler"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        let chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var size = 0
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            size += n
        }
        ftruncate(fd, off_t(max(0, size - room)))
        close(fd)
    }

    /// The simulated region's model (`sim/` beside the journal) on a tmpfs with one page
    /// left: a host whose change cannot be logged fails (it is not journaled as done with a
    /// change the model could lose), the step stops, the run fails resumably, and the
    /// model that cannot be saved is said so. With room again, `resume` finishes: hosts
    /// journaled done are not run again, and the model agrees with the journal.
    @Test func aSimulatedModelOnAFullDiskStopsTheRunAndResumeFinishesIt() async throws {
        let dir = NSTemporaryDirectory() + "ferry-cli-sim-full-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            region: simfull
            simulate:
              computes: 20
              seed: 9
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        try """
            runbook { name = "switch" }
            step "switch" { on = "computes", parallel = 4,
              run = function(host, ctx)
                host:run("ln -sfn /opt/venvs/queens /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent")
              end,
              undo = function(host, ctx) host:run("ln -sfn /opt/venvs/kilo /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent") end }
            """.write(toFile: dir + "/switch.lua", atomically: true, encoding: .utf8)
        let sim = dir + "/sim"
        try Tmpfs.mount(at: sim, size: "256k")
        defer { Tmpfs.unmount(sim) }
        try Self.fill(sim, leaving: 4096)
        let journal = try RunJournal(path: dir + "/j.db")

        let failed = try await FerryProcess.run(["run", "switch.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(failed.code == 1, "a clean, failed run (not a trap): \(failed.code) \(failed.stderr)")
        #expect(failed.stderr.contains("disk full writing ") && failed.stderr.contains("/sim/simfull-20.json.log: No space left on device"),
                "\(failed.stderr)")
        #expect(failed.stderr.contains("to resume:    ferry resume "), "\(failed.stderr)")
        #expect(failed.stderr.contains("the simulated region's model was not saved"), "\(failed.stderr)")
        let run = try #require(try await journal.runs().first)
        #expect(run.status == .failed)
        let atStop = try await journal.hosts(run.id, step: 0, phase: .run)
        let done = atStop.filter { $0.status == .ok }.map(\.host)
        #expect(done.count < 20 && atStop.contains { $0.message?.contains("disk full writing") == true }, "\(atStop.map { "\($0.host) \($0.status)" })")

        try FileManager.default.removeItem(atPath: sim + "/filler")
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let after = try await journal.hosts(run.id, step: 0, phase: .run)
        #expect(after.count == 20 && after.allSatisfy { $0.status == .ok })
        for record in after where done.contains(record.host) {
            #expect(record.attempts == 1, "\(record.host) was journaled done before the disk filled and ran again")
        }
        let model = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), components: PluginRegistry.simComponents,
                                  stateDirectory: sim)
        #expect(model.state.hosts.values.filter { $0.services["neutron-openvswitch-agent"]?.release == "queens" }.count == 20,
                "every host switched in the saved model")
    }
}
