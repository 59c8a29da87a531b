import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// Runs the built `ferry` binary as a child process.
struct FerryProcess {
    static var binary: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ferry").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return Repository.root + "/.build/debug/ferry"
    }

    /// Runs `ferry` to the end (``ChildProcess``: both streams drained together).
    static func run(_ args: [String], in directory: String) async throws -> (code: Int32, stdout: String, stderr: String) {
        let out = try await ChildProcess.run(binary, args, in: directory)
        return (out.code ?? -(out.signal ?? 0), out.stdout, out.stderr)
    }

    /// Starts `ferry`, runs `body` while it runs (to signal it, say), and waits for it to end.
    static func run<R: Sendable>(_ args: [String], in directory: String,
                                 while body: @escaping @Sendable (ChildProcess.Running) async throws -> R) async throws -> (value: R, output: ChildProcess.Output)
    {
        try await ChildProcess.run(binary, args, in: directory, while: body)
    }
}

func workspace(runbook: String, hosts: Int = 10) throws -> String {
    let dir = NSTemporaryDirectory() + "ferry-cli-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
    try runbook.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
    try """
        region: cli
        inventory:
          groups:
            computes: "cmp[001:\(String(format: "%03d", hosts))]"
            controllers: [ctl1]
        ssh: { transport: local }
        vars: { out: \(dir)/out }
        """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
    return dir
}

@Suite struct CLITests {
    @Test func brokenRunbookGivesFileLineAndExitOne() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "broken" }
            step "a" {
              run = function(ctx) end,
              retries = "three",
            }
            """)
        let r = try await FerryProcess.run(["validate", "runbook.lua"], in: dir)
        #expect(r.code == 1)
        #expect(r.stderr.contains("runbook.lua:2: step \"a\": retries must be a whole number"), "\(r.stderr)")

        try "runbook { name = 'x' }\nstep 'a' {\n  run = function(ctx) end end,\n}\n".write(
            toFile: dir + "/syntax.lua", atomically: true, encoding: .utf8)
        let s = try await FerryProcess.run(["validate", "syntax.lua"], in: dir)
        #expect(s.code == 1)
        #expect(s.stderr.contains("syntax.lua:3:"), "\(s.stderr)")
        try "runbook { name = 'x' }\nstep 'a' {\n  on = computes,\n  run = function(h, ctx) end,\n}\n".write(
            toFile: dir + "/typo.lua", atomically: true, encoding: .utf8)
        let t = try await FerryProcess.run(["validate", "typo.lua"], in: dir)
        #expect(t.code == 1)
        #expect(t.stderr.contains("typo.lua:3: undefined global 'computes'"), "\(t.stderr)")
    }

    @Test func usageErrorsExitTwoAndPlanPrintsJSON() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "p", from = "kilo", to = "queens" }
            step "a" { on = "computes", batch = "30%", run = function(h, ctx) end, undo = function(h, ctx) end }
            step "b" { run = function(ctx) end }
            """)
        let bad = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--from", "nope", "--journal", "j.db"], in: dir)
        #expect(bad.code == 2)
        #expect(bad.stderr.contains("no step named 'nope'"))
        let plan = try await FerryProcess.run(["plan", "runbook.lua", "-r", "region.yaml", "--json"], in: dir)
        #expect(plan.code == 0)
        let value = try LuaValue.fromJSON(plan.stdout)
        #expect(value["steps"][0]["waves"] == [3, 3, 3, 1])
        #expect(value["steps"][1]["reversible"] == false)
        let text = try await FerryProcess.run(["plan", "runbook.lua", "-r", "region.yaml"], in: dir)
        #expect(text.stdout.contains("irreversible: b"))
        let missing = try await FerryProcess.run(["status", "last", "--journal", "empty.db"], in: dir)
        #expect(missing.code == 2)
    }

    @Test func failedRunSaysHowToResumeAndRollBack() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "f" }
            step "ok" { run = function(ctx) end, undo = function(ctx) end }
            step "bad" { on = "computes", run = function(h, ctx) h:run("exit 7") end }
            step "later" { run = function(ctx) end }
            """)
        let r = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(r.code == 1)
        #expect(r.stderr.contains("FAILED at step bad"))
        #expect(r.stderr.contains("`exit 7` exited 7"))
        #expect(r.stderr.contains("steps remaining: bad, later"))
        #expect(r.stderr.contains("to resume:    ferry resume "))
        #expect(r.stderr.contains("to roll back: ferry rollback "))
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir)
        let value = try LuaValue.fromJSON(status.stdout)
        #expect(value["status"] == "failed")
        #expect(value["steps"][1]["failed_hosts"].arrayValue?.count == 10)
    }

    /// The run is killed with SIGKILL in the middle of a per-host step; `resume`
    /// must not run a completed host again, and `rollback` must still find ctx.state.
    @Test func killedRunResumesWithoutRepeatingCompletedHostsAndRollsBack() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "crash" }
            step "mark" {
              run = function(ctx) ctx.state.marker = "keep-me" end,
              undo = function(ctx) inventory.host("ctl1"):run("echo " .. ctx.state.marker .. " > " .. ctx.vars.out .. "/undo-marker") end,
            }
            step "hosts" {
              on = "computes", parallel = 3,
              -- Six hosts or so finish at once; the rest wait until the test releases them
              -- (or the hang guard), so the kill lands mid-step however loaded the machine.
              run = function(host, ctx)
                local out = ctx.vars.out
                host:run("n=$(cat " .. out .. "/ran 2>/dev/null | wc -l); echo " .. host.name .. " >> " .. out .. "/ran; " ..
                  "if [ -e " .. out .. "/release ]; then :; elif [ $n -ge 6 ]; then \(Wait.shellUntilExists("\" .. out .. \"/release")); fi")
                host.state.done = host.name
              end,
              undo = function(host, ctx) host:run("echo " .. host.state.done .. " >> " .. ctx.vars.out .. "/undone") end,
            }
            """, hosts: 60)
        // The journal (and its schema) exists before the child opens it: both creating it race.
        let journal = try RunJournal(path: dir + "/j.db")
        // The journal is the latch: six hosts done is a state the run holds until released.
        // Should the run end first, it is not killed (the expectation below says how it ended).
        let (_, killed) = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir) { child in
            let reached = try await Wait.until("six hosts done", unless: .child(child, "ferry run")) {
                guard let run = try? await journal.runs().first else { return false }
                return ((try? await journal.hosts(run.id, step: 1, phase: .run).filter { $0.status == .ok }.count) ?? 0) >= 6
            }
            if reached { try child.signal(SIGKILL) }
        }
        #expect(killed.signal == SIGKILL, "the run ended before it was killed: \(killed.stderr)")
        var okAtKill: [String] = []
        let run = try #require(try await journal.runs().first)
        okAtKill = try await journal.hosts(run.id, step: 1, phase: .run).filter { $0.status == .ok }.map(\.host)
        #expect(okAtKill.count >= 6 && okAtKill.count < 60)
        #expect(run.state["marker"] == "keep-me")

        let status = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("interrupted"))

        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let ran = try String(contentsOfFile: dir + "/out/ran", encoding: .utf8).split(separator: "\n").map(String.init)
        let counts = Dictionary(ran.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts.count == 60)
        for host in okAtKill { #expect(counts[host] == 1, "\(host) completed before the kill and ran again") }

        let rolled = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(rolled.code == 0, "\(rolled.stderr)")
        #expect(try String(contentsOfFile: dir + "/out/undo-marker", encoding: .utf8) == "keep-me\n")
        let undone = try String(contentsOfFile: dir + "/out/undone", encoding: .utf8).split(separator: "\n")
        #expect(Set(undone).count == 60)
    }

    /// A run stopped for approval before any step started: its rollback has nothing to
    /// undo, and still ends the run for good: a later resume must not do the upgrade.
    @Test func rollbackOfARunWithNothingStartedIsFinal() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "unstarted" }
            step "go" {
              confirm = "Upgrade the computes?",
              run = function(ctx) end,
            }
            step "hosts" { on = "computes", run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/ran") end }
            """, hosts: 3)
        let waiting = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(waiting.code == 3, "\(waiting.stderr)")
        let rolled = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(rolled.code == 0, "\(rolled.stderr)")
        #expect(rolled.stdout.contains("nothing to roll back"), "\(rolled.stdout)")
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir)
        #expect(try LuaValue.fromJSON(status.stdout)["status"] == "rolled_back", "\(status.stdout)")
        let resumed = try await FerryProcess.run(["resume", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 2, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stderr.contains("was rolled back"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("start a new run"), "\(resumed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/ran"), "the resume of a rolled-back run did the upgrade")
    }

    @Test func interruptStopsTheRunResumably() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "int" }
            step "hosts" {
              on = "computes", parallel = 2,
              -- The first hosts finish at once; the rest wait until the test releases them
              -- (or the hang guard), so the run is certainly under way when it is
              -- interrupted, however loaded the machine.
              run = function(host, ctx)
                local out = ctx.vars.out
                host:run("echo " .. host.name .. " >> " .. out .. "/ran; " ..
                  "if [ -e " .. out .. "/release ]; then :; elif [ -e " .. out .. "/first ]; then " ..
                  "\(Wait.shellUntilExists("\" .. out .. \"/release")); " ..
                  "else touch " .. out .. "/first; fi")
              end,
            }
            """, hosts: 20)
        // The journal (and its schema) exists before the child opens it: both creating it race.
        let journal = try RunJournal(path: dir + "/j.db")
        // Interrupt once the run is under way (a host done), however slow the machine is; not
        // at all should it end first (the expectations below say how it ended).
        let (_, interrupted) = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir) { child in
            let underWay = try await Wait.until("a host done", unless: .child(child, "ferry run")) {
                guard let run = try? await journal.runs().first else { return false }
                return ((try? await journal.hosts(run.id, step: 0, phase: .run).filter { $0.status == .ok }.count) ?? 0) >= 1
            }
            if underWay { try child.signal(SIGINT) }
        }
        let err = interrupted.stderr
        #expect(interrupted.code == 3, "\(err)")
        #expect(err.contains("interrupted"))
        #expect(err.contains("to continue: ferry resume "))
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir)
        #expect(try LuaValue.fromJSON(status.stdout)["status"] == "interrupted")
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let ran = try String(contentsOfFile: dir + "/out/ran", encoding: .utf8).split(separator: "\n")
        #expect(Set(ran).count == 20)
    }
}
