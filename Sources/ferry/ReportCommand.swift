import ArgumentParser
import FerryCore
import Foundation

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A run's timeline (Gantt) of steps and host waves, or a drill's repetitions compared.",
        discussion: """
            Without --html or --json, prints a short summary. --html writes one self-contained page \
            (inline SVG, nothing fetched); --json prints the same data.
            """)
    @Argument(help: "A run id, 'last', or a drill id (drill-…).") var run: String
    @Option(name: .long, help: "Write the report as one self-contained HTML file ('-' for standard output).") var html: String?
    @Flag(name: .long, help: "Print the report as JSON.") var json = false
    @OptionGroup var journalOptions: JournalOptions

    func run() async throws {
        try await guarded {
            let journal = try journalOptions.openForReading()
            let report = try await Report.load(run, from: journal)
            if let html {
                let page = HTMLReport.render(report)
                if html == "-" {
                    Console.out(page)
                } else {
                    do {
                        try page.write(toFile: html, atomically: true, encoding: .utf8)
                    } catch {
                        throw FerryError.failed("cannot write the report to \(html): \(error.localizedDescription)")
                    }
                    if !json { Console.error("report written to \(html)") }
                }
            }
            if json {
                Console.out(String(decoding: try report.jsonData(), as: UTF8.self))
            }
            if html == nil && !json {
                Console.out(report.kind == .drill ? Self.drillSummary(report) : Self.runSummary(report))
            }
            return 0
        }
    }

    static func runSummary(_ report: Report) -> String {
        guard let run = report.runs.first else { return "Nothing to report." }
        var lines = ["Run \(run.id): \(run.runbook) on region \(run.region) — \(run.status)\(run.simulatedTime ? " (simulated time)" : "")"]
        var totals: [String] = []
        if let up = run.upgrade { totals.append("upgrade \(DurationText.format(up.duration)) (\(up.steps) steps)") }
        if let back = run.rollback { totals.append("rollback \(DurationText.format(back.duration)) (\(back.steps) steps)") }
        let failedHosts = run.steps.map(\.hostsFailed).reduce(0, +)
        if failedHosts > 0 { totals.append("\(failedHosts) host(s) failed") }
        if !totals.isEmpty { lines.append("  " + totals.joined(separator: ", ")) }
        if !run.inputs.isEmpty { lines.append("  inputs: " + run.inputs.joined(separator: ", ")) }
        if let digest = run.runbookDigest {
            lines.append("  runbook sha256:\(digest)" + (run.runbookCommit.map { ", git commit \($0)" } ?? ""))
        }
        for attempt in run.attempts where attempt.stop != nil {
            lines.append("  attempt \(attempt.number) \(attempt.stop == "killed" ? "was killed" : "stopped (\(attempt.stop ?? ""))") at +\(DurationText.format(attempt.end)); resumed at +\(DurationText.format(run.attempts.first { $0.number == attempt.number + 1 }?.start ?? attempt.end))")
        }
        for a in run.approvals {
            let what = a.rollback ? "the rollback" : "step \(a.stepName ?? "?")"
            lines.append("  \(a.decision) \(what) by \(a.by) at +\(DurationText.format(a.at))")
        }
        let width = min(40, run.steps.map(\.name.count).max() ?? 0)
        for step in run.steps {
            let mark = step.isFailure ? "✗" : step.status == "done" ? "✓" : "-"
            let name = (step.phase == "undo" ? "undo " : "") + step.name
            var line = "  \(mark) \(String(step.index + 1).leftPadded(2)). \(name.padding(toLength: width + 5, withPad: " ", startingAt: 0))"
            line += " +\(DurationText.format(step.start).leftPadded(7))  \(DurationText.format(step.duration).leftPadded(7))"
            if step.hostsTotal > 0 {
                line += "  \(step.hostsOK)/\(step.hostsTotal) hosts"
                let waves = step.waves.filter { $0.number != nil }.count
                if waves > 0 { line += " in \(waves) waves" }
                if step.hostsFailed > 0 { line += ", \(step.hostsFailed) failed" }
            }
            if step.status != "done" && step.status != "skipped" { line += "  [\(step.status)]" }
            lines.append(line)
            if step.isFailure { lines += step.failureLines.map { "        " + $0 } }
        }
        lines += unjudgedLines(run.unjudged.map(\.message))
        lines.append("The timeline: ferry report \(run.id) --html report.html  (data: --json)")
        return lines.joined(separator: "\n")
    }

    static func drillSummary(_ report: Report) -> String {
        guard let drill = report.drill else { return "Nothing to report." }
        var lines = ["Drill \(drill.id): \(drill.runbook) on region \(drill.region), \(drill.repetitions.count) repetition(s)\(drill.simulatedTime ? " (simulated time)" : "")"]
        for rep in drill.repetitions {
            var line = "  #\(String(rep.number).leftPadded(2))  \(rep.runID)  \(rep.status.padding(toLength: 16, withPad: " ", startingAt: 0))"
            line += "  upgrade \((rep.upgradeSeconds.map { DurationText.format($0) } ?? "—").leftPadded(7))"
            line += "  rollback \((rep.rollbackSeconds.map { DurationText.format($0) } ?? "—").leftPadded(7))"
            if let failed = rep.failedStep { line += "  failed at \(failed)" }
            lines.append(line)
            // Why the upgrade failed, before what the rollback made of it.
            if !rep.upgradeFailure.isEmpty {
                lines.append("       upgrade failed:")
                lines += rep.upgradeFailure.map { "         " + $0 }
                lines += rep.rollbackOutcome.enumerated().map { $0.offset == 0 ? "       then " + $0.element : "       " + $0.element }
            } else if rep.failedStep?.hasPrefix("undo ") == true {
                lines += rep.rollbackOutcome.map { "       " + $0 }
            }
            lines += rep.failedChecks.map { "       " + $0 }
        }
        for (name, stats) in [("upgrade", drill.upgrade), ("rollback", drill.rollback)] {
            guard let s = stats else { continue }
            lines.append("  \(name): mean \(DurationText.format(s.mean)), p50 \(DurationText.format(s.p50)), p95 \(DurationText.format(s.p95)), max \(DurationText.format(s.max)) over \(s.count)")
        }
        lines += unjudgedLines(drill.unjudged)
        lines.append("The comparison: ferry report \(drill.id) --html report.html  (data: --json)")
        return lines.joined(separator: "\n")
    }
}

/// What the region ran without judging, each once: a drill's reader sees what was never checked.
func unjudgedLines(_ messages: [String]) -> [String] {
    guard !messages.isEmpty else { return [] }
    return ["  Recorded, not judged by the simulation (\(messages.count)):"] + messages.map { "    " + $0 }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
