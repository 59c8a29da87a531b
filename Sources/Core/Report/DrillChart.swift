import Foundation

/// A drill's repetitions as pairs of columns: the upgrade and the rollback of each
/// repetition side by side on one duration scale, with the means as dashed lines.
struct DrillChart {
    let drill: DrillSummary

    let width = 1320.0
    let height = 340.0
    let left = 70.0
    /// Room on the right for the labels of the mean lines.
    let right = 160.0
    let top = 20.0
    let bottom = 48.0

    func render() -> String {
        let values = drill.repetitions.flatMap { [$0.upgradeSeconds, $0.rollbackSeconds] }.compactMap { $0 }
        let axis = TimeAxis(extent: values.max() ?? 1, targetTicks: 6)
        let plotBottom = height - bottom
        let plotHeight = plotBottom - top
        func y(_ seconds: Double) -> Double { plotBottom - plotHeight * min(1, seconds / axis.extent) }

        var svg = """
            <svg class="drill-chart" viewBox="0 0 \(Markup.n(width)) \(Markup.n(height))" width="100%" role="img" \
            aria-label="Upgrade and rollback time of every repetition" font-size="12">
            """
        for t in axis.ticks {
            svg += "<line class=\"grid\" x1=\"\(Markup.n(left))\" y1=\"\(Markup.n(y(t)))\" x2=\"\(Markup.n(width - right))\" y2=\"\(Markup.n(y(t)))\"/>"
            svg += "<text class=\"axis\" x=\"\(Markup.n(left - 8))\" y=\"\(Markup.n(y(t) + 4))\" text-anchor=\"end\">\(axis.label(t))</text>"
        }
        svg += "<text class=\"axis-title\" x=\"\(Markup.n(left - 8))\" y=\"\(Markup.n(height - 8))\" text-anchor=\"end\">\(drill.simulatedTime ? "simulated" : "")</text>"

        let count = max(1, drill.repetitions.count)
        let slot = (width - left - right) / Double(count)
        let barWidth = min(34, slot * 0.36)
        let labelEvery = slot >= 34 ? 1 : Int((34 / slot).rounded(.up))
        for (i, rep) in drill.repetitions.enumerated() {
            let center = left + slot * (Double(i) + 0.5)
            let failed = rep.failedStep != nil || !["rolled_back", "succeeded"].contains(rep.status)
            svg += "<g class=\"rep\">"
            let undoFailed = rep.failedStep?.hasPrefix("undo ") == true
            let runFailed = rep.failedStep != nil && !undoFailed
            svg += bar(rep.upgradeSeconds, x: center - barWidth - 2, width: barWidth, y: y, cls: runFailed ? "bar-run bar-broken" : "bar-run",
                       tip: "repetition \(rep.number): upgrade \(Markup.duration(rep.upgradeSeconds))")
            svg += bar(rep.rollbackSeconds, x: center + 2, width: barWidth, y: y, cls: undoFailed ? "bar-undo bar-broken" : "bar-undo",
                       tip: "repetition \(rep.number): rollback \(Markup.duration(rep.rollbackSeconds))", hatched: true)
            let labelClass = failed ? "rep-label label-failed" : "rep-label"
            // Many repetitions: name every few, and every failed one.
            if i % labelEvery == 0 || failed {
                svg += "<text class=\"\(labelClass)\" x=\"\(Markup.n(center))\" y=\"\(Markup.n(plotBottom + 18))\" text-anchor=\"middle\">#\(rep.number)<title>\(Markup.escape(repetitionTip(rep)))</title></text>"
                svg += "<text class=\"rep-status\(failed ? " fail-text" : "")\" x=\"\(Markup.n(center))\" y=\"\(Markup.n(plotBottom + 34))\" text-anchor=\"middle\">\(Markup.escape(outcome(rep, failed: failed, room: slot)))</text>"
            }
            svg += "</g>"
        }
        svg += "<line class=\"axis-line\" x1=\"\(Markup.n(left))\" y1=\"\(Markup.n(plotBottom))\" x2=\"\(Markup.n(width - right))\" y2=\"\(Markup.n(plotBottom))\"/>"
        for (stats, cls, name) in [(drill.upgrade, "mean-run", "upgrade"), (drill.rollback, "mean-undo", "rollback")] {
            guard let stats else { continue }
            let yy = Markup.n(y(stats.mean))
            svg += "<line class=\"\(cls)\" x1=\"\(Markup.n(left))\" y1=\"\(yy)\" x2=\"\(Markup.n(width - right))\" y2=\"\(yy)\"><title>mean \(name) \(DurationText.format(stats.mean)), p95 \(DurationText.format(stats.p95))</title></line>"
            svg += "<text class=\"mean-label \(cls)-text\" x=\"\(Markup.n(width - right + 8))\" y=\"\(Markup.n(y(stats.mean) + 4))\">mean \(name) \(DurationText.format(stats.mean))</text>"
        }
        return svg + "</svg>"
    }

    func bar(_ seconds: Double?, x: Double, width: Double, y: (Double) -> Double, cls: String, tip: String,
             hatched: Bool = false) -> String
    {
        let base = y(0)
        guard let seconds else {
            return "<text class=\"axis\" x=\"\(Markup.n(x + width / 2))\" y=\"\(Markup.n(base - 4))\" text-anchor=\"middle\">—<title>\(Markup.escape(tip))</title></text>"
        }
        let top = min(base - 1, y(seconds))
        var out = "<rect class=\"\(cls)\" x=\"\(Markup.n(x))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(width))\" height=\"\(Markup.n(base - top))\" rx=\"2\"><title>\(Markup.escape(tip))</title></rect>"
        if hatched {
            out += "<rect class=\"hatch\" x=\"\(Markup.n(x))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(width))\" height=\"\(Markup.n(base - top))\" pointer-events=\"none\"/>"
        }
        if width >= 18 {
            out += "<text class=\"bar-value\" x=\"\(Markup.n(x + width / 2))\" y=\"\(Markup.n(top - 4))\" text-anchor=\"middle\">\(TimeAxis.compact(seconds))</text>"
        }
        return out
    }

    /// Under each pair: `ok`, or what went wrong and in which direction.
    /// As much as the slot has room for: `✗ rollback failed`, `✗ rollback`, `✗`.
    func outcome(_ rep: DrillSummary.Repetition, failed: Bool, room: Double) -> String {
        guard failed else { return room < 40 ? "" : "ok" }
        let what = rep.failedStep.map { $0.hasPrefix("undo ") ? "rollback" : "upgrade" } ?? rep.status.replacingOccurrences(of: "_", with: " ")
        if room < 50 { return "✗" }
        return room < 100 || rep.failedStep == nil ? "✗ \(what)" : "✗ \(what) failed"
    }

    func repetitionTip(_ rep: DrillSummary.Repetition) -> String {
        var text = "repetition \(rep.number), run \(rep.runID): \(rep.status)"
        text += "\nupgrade \(Markup.duration(rep.upgradeSeconds)), rollback \(Markup.duration(rep.rollbackSeconds))"
        if let step = rep.failedStep { text += "\nfailed at \(step)" }
        if let message = rep.message { text += "\n" + Markup.truncate(message, 300) }
        return text
    }
}
