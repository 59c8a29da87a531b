import ArgumentParser
import FerryCore
import FerrySimulation
import Foundation

struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Rehearse a runbook: run → checks → rollback → checks, N times, with timing statistics.",
        discussion: """
            Each repetition is a journaled run (upgrade and rollback). The drill compares the region \
            before and after each repetition (the whole model on a simulated region; the catalog, the \
            broker's policies and each VIP's state on a real one) and stops at the first one that leaves \
            it different, saying how. A real region needs --yes. --html writes the drill report \
            (ferry report DRILL-ID --html).
            """)
    @Argument(help: "A runbook file or directory.") var runbook: String
    @Option(name: .shortAndLong, help: "A region file (or a name under scripts/regions).") var region: String
    @Option(name: .long, help: "Repetitions.") var times: Int = 3
    @Option(name: .long, help: "Compute nodes of the simulated region (overrides simulate.computes).") var computes: Int?
    @Option(name: .long, help: "Write the drill's HTML report here.") var html: String?
    @Flag(name: .long, help: "Start from a fresh simulated region (forget what earlier runs left).") var fresh = false
    @Flag(name: .long, help: "Approve every confirm; required for a drill on a real region (it upgrades and rolls back for real).") var yes = false
    @OptionGroup var inputOptions: InputOptions
    @OptionGroup var lockOptions: LockOptions
    @OptionGroup var machine: MachineOptions
    @OptionGroup var journalOptions: JournalOptions

    @OptionGroup var cloud: CloudOptions

    func run() async throws {
        try await guarded {
            try cloud.apply()
            if !machine.approve.isEmpty { throw FerryError.usage("--approve: a drill approves every confirm (it rehearses the whole run)") }
            guard times >= 1 else { throw FerryError.usage("--times must be at least 1") }
            _ = try inputOptions.inputs()
            let rb = try await Composition.loadRunbook(runbook)
            let regionName = try Composition.loadRegion(region).name
            let journal = try journalOptions.open()
            let id = Drill.newID()
            // The region stays locked from the first repetition to the last.
            return try await Composition.locked(journal, [.region(regionName)], runID: id, command: "drill", breakLock: lockOptions.breakLock) {
                try await drill(rb, id: id, journal: journal)
            }
        }
    }

    func drill(_ rb: Runbook, id: String, journal: RunJournal) async throws -> Int32 {
        let target = try Composition.target(region, computes: computes, journal: journalOptions.journal, fresh: fresh)
        if target.sim == nil && !yes {
            throw FerryError.usage("\(target.region.name) is a real region: a drill upgrades it and rolls it back for real, approving every confirm. Add --yes if that is what you want")
        }
        defer { try? target.sim?.save() }
        var options = RunOptions()
        options.computes = target.sim?.config.computes
        options.vars = try inputOptions.inputs()
        _ = try Plan.build(rb, region: target.region, options: options)
        // --json: the engine's events of every repetition (each with "drill"), one "repetition"
        // line per repetition and "drill_finished"; the human lines go to stderr.
        let stream = machine.json ? EventStream(extra: ["drill": id]) { line in Console.outRaw(line) } : nil
        var observers: [any RunObserver] = [QuietProgress()]
        if let stream { observers.append(stream) }
        // A drill approves every confirm: nobody waits for one.
        if let hook = machine.notifyHook(region: target.region, answered: nil) { observers.append(hook) }
        let engine = try Composition.engine(runbook: rb, target: target, journal: journal, yes: true, observer: Observers(observers))
        if machine.json { Console.outToStandardError.withLock { $0 = true } }
        defer { Console.outToStandardError.withLock { $0 = false } }
        var drill = Drill(engine: engine, model: target.sim, times: times)
        drill.options = options
        Console.out("Drill \(id): \(rb.info.name) on \(target.region.name)\(target.sim.map { " (simulated, \($0.config.computes) compute nodes)" } ?? ""), \(times) repetition(s)")
        drill.progress = { r in
            let up = r.upgrade.status == .succeeded ? "upgrade \(DurationText.format(r.upgradeSeconds))" : "upgrade FAILED at \(r.upgrade.step ?? "?") after \(DurationText.format(r.upgradeSeconds))"
            let back = r.rollback.map { $0.status == .rolledBack ? "rollback \(DurationText.format(r.rollbackSeconds))" : "rollback \($0.status.rawValue)" } ?? "no rollback"
            let failed = (r.checksAfterRun + r.checksAfterRollback).filter { !$0.passed }.map(\.name)
            Console.out("  \(r.number). \(r.runID): \(up), \(back)\(failed.isEmpty ? "" : ", check(s) failed: \(failed.joined(separator: ", "))")\(r.differences.isEmpty ? "" : ", region changed")")
            if machine.json {
                var o: [String: Any] = ["event": "repetition", "drill": id, "repetition": r.number, "run": r.runID,
                                        "upgrade": r.upgrade.status.rawValue, "upgrade_seconds": r.upgradeSeconds,
                                        "time": EventJSON.time(), "region_changed": !r.differences.isEmpty,
                                        "failed_checks": failed]
                if let rollback = r.rollback {
                    o["rollback"] = rollback.status.rawValue
                    o["rollback_seconds"] = r.rollbackSeconds
                }
                Console.outRaw(EventJSON.line(o))
            }
        }
        let chosen = drill
        let outcome = try await Composition.interruptible(closing: engine.transport) { try await chosen.run(id: id) }
        try target.sim?.save()
        let report = try await Report.load(id, from: journal)
        if let summary = report.drill {
            Console.out(ReportCommand.drillSummary(report).split(separator: "\n").dropFirst().joined(separator: "\n"))
            _ = summary
        }
        if let html {
            try HTMLReport.render(report).write(toFile: html, atomically: true, encoding: .utf8)
            Console.out("report: \(html)")
        }
        func finished(_ code: Int32, _ summary: String) -> Int32 {
            if machine.json {
                Console.outRaw(EventJSON.line(["event": "drill_finished", "drill": id, "repetitions": times, "succeeded": code == 0,
                                               "summary": summary, "time": EventJSON.time()]))
            }
            return code
        }
        if let why = outcome.stoppedBecause {
            Console.error("Drill \(id) stopped: \(why)")
            return finished(1, "stopped: \(why)")
        }
        let unhealthy = outcome.failedChecksAfterUpgrade
        for (n, check) in unhealthy {
            Console.error("Drill \(id): repetition \(n): check \(check.name) failed after the upgrade: \(check.message ?? "failed")")
        }
        if !outcome.failedUpgrades.isEmpty {
            let text = "the upgrade failed in repetition(s) \(outcome.failedUpgrades.map(String.init).joined(separator: ", ")) of \(times); each rollback put the region back."
            Console.error("Drill \(id): \(text)")
            return finished(1, text)
        }
        if !unhealthy.isEmpty {
            let text = "checks failed after the upgrade in repetition(s) \(unhealthy.map { String($0.repetition) }.joined(separator: ", ")) of \(times); each rollback put the region back."
            Console.error("Drill \(id): \(text)")
            return finished(1, text)
        }
        Console.out("Drill \(id): \(times) repetition(s), region back where it began each time.")
        return finished(0, "\(times) repetition(s), region back where it began each time")
    }
}

/// Progress for drills: only warnings and errors (each repetition prints one line).
struct QuietProgress: RunObserver {
    func handle(_ event: EngineEvent) {
        if case .log(let line) = event, line.level == .error { Console.error("  [\(line.level.rawValue)] \(line.message)") }
    }
}
