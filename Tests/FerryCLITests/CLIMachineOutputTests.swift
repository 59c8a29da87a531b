import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// Ferry driven from CI or chat: `--json` as an NDJSON event stream (run, resume, rollback,
/// drill), `--approve STEP`, the `notify:` hook and `--notify`, `validate --json`.
@Suite struct CLIMachineOutputTests {
    static let runbook = """
        runbook { name = "machine" }
        step "one" { run = function(ctx) end, undo = function(ctx) end }
        step "canary" { confirm = "canary looks fine?", run = function(ctx) end, undo = function(ctx) end }
        step "wide" { confirm = "all of them?", run = function(ctx) end, undo = function(ctx) end }
        step "agents" {
          on = "computes", run = function(host, ctx) if host.name == "cmp002" and not ctx.vars.fixed then fail("agent broken") end end,
          undo = function(host, ctx) end,
        }
        """

    /// Each stdout line is one JSON object with an ISO-8601 UTC time; nothing else is on stdout.
    func events(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let time = try #require(o["time"] as? String)
            #expect(time.hasSuffix("Z") && ISO8601DateFormatter.withFractions.date(from: time) != nil, "\(time)")
            return o
        }
    }

    @Test func aRunWithAnApprovalAFailureAndAResumeStreamsEveryEventAndCallsTheHook() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let hookLog = dir + "/hook.ndjson"
        try (try String(contentsOfFile: dir + "/region.yaml", encoding: .utf8)
             + "\nnotify: { command: \"cat >> \(hookLog); echo $FERRY_EVENT >> \(dir)/kinds\", events: [waiting, failed] }\n")
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)

        // --approve canary: the canary passes; "wide" waits (no terminal) and the hook hears of it.
        let first = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--json", "--approve", "canary"], in: dir)
        #expect(first.code == 3, "\(first.stderr)\(first.stdout)")
        let a = try events(first.stdout)
        #expect(a.map { $0["event"] as? String } == ["run_started", "step_started", "step_finished", "waiting_for_approval", "approval",
                                                      "step_started", "step_finished", "waiting_for_approval", "finished"])
        let approval = try #require(a.first { $0["event"] as? String == "approval" })
        #expect(approval["step"] as? String == "canary" && approval["by"] as? String == "--approve canary" && approval["approved"] as? Bool == true)
        #expect(a.last?["status"] as? String == "waiting" && a.last?["step"] as? String == "wide")
        let runID = try #require(a.first?["run"] as? String)
        #expect(a.allSatisfy { $0["run"] as? String == runID })
        #expect(first.stderr.contains("stopped at step wide"), "the human summary goes to stderr")

        // resume --yes: "wide" approved by --yes, then cmp002 fails.
        let second = try await FerryProcess.run(["resume", "last", "--journal", "j.db", "--json", "--yes"], in: dir)
        #expect(second.code == 1)
        let b = try events(second.stdout)
        #expect(b.first?["event"] as? String == "run_started" && b.first?["resumed"] as? Bool == true)
        #expect(b.contains { $0["event"] as? String == "approval" && $0["by"] as? String == "--yes" })
        let failedHost = try #require(b.first { $0["event"] as? String == "host_failed" })
        #expect(failedHost["host"] as? String == "cmp002" && (failedHost["message"] as? String)?.contains("agent broken") == true)
        #expect(!b.contains { $0["event"] as? String == "host_finished" }, "successful hosts are counted, not listed")
        let stepEnd = try #require(b.last { $0["event"] as? String == "step_finished" })
        #expect(stepEnd["ok"] as? Int == 2 && stepEnd["failed"] as? Int == 1 && stepEnd["status"] as? String == "failed")
        #expect(b.last?["event"] as? String == "finished" && b.last?["status"] as? String == "failed")

        // The hook: the waiting of "wide" (not the canary's, which --approve answered), the failed step, the failed run.
        let kinds = try String(contentsOfFile: dir + "/kinds", encoding: .utf8).split(separator: "\n")
        #expect(kinds == ["waiting", "failed", "failed"], "\(kinds)")
        let hooked = try events(String(contentsOfFile: hookLog, encoding: .utf8))
        #expect(hooked.first?["step"] as? String == "wide" && hooked.first?["notify"] as? String == "waiting")
        #expect(hooked.last?["event"] as? String == "finished" && hooked.last?["run"] as? String == runID)

        // rollback --json: the undo's events, then finished rolled_back.
        let back = try await FerryProcess.run(["rollback", "last", "--journal", "j.db", "--json", "--yes"], in: dir)
        #expect(back.code == 0, "\(back.stderr)")
        let c = try events(back.stdout)
        #expect(c.first?["event"] as? String == "approval" && c.first?["step"] as? String == "rollback" && c.first?["by"] as? String == "--yes")
        #expect(c.dropFirst().first?["event"] as? String == "rollback_started")
        #expect(c.contains { $0["event"] as? String == "step_finished" && $0["phase"] as? String == "undo" })
        #expect(c.last?["event"] as? String == "finished" && c.last?["status"] as? String == "rolled_back")

        // The journal says who approved what.
        let status = try await FerryProcess.run(["report", runID, "--journal", "j.db", "--json"], in: dir)
        #expect(status.stdout.contains("approved by --approve canary") && status.stdout.contains("approved by --yes"), "\(status.stdout.prefix(2000))")
    }

    @Test func badApproveNamesAndNotifyEventsAreRefusedWithASuggestion() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let r = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--approve", "canry"], in: dir)
        #expect(r.code == 2 && r.stderr.contains("--approve canry: the runbook has no step of that name (did you mean 'canary'?)"), "\(r.stderr)")
        try (try String(contentsOfFile: dir + "/region.yaml", encoding: .utf8) + "\nnotify: { command: \"true\", events: [waitng] }\n")
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let n = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(n.code == 1 && n.stderr.contains("unknown notify event 'waitng' (did you mean 'waiting'?)"), "\(n.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/j.db") || n.stderr.contains("region.yaml"))
    }

    @Test func validateAndDrillSpeakJSON() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let ok = try await FerryProcess.run(["validate", "runbook.lua", "--json"], in: dir)
        #expect(ok.code == 0)
        let v = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        #expect(v["valid"] as? Bool == true && v["steps"] as? [String] == ["one", "canary", "wide", "agents"])
        try "runbook { name = 'x' }\nstep 'a' { retries = 'three', run = function(ctx) end }\n".write(toFile: dir + "/bad.lua", atomically: true, encoding: .utf8)
        let bad = try await FerryProcess.run(["validate", "bad.lua", "--json"], in: dir)
        #expect(bad.code == 1)
        let e = try #require(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])
        #expect(e["valid"] as? Bool == false && (e["errors"] as? [String])?.first?.contains("bad.lua:2:") == true, "\(bad.stdout)")

        let drill = try await FerryProcess.run(["drill", Repository.root + "/scripts/init", "-r", Repository.root + "/scripts/init/region.yaml", "--computes", "20", "--times", "2",
                                                "--journal", "d.db", "--json"], in: dir)
        let d = try events(drill.stdout)
        let drillID = try #require(d.last?["drill"] as? String)
        #expect(d.last?["event"] as? String == "drill_finished")
        #expect(d.filter { $0["event"] as? String == "repetition" }.map { $0["repetition"] as? Int } == [1, 2])
        #expect(d.filter { $0["event"] as? String == "run_started" }.count == 2 && d.filter { $0["event"] as? String == "rollback_started" }.count == 2)
        #expect(d.allSatisfy { $0["drill"] as? String == drillID })
        #expect(drill.code == (d.last?["succeeded"] as? Bool == true ? 0 : 1))
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
