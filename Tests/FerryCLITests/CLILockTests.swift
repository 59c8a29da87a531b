import FerryCore
import FerryTestSupport
import Foundation
import LuaBridge
import Testing

/// A shell snippet that waits until the test creates `out/release`: what a command does
/// while it holds its lock, however slow the machine (bounded only by the hang guard, so a
/// failed test leaves no host command waiting for ever).
private func waitForRelease(_ out: String) -> String {
    Wait.shellUntilExists("\(out)/release")
}

/// Lines of a file written by the hosts, counted.
private func counts(_ path: String) -> [String: Int] {
    let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    return Dictionary(lines.map { ($0, 1) }, uniquingKeysWith: +)
}

/// Two ferry commands started together. Whichever holds the lock waits in its hosts for
/// `out/release`; the file is created once the first of the two has ended, so the other
/// is certainly still holding its lock (or, without locks, both wait and both run).
private func together(_ first: [String], _ second: [String], in dir: String) async throws -> [(pid: Int32, output: ChildProcess.Output)] {
    let oneEnded = Latch()
    let releaser = Task {
        await oneEnded.wait()
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
    }
    let results = try await withThrowingTaskGroup(of: (Int, Int32, ChildProcess.Output).self) { group in
        for (index, args) in [first, second].enumerated() {
            group.addTask {
                let r = try await FerryProcess.run(args, in: dir) { $0.pid }
                oneEnded.open()
                return (index, r.value, r.output)
            }
        }
        var out: [(Int, Int32, ChildProcess.Output)] = []
        for try await r in group { out.append(r) }
        return out.sorted { $0.0 < $1.0 }.map { (pid: $0.1, output: $0.2) }
    }
    await releaser.value
    return results
}

@Suite struct CLILockTests {
    @Test func twoRunsOnOneRegionOneRunsTheOtherIsRefusedNamingTheHolder() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "twice" }
            step "hosts" {
              on = "computes", parallel = 4,
              run = function(host, ctx)
                host:run("echo " .. host.name .. " >> " .. ctx.vars.out .. "/ran; \(waitForRelease("\" .. ctx.vars.out .. \""))")
              end,
            }
            """, hosts: 4)
        let journal = try RunJournal(path: dir + "/j.db")
        let args = ["run", "runbook.lua", "-r", "region.yaml", "--yes", "--journal", "j.db"]
        let results = try await together(args, args, in: dir)
        let codes = results.map { $0.output.code ?? -1 }.sorted()
        #expect(codes == [0, 4], "\(results.map { $0.output.stderr })")
        guard let refused = results.first(where: { $0.output.code == 4 }), let ran = results.first(where: { $0.output.code == 0 }) else { return }
        let runs = try await journal.runs()
        #expect(runs.count == 1, "the refused run must leave no run behind")
        let holder = try #require(runs.first)
        #expect(refused.output.stderr.contains("region cli is held by run \(holder.id) (pid \(ran.pid) on \(ProcessIdentity.hostname), since "),
                "\(refused.output.stderr)")
        let ranHosts = counts(dir + "/out/ran")
        #expect(ranHosts.count == 4 && ranHosts.values.allSatisfy { $0 == 1 }, "every host exactly once: \(ranHosts)")
        #expect(try await journal.leases.leases().isEmpty, "the lock is given back when the run ends")
    }

    /// The run failed at its second step; `resume` and `rollback` start at once. One holds
    /// the lock (waiting in its hosts), the other is refused; no host runs or is undone twice.
    @Test func resumeAndRollbackAtOnceOneIsRefusedAndTheRunStaysConsistent() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "both" }
            step "first" {
              on = "computes", parallel = 4,
              run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/first") end,
              undo = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/first-undone") end,
            }
            step "second" {
              on = "computes", parallel = 4,
              run = function(h, ctx)
                local out = ctx.vars.out
                h:run("test -e " .. out .. "/fixed || exit 1; echo " .. h.name .. " >> " .. out .. "/second; \(waitForRelease("\" .. out .. \""))")
              end,
              undo = function(h, ctx)
                local out = ctx.vars.out
                h:run("echo " .. h.name .. " >> " .. out .. "/second-undone; \(waitForRelease("\" .. out .. \""))")
              end,
            }
            """, hosts: 4)
        let journal = try RunJournal(path: dir + "/j.db")
        let failed = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(failed.code == 1, "\(failed.stderr)")
        FileManager.default.createFile(atPath: dir + "/out/fixed", contents: nil)
        let results = try await together(["resume", "last", "--yes", "--journal", "j.db"], ["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        let (resume, rollback) = (results[0].output, results[1].output)
        #expect([resume.code, rollback.code].compactMap { $0 }.sorted() == [0, 4], "resume: \(resume.stderr)\nrollback: \(rollback.stderr)")
        let run = try #require(try await journal.runs().first)
        for file in ["first", "second", "first-undone", "second-undone"] {
            #expect(counts(dir + "/out/" + file).values.allSatisfy { $0 == 1 }, "\(file): \(counts(dir + "/out/" + file))")
        }
        if resume.code == 0 {
            #expect(rollback.stderr.contains("is held by run \(run.id) (pid \(results[0].pid) on "), "\(rollback.stderr)")
            #expect(run.status == .succeeded)
            #expect(counts(dir + "/out/second").count == 4)
            #expect(counts(dir + "/out/first-undone").isEmpty && counts(dir + "/out/second-undone").isEmpty)
        } else {
            #expect(resume.stderr.contains("is held by run \(run.id) (pid \(results[1].pid) on "), "\(resume.stderr)")
            #expect(run.status == .rolledBack)
            #expect(counts(dir + "/out/second").isEmpty)
            #expect(counts(dir + "/out/first-undone").count == 4 && counts(dir + "/out/second-undone").count == 4)
        }
        #expect(try await journal.leases.leases().isEmpty)
    }

    @Test func twoResumesAtOnceRunEachHostOnce() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "resumes" }
            step "hosts" {
              on = "computes", parallel = 6,
              run = function(h, ctx)
                local out = ctx.vars.out
                h:run("test -e " .. out .. "/fixed || exit 1; echo " .. h.name .. " >> " .. out .. "/ran; \(waitForRelease("\" .. out .. \""))")
              end,
            }
            """, hosts: 6)
        let journal = try RunJournal(path: dir + "/j.db")
        let failed = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(failed.code == 1, "\(failed.stderr)")
        FileManager.default.createFile(atPath: dir + "/out/fixed", contents: nil)
        let args = ["resume", "last", "--yes", "--journal", "j.db"]
        let results = try await together(args, args, in: dir)
        #expect(results.map { $0.output.code ?? -1 }.sorted() == [0, 4], "\(results.map { $0.output.stderr })")
        let ran = counts(dir + "/out/ran")
        #expect(ran.count == 6 && ran.values.allSatisfy { $0 == 1 }, "\(ran)")
        #expect(try await journal.runs().first?.status == .succeeded)
    }

    /// A run killed with SIGKILL leaves its lock; its pid is gone, so the next command
    /// (on the same host) takes the lock over, and says so.
    @Test func lockOfAKilledRunIsTakenOverByTheNextCommand() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "killed" }
            step "hosts" {
              on = "computes", parallel = 2,
              run = function(h, ctx)
                local out = ctx.vars.out
                h:run("echo " .. h.name .. " >> " .. out .. "/ran; \(waitForRelease("\" .. out .. \""))")
              end,
            }
            """, hosts: 2)
        let journal = try RunJournal(path: dir + "/j.db")
        // The journal is the latch: the lock held and a host started, which the run keeps until
        // released. Should the run end first, it is not killed (and the expectations say how it ended).
        let (pid, killed) = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir) { child in
            let started = try await Wait.until("a host of the run started", unless: .child(child, "ferry run")) {
                guard let run = try? await journal.runs().first else { return false }
                return ((try? await journal.hosts(run.id, step: 0, phase: .run).count) ?? 0) >= 1
            }
            if started { try child.signal(SIGKILL) }
            return child.pid
        }
        #expect(killed.signal == SIGKILL, "\(killed.stderr)")
        let run = try #require(try await journal.runs().first)
        let left = try await journal.leases.leases()
        #expect(Set(left.map(\.scope)) == [.region("cli"), .run(run.id)])
        #expect(left.allSatisfy { $0.holder.pid == pid && $0.holder.liveness == .gone })

        let status = try await FerryProcess.run(["status", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("locked: region cli, run \(run.id) by ferry run for run \(run.id) (pid \(pid) on \(ProcessIdentity.hostname)"),
                "\(status.stdout)")
        #expect(status.stdout.contains("that process is gone: the next command takes the lock over"), "\(status.stdout)")

        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("took over the lock on region cli from run \(run.id) (pid \(pid) on "), "\(resumed.stderr)")
        #expect(try await journal.leases.leases().isEmpty)
        #expect(try await journal.events(run.id).contains { $0.kind == "lock" && $0.message.contains("took over the lock on run \(run.id)") })
    }

    /// The lock goes when the command ends however it ends: a failed step, SIGINT, SIGTERM.
    @Test func lockIsGivenBackOnFailureInterruptAndTerminate() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "ends" }
            step "hosts" {
              on = "computes", parallel = 2,
              run = function(h, ctx)
                local out = ctx.vars.out
                h:run("test -e " .. out .. "/fixed || exit 3; echo " .. h.name .. " >> " .. out .. "/ran; \(waitForRelease("\" .. out .. \""))")
              end,
            }
            """, hosts: 2)
        let journal = try RunJournal(path: dir + "/j.db")
        let failed = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(failed.code == 1, "\(failed.stderr)")
        #expect(try await journal.leases.leases().isEmpty, "after a failed run")
        FileManager.default.createFile(atPath: dir + "/out/fixed", contents: nil)
        for sig in [SIGINT, SIGTERM] {
            // The latch: a host of this resume has begun its command (which waits for a
            // release that never comes here), so the run is inside its step.
            let before = counts(dir + "/out/ran").values.reduce(0, +)
            let (_, stopped) = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir) { child in
                guard try await Wait.until("a host of the resume began", unless: .child(child, "ferry resume"), {
                    counts(dir + "/out/ran").values.reduce(0, +) > before
                }) else { return }
                #expect(try await journal.leases.leases().count == 2, "the resume holds the run and the region")
                try child.signal(sig)
            }
            #expect(stopped.code == 3, "signal \(sig): \(stopped.stderr)")
            #expect(try await journal.leases.leases().isEmpty, "after signal \(sig)")
        }
    }

    /// A lock row whose holder is on another host is never taken without --break-lock,
    /// whatever its pid: this machine cannot see that process.
    @Test func lockHeldFromAnotherHostIsNotStolenWithoutBreakLock() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "elsewhere" }
            step "hosts" { on = "computes", run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/ran") end }
            """, hosts: 2)
        let journal = try RunJournal(path: dir + "/j.db")
        let other = LeaseHolder(runID: "20260101-000000-beef", command: "run", pid: 4242, hostname: "deploy-elsewhere-1",
                                processStart: nil, since: Date())
        _ = try await journal.leases.acquire([.region("cli"), .run(other.runID)], for: other, breakLock: false)

        let refused = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(refused.code == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("region cli is held by run 20260101-000000-beef (pid 4242 on deploy-elsewhere-1, since "), "\(refused.stderr)")
        #expect(refused.stderr.contains("--break-lock"))
        #expect(counts(dir + "/out/ran").isEmpty)
        #expect(try await journal.runs().isEmpty)

        let status = try await FerryProcess.run(["status", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("locked: region cli, run 20260101-000000-beef by ferry run for run 20260101-000000-beef (pid 4242 on deploy-elsewhere-1"),
                "\(status.stdout)")
        #expect(status.stdout.contains("on another host: only --break-lock takes it from here"))

        let broken = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--break-lock", "--journal", "j.db"], in: dir)
        #expect(broken.code == 0, "\(broken.stderr)")
        #expect(broken.stderr.contains("broke the lock on region cli held by run 20260101-000000-beef (pid 4242 on deploy-elsewhere-1"), "\(broken.stderr)")
        #expect(counts(dir + "/out/ran").count == 2)
        // The other run's lease on itself was not in the way, and is left alone.
        #expect(try await journal.leases.leases().map(\.scope) == [.run(other.runID)])
    }
}
