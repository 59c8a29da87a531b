import Foundation

/// The page of a drill: every repetition's upgrade and rollback side by side, the
/// spread of each step's time, and each repetition's own timeline folded away.
struct DrillPage {
    let drill: DrillSummary
    let runs: [RunTimeline]

    func render() -> String {
        header() + cards() + whyFailed() + comparison() + stepTable() + repetitions()
            + RunSections.unjudgedSection([], drill.unjudged) + timelines()
    }

    var clean: Int {
        drill.repetitions.filter { $0.failedStep == nil && ["rolled_back", "succeeded"].contains($0.status) }.count
    }

    func header() -> String {
        var html = "<header class=\"head\"><div class=\"kicker\">Ferry drill report</div>"
        html += "<h1>\(Markup.escape(drill.runbook)) "
        let total = drill.repetitions.count
        html += "<span class=\"pill \(clean == total ? "pill-ok" : "pill-bad")\">\(clean) of \(Markup.plural(total, "repetition")) clean</span>"
        if drill.simulatedTime { html += " " + HTMLReport.simulatedBadge }
        html += "</h1>"
        var items: [(String, String)] = [("Drill", "<code>\(Markup.escape(drill.id))</code>"), ("Region", Markup.escape(drill.region))]
        if let first = drill.repetitions.first {
            items.append(("Started", HTMLReport.date(first.startedAt) + (drill.simulatedTime ? " (simulated clock)" : "")))
        }
        if let path = runs.first?.runbookPath { items.append(("Runbook", "<code>\(Markup.escape(path))</code>")) }
        return html + HTMLReport.meta(items) + "</header>"
    }

    func cards() -> String {
        func stats(_ s: DurationStatistics?) -> (String, String) {
            guard let s else { return ("—", "no repetition finished it") }
            return (DurationText.format(s.mean), "mean of \(s.count) · p50 \(DurationText.format(s.p50)) · p95 \(DurationText.format(s.p95)) · max \(DurationText.format(s.max))")
        }
        let up = stats(drill.upgrade)
        let back = stats(drill.rollback)
        var html = "<section class=\"cards\">"
        html += HTMLReport.card("Upgrade", up.0, up.1)
        html += HTMLReport.card("Rollback", back.0, back.1, tone: "card-undo")
        html += HTMLReport.card("Clean repetitions", "\(clean)/\(drill.repetitions.count)",
                                clean == drill.repetitions.count ? "every upgrade and rollback finished" : "<span class=\"fail-text\">\(drill.repetitions.count - clean) failed</span>",
                                tone: clean == drill.repetitions.count ? "" : "card-bad")
        if let up = drill.upgrade, let back = drill.rollback, up.mean > 0 {
            html += HTMLReport.card("Rollback / upgrade", String(format: "%.0f%%", back.mean / up.mean * 100), "mean rollback time against mean upgrade time")
        }
        return html + "</section>"
    }

    /// For each repetition whose upgrade failed: the failing step and its first distinct
    /// messages with their host counts, then what the rollback made of it.
    func whyFailed() -> String {
        let failed = drill.repetitions.filter { !$0.upgradeFailure.isEmpty }
        guard !failed.isEmpty else { return "" }
        var html = "<section><h2>Why the upgrade failed</h2>"
        for rep in failed {
            html += "<div class=\"failure\"><h3>Repetition \(rep.number) <span class=\"muted\"><code>\(Markup.escape(rep.runID))</code></span></h3>"
            html += "<ul class=\"message\">" + rep.upgradeFailure.map { "<li>\(Markup.escape($0))</li>" }.joined() + "</ul>"
            html += "<p class=\"muted\">then " + rep.rollbackOutcome.map { Markup.escape($0) }.joined(separator: "<br>") + "</p></div>"
        }
        return html + "</section>"
    }

    func comparison() -> String {
        """
        <section><h2>Upgrade and rollback, per repetition</h2>
        <div class="legend"><span><svg width="26" height="12"><rect class="bar-run" width="26" height="12" rx="2"/></svg>upgrade</span>\
        <span><svg width="26" height="12"><rect class="bar-undo" width="26" height="12" rx="2"/><rect class="hatch" width="26" height="12"/></svg>rollback</span>\
        <span><svg width="26" height="12"><line class="mean-run" x1="0" y1="6" x2="26" y2="6"/></svg>mean upgrade</span>\
        <span><svg width="26" height="12"><line class="mean-undo" x1="0" y1="6" x2="26" y2="6"/></svg>mean rollback</span></div>
        <div class="chart">\(DrillChart(drill: drill).render())</div></section>
        """
    }

    func stepTable() -> String {
        guard !drill.steps.isEmpty else { return "" }
        let widest = drill.steps.flatMap { [$0.upgrade?.max, $0.rollback?.max] }.compactMap { $0 }.max() ?? 1
        // A step's worst case stands out when it cost more than 1% of a whole upgrade
        // over its usual time; seconds of jitter on a short step do not.
        let noticeable = max(1, (drill.upgrade?.mean ?? 0) / 100)
        var html = "<section><h2>Step times across repetitions</h2><table class=\"stats\"><thead>"
        html += "<tr><th rowspan=\"2\" class=\"num\">#</th><th rowspan=\"2\">Step</th><th colspan=\"4\" class=\"group\">Upgrade</th>"
        html += "<th colspan=\"4\" class=\"group group-undo\">Rollback</th><th rowspan=\"2\">Spread (p50 ▮ to max ┤)</th></tr><tr>"
        for _ in 0..<2 { html += "<th class=\"num\">mean</th><th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">max</th>" }
        html += "</tr></thead><tbody>"
        for step in drill.steps {
            html += "<tr><td class=\"num\">\(step.index + 1)</td><td>\(Markup.escape(step.name))</td>"
            for s in [step.upgrade, step.rollback] {
                if let s {
                    let wobbly = s.max > 1.5 * s.p50 && s.max - s.p50 > noticeable
                    html += "<td class=\"num\">\(DurationText.format(s.mean))</td><td class=\"num\">\(DurationText.format(s.p50))</td>"
                    html += "<td class=\"num\">\(DurationText.format(s.p95))</td><td class=\"num\(wobbly ? " warn-text" : "")\">\(DurationText.format(s.max))</td>"
                } else {
                    html += "<td class=\"num muted\" colspan=\"4\">—</td>"
                }
            }
            html += "<td>\(spread(step, widest: widest))</td></tr>"
        }
        return html + "</tbody></table><p class=\"muted\">Steps that finished, over every repetition; a max well above its p50 (by half again and by more than \(DurationText.format(noticeable))) is shown in amber.</p></section>"
    }

    /// Two thin bars per step on one scale: p50 solid, up to max as a whisker.
    func spread(_ step: DrillSummary.StepStatistics, widest: Double) -> String {
        let w = 220.0
        var svg = "<svg class=\"spread\" width=\"\(Markup.n(w))\" height=\"18\" viewBox=\"0 0 \(Markup.n(w)) 18\">"
        for (row, s, cls) in [(0.0, step.upgrade, "bar-run"), (9.0, step.rollback, "bar-undo")] {
            guard let s else { continue }
            let p50 = max(1, w * s.p50 / widest)
            let top = max(p50, w * s.max / widest)
            svg += "<rect class=\"\(cls)\" x=\"0\" y=\"\(Markup.n(row + 1))\" width=\"\(Markup.n(p50))\" height=\"7\"><title>p50 \(DurationText.format(s.p50))</title></rect>"
            svg += "<line class=\"whisker\" x1=\"\(Markup.n(p50))\" y1=\"\(Markup.n(row + 4.5))\" x2=\"\(Markup.n(top))\" y2=\"\(Markup.n(row + 4.5))\"/>"
            svg += "<line class=\"whisker\" x1=\"\(Markup.n(top))\" y1=\"\(Markup.n(row + 1))\" x2=\"\(Markup.n(top))\" y2=\"\(Markup.n(row + 8))\"><title>max \(DurationText.format(s.max))</title></line>"
        }
        return svg + "</svg>"
    }

    func repetitions() -> String {
        var html = "<section><h2>Repetitions</h2><table><thead><tr><th class=\"num\">#</th><th>Run</th><th>Status</th>"
        html += "<th class=\"num\">Upgrade</th><th class=\"num\">Rollback</th><th>Failed at</th><th>Message</th></tr></thead><tbody>"
        for rep in drill.repetitions {
            html += "<tr\(rep.failedStep == nil ? "" : " class=\"row-failed\"")><td class=\"num\">\(rep.number)</td>"
            html += "<td><code>\(Markup.escape(rep.runID))</code></td><td>\(HTMLReport.statusPill(rep.status))</td>"
            html += "<td class=\"num\">\(Markup.duration(rep.upgradeSeconds))</td><td class=\"num\">\(Markup.duration(rep.rollbackSeconds))</td>"
            html += "<td>\(Markup.escape(rep.failedStep ?? ""))</td>"
            html += "<td class=\"message\">\(Markup.escape(Markup.truncate(rep.message ?? "", 200)))</td></tr>"
        }
        return html + "</tbody></table></section>"
    }

    /// Each repetition's Gantt, folded; failed ones open.
    func timelines() -> String {
        var html = "<section><h2>Timelines of the repetitions</h2>"
        html += HTMLReport.legend(runs)
        for (run, rep) in zip(runs, drill.repetitions) {
            let open = rep.failedStep != nil ? " open" : ""
            html += "<details\(open)><summary><strong>#\(rep.number)</strong> <code>\(Markup.escape(run.id))</code> "
            html += HTMLReport.statusPill(run.status)
            html += " <span class=\"muted\">upgrade \(Markup.duration(rep.upgradeSeconds)) · rollback \(Markup.duration(rep.rollbackSeconds))</span></summary>"
            html += run.steps.isEmpty ? "<p class=\"muted\">No step ran.</p>" : "<div class=\"chart\">\(GanttChart(run: run).render())</div>"
            html += RunSections(run: run).failures()
            html += "</details>"
        }
        return html + "</section>"
    }
}
