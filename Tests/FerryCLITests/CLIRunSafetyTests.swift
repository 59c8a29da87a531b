import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// What keeps a run from being misread or started on top of another: a dry run is shown as
/// one (never `succeeded`), a new run on a region whose last run was left failed is refused,
/// `--limit`, and a dry run's output grouped per step.
@Suite struct CLIRunSafetyTests {
    static let runbook = """
        runbook { name = "safety" }
        step "prepare" { run = function(ctx) end, undo = function(ctx) end }
        step "agents" {
          on = "computes",
          run = function(host, ctx)
            if host.name == "cmp002" and not ctx.vars.fixed then fail("agent broken") end
            host:run("true")
            host:run("echo agent-ok on " .. host.name)
          end,
          undo = function(host, ctx) end,
        }
        """

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test func aDryRunIsShownAsADryRunAndIsNeitherResumedNorRolledBack() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let dry = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--dry-run", "-e", "fixed=true"], in: dir)
        #expect(dry.code == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("Dry run ") && dry.stdout.contains(" passed") && !dry.stdout.contains("succeeded"), "\(dry.stdout)")

        let list = try await FerryProcess.run(["status", "--journal", "j.db"], in: dir)
        #expect(list.stdout.contains("dry run passed") && !list.stdout.contains("succeeded"), "\(list.stdout)")
        let one = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(one.stdout.contains("status:  dry run passed") && !one.stdout.contains("succeeded"), "\(one.stdout)")
        let listed = try #require(try json((try await FerryProcess.run(["status", "--journal", "j.db", "--json"], in: dir)).stdout) as? [[String: Any]])
        #expect(listed.first?["status"] as? String == "dry_run_passed" && listed.first?["dry_run"] as? Bool == true, "\(listed)")
        let shown = try #require(try json((try await FerryProcess.run(["status", "last", "--journal", "j.db", "--json"], in: dir)).stdout) as? [String: Any])
        #expect(shown["status"] as? String == "dry_run_passed" && shown["kind"] as? String == "dry-run")

        // Nothing was done: nothing to resume or roll back, and each says so.
        let resume = try await FerryProcess.run(["resume", "last", "--journal", "j.db", "--yes"], in: dir)
        #expect(resume.code == 2 && resume.stderr.contains("was a dry run") && resume.stderr.contains("nothing to resume"), "\(resume.stderr)")
        let rollback = try await FerryProcess.run(["rollback", "last", "--journal", "j.db", "--yes"], in: dir)
        #expect(rollback.code == 2 && rollback.stderr.contains("was a dry run") && rollback.stderr.contains("nothing to roll back"), "\(rollback.stderr)")

        // A dry run that fails reads as a failed dry run, with no resume or rollback offered.
        let failing = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--dry-run", "--json"], in: dir)
        #expect(failing.code == 1)
        #expect(failing.stderr.contains("Dry run ") && failing.stderr.contains("FAILED at step agents") && !failing.stderr.contains("ferry resume"),
                "\(failing.stderr)")
        let finished = try #require(failing.stdout.split(separator: "\n").last.flatMap { try? json(String($0)) as? [String: Any] })
        #expect(finished["status"] as? String == "dry_run_failed" && finished["dry_run"] as? Bool == true, "\(finished)")
    }

    @Test func aNewRunOnARegionLeftFailedIsRefusedUnlessItSupersedesThatRun() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let run = ["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"]
        let failed = try await FerryProcess.run(run, in: dir)
        #expect(failed.code == 1, "\(failed.stderr)")
        let runID = try #require((try json((try await FerryProcess.run(["status", "last", "--journal", "j.db", "--json"], in: dir)).stdout) as? [String: Any])?["id"] as? String)

        // A dry run changes nothing: it may go on top, and does not hide the failed run.
        let dry = try await FerryProcess.run(run + ["--dry-run", "-e", "fixed=true"], in: dir)
        #expect(dry.code == 0, "\(dry.stderr)")

        let refused = try await FerryProcess.run(run + ["-e", "fixed=true"], in: dir)
        #expect(refused.code == 1)
        #expect(refused.stderr.contains("region cli's last run, \(runID) (safety") && refused.stderr.contains("ended failed"), "\(refused.stderr)")
        #expect(refused.stderr.contains("ferry resume \(runID) --journal j.db") && refused.stderr.contains("ferry rollback \(runID) --journal j.db"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("--supersede \(runID)"), "\(refused.stderr)")
        let wrong = try await FerryProcess.run(run + ["-e", "fixed=true", "--supersede", "20200101-000000-dead"], in: dir)
        #expect(wrong.code == 1 && wrong.stderr.contains("names another run"), "\(wrong.stderr)")
        let runs = try #require(try json((try await FerryProcess.run(["status", "--journal", "j.db", "--json"], in: dir)).stdout) as? [[String: Any]])
        #expect(runs.count == 2, "refused runs are not journaled: \(runs)")

        // --supersede names the run: a warning, the run goes on, the journal says so.
        let forced = try await FerryProcess.run(run + ["-e", "fixed=true", "--supersede", runID], in: dir)
        #expect(forced.code == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("warning: region cli's last run, \(runID)") && forced.stderr.contains("--supersede"), "\(forced.stderr)")
        let report = try await FerryProcess.run(["report", "last", "--journal", "j.db", "--json"], in: dir)
        #expect(report.stdout.contains("started with --supersede \(runID)"), "\(report.stdout.prefix(3000))")

        // The region's last run succeeded: the next starts without a word.
        let next = try await FerryProcess.run(run + ["-e", "fixed=true"], in: dir)
        #expect(next.code == 0 && !next.stderr.contains("last run"), "\(next.stderr)")
        // A failed run rolled back is finished too.
        let failedAgain = try await FerryProcess.run(run, in: dir)
        #expect(failedAgain.code == 1)
        let rolledBack = try await FerryProcess.run(["rollback", "last", "--journal", "j.db", "--yes"], in: dir)
        #expect(rolledBack.code == 0, "\(rolledBack.stderr)")
        let afterRollback = try await FerryProcess.run(run + ["-e", "fixed=true"], in: dir)
        #expect(afterRollback.code == 0, "\(afterRollback.stderr)")
    }

    @Test func limitActsOnlyOnTheHostsItSelectsIsPlannedJournaledAndKeptByResume() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "limited" }
            step "agents" {
              on = "computes",
              run = function(host, ctx)
                if host.name == "cmp002" and io.open(ctx.vars.out .. "/broken") then fail("agent broken") end
                host:run("touch " .. ctx.vars.out .. "/" .. host.name)
              end,
              undo = function(host, ctx) end,
            }
            step "controllers" { on = "controllers", run = function(host, ctx) host:run("touch " .. ctx.vars.out .. "/" .. host.name) end }
            """, hosts: 4)
        let plan = try await FerryProcess.run(["plan", "runbook.lua", "-r", "region.yaml", "--limit", "computes:!cmp003"], in: dir)
        #expect(plan.code == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("Limit: computes:!cmp003 (3 host(s))") && plan.stdout.contains("agents  on computes (3 hosts)")
                    && plan.stdout.contains("controllers  on controllers (0 hosts)"), "\(plan.stdout)")
        let bad = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--limit", "cmp9*"], in: dir)
        #expect(bad.code == 2 && bad.stderr.contains("--limit cmp9*"), "\(bad.stderr)")

        FileManager.default.createFile(atPath: dir + "/out/broken", contents: nil)
        let failed = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--limit", "computes:!cmp003"], in: dir)
        #expect(failed.code == 1 && failed.stderr.contains("agents on 3 host(s)"), "\(failed.stderr)")
        let status = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("limit:   computes:!cmp003"), "\(status.stdout)")
        let shown = try #require(try json((try await FerryProcess.run(["status", "last", "--journal", "j.db", "--json"], in: dir)).stdout) as? [String: Any])
        #expect(shown["limit"] as? String == "computes:!cmp003")

        try FileManager.default.removeItem(atPath: dir + "/out/broken")
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let touched = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").sorted()
        #expect(touched == ["cmp001", "cmp002", "cmp004"], "cmp003 and ctl1 are outside the limit: \(touched)")
    }

    @Test func aDryRunPrintsOneLinePerStepAndCommandWithAHostCountUnlessVerbose() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 40)
        let dry = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--dry-run", "-e", "fixed=true"], in: dir)
        #expect(dry.code == 0, "\(dry.stderr)")
        let lines = dry.stderr.split(separator: "\n").filter { $0.contains("[dry run]") }
        #expect(lines.count == 2, "\(dry.stderr)")
        #expect(lines.first?.contains("[dry run] would run `true` on 40 host(s): cmp001, cmp002, cmp003, … and 37 more") == true, "\(lines)")
        // A command naming its host groups too, the name written {host}.
        #expect(lines.last?.contains("[dry run] would run `echo agent-ok on {host}` on 40 host(s): cmp001, cmp002, cmp003, … and 37 more") == true, "\(lines)")
        #expect(dry.stderr.split(separator: "\n").count < 20, "\(dry.stderr)")

        let verbose = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "--dry-run", "-e", "fixed=true", "-v"], in: dir)
        #expect(verbose.stderr.split(separator: "\n").filter { $0.contains("[dry run]") && $0.contains("would run") }.count == 80, "\(verbose.stderr)")
    }

    /// On a terminal each step's line says where the whole run stands; elsewhere it does not.
    @Test func onATerminalEachStepShowsTheRunsStepCountElapsedTimeAndETA() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let shown = try await CLITerminalTests.onTerminal(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db", "-e", "fixed=true"],
                                                          in: dir, whenShown: "never shown", type: "")
        #expect(shown.code == 0, "\(shown.screen)")
        #expect(shown.screen.contains("→ 1. prepare   [step 1/2, ") && shown.screen.contains("elapsed]"), "\(shown.screen)")
        #expect(shown.screen.contains("→ 2. agents on 3 host(s)   [step 2/2, ") && shown.screen.contains("elapsed, run ETA ~"), "\(shown.screen)")

        let piped = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "k.db", "-e", "fixed=true"], in: dir)
        #expect(piped.code == 0 && !piped.stderr.contains("elapsed"), "\(piped.stderr)")
    }
}
