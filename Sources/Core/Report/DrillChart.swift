import Foundation

/// A drill's repetitions as pairs of columns: the upgrade and the rollback of each
/// repetition side by side on one duration scale, with the means as dashed lines.
struct DrillChart {
    let drill: DrillSummary

    let width = 1320.0
    let height = 340.0
    let left = 70.0
    /// Room on the right for the labels of the mean lines.
    let right = 190.0
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

        let means = [(drill.upgrade, "mean-run", "upgrade"), (drill.rollback, "mean-undo", "rollback")].compactMap { stats, cls, name in
            stats.map { (stats: $0, cls: cls, name: name) }
        }
        // The mean lines cross every pair: a bar's value label is laid out clear of them
        // (the lines' stroke is 1.5 px).
        let meanLines = means.map { y($0.stats.mean) }.map { ($0 - 0.75)...($0 + 0.75) }

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
            let upgrade = bar(rep.upgradeSeconds, x: center - barWidth - 2, width: barWidth, y: y,
                              cls: runFailed ? "bar-run bar-broken" : "bar-run",
                              tip: "repetition \(rep.number): upgrade \(Markup.duration(rep.upgradeSeconds))", taken: meanLines)
            // The rollback's label also keeps clear of the upgrade's beside it, when they would touch.
            var taken = meanLines
            if let label = upgrade.label, Self.valueLabelWidth(label.text) / 2 + Self.valueLabelWidth(Self.valueText(rep.rollbackSeconds)) / 2 > barWidth + 4 {
                taken.append(label.extent)
            }
            let rollback = bar(rep.rollbackSeconds, x: center + 2, width: barWidth, y: y, cls: undoFailed ? "bar-undo bar-broken" : "bar-undo",
                               tip: "repetition \(rep.number): rollback \(Markup.duration(rep.rollbackSeconds))", hatched: true, taken: taken)
            svg += upgrade.svg + rollback.svg
            let labelClass = failed ? "rep-label label-failed" : "rep-label"
            // Many repetitions: name every few, and every failed one.
            if i % labelEvery == 0 || failed {
                svg += "<text class=\"\(labelClass)\" x=\"\(Markup.n(center))\" y=\"\(Markup.n(plotBottom + 18))\" text-anchor=\"middle\">#\(rep.number)<title>\(Markup.escape(repetitionTip(rep)))</title></text>"
                svg += "<text class=\"rep-status\(failed ? " fail-text" : "")\" x=\"\(Markup.n(center))\" y=\"\(Markup.n(plotBottom + 34))\" text-anchor=\"middle\">\(Markup.escape(outcome(rep, failed: failed, room: slot)))</text>"
            }
            svg += "</g>"
        }
        svg += "<line class=\"axis-line\" x1=\"\(Markup.n(left))\" y1=\"\(Markup.n(plotBottom))\" x2=\"\(Markup.n(width - right))\" y2=\"\(Markup.n(plotBottom))\"/>"
        for mean in means {
            let yy = Markup.n(y(mean.stats.mean))
            svg += "<line class=\"\(mean.cls)\" x1=\"\(Markup.n(left))\" y1=\"\(yy)\" x2=\"\(Markup.n(width - right))\" y2=\"\(yy)\"><title>mean \(mean.name) \(DurationText.format(mean.stats.mean)), p95 \(DurationText.format(mean.stats.p95))</title></line>"
        }
        // Each label in a box beside its line; boxes that would overlap (close means) are
        // moved apart, and a moved one gets a leader to its line.
        let texts = means.map { "mean \($0.name) \(DurationText.format($0.stats.mean))" }
        let boxes = Self.layOutLabels(means.map { y($0.stats.mean) }, height: labelHeight, top: 2, bottom: height - 2)
        for (i, mean) in means.enumerated() {
            let lineY = y(mean.stats.mean)
            let boxY = boxes[i]
            let x = width - right + 10
            let boxWidth = Self.labelWidth(texts[i])
            if abs(boxY + labelHeight / 2 - lineY) > 0.5 {
                svg += "<line class=\"mean-leader\" x1=\"\(Markup.n(width - right))\" y1=\"\(Markup.n(lineY))\" x2=\"\(Markup.n(x))\" y2=\"\(Markup.n(boxY + labelHeight / 2))\"/>"
            }
            svg += "<rect class=\"mean-label-box\" x=\"\(Markup.n(x))\" y=\"\(Markup.n(boxY))\" width=\"\(Markup.n(boxWidth))\" height=\"\(Markup.n(labelHeight))\" rx=\"3\"/>"
            svg += "<text class=\"mean-label \(mean.cls)-text\" x=\"\(Markup.n(x + 4))\" y=\"\(Markup.n(boxY + labelHeight - 5))\">\(texts[i])</text>"
        }
        return svg + "</svg>"
    }

    /// A label box's height: 12 px text and its padding.
    let labelHeight = 17.0

    /// A box wide enough for `text` at 12 px (at most 7 px a character, the widest of the
    /// report's fonts for these labels), padded.
    static func labelWidth(_ text: String) -> Double { Double(text.count) * 7 + 8 }

    /// The tops of boxes of `height` centred on `centres` where room allows, in the same
    /// order, moved apart as little as possible so that no two overlap, within top...bottom.
    static func layOutLabels(_ centres: [Double], height: Double, top: Double, bottom: Double) -> [Double] {
        let order = centres.indices.sorted { centres[$0] < centres[$1] }
        var tops = Array(repeating: 0.0, count: centres.count)
        var previous = -Double.infinity
        for i in order {
            tops[i] = max(centres[i] - height / 2, previous + height + 1, top)
            previous = tops[i]
        }
        // Past the bottom: push the lowest ones back up, keeping the gaps.
        var limit = bottom
        for i in order.reversed() {
            tops[i] = min(tops[i], limit - height)
            limit = tops[i] - 1
        }
        return tops
    }

    /// A bar's value label: the report's duration format, as the mean labels and tables write it.
    static func valueText(_ seconds: Double?) -> String { seconds.map(DurationText.format) ?? "" }

    /// The width of a value label at 10.5 px (at most 6.5 px a character), padded.
    static func valueLabelWidth(_ text: String) -> Double { Double(text.count) * 6.5 + 2 }

    /// How far a 10.5 px label reaches above and below its baseline (generously: digits and
    /// lower-case letters, the white halo included).
    static let valueAscent = 9.0, valueDescent = 3.0

    /// The baseline of a bar's value label: 4 px above the bar's top, unless the label would
    /// touch one of `taken` (vertical extents: the mean lines, a neighbouring label); then the
    /// nearest clear place above it, within the chart (`ceiling`); else inside the bar, below
    /// its top; nil when there is no room (the bar's tooltip still has the value).
    static func valueBaseline(top: Double, base: Double, taken: [ClosedRange<Double>], ceiling: Double = 0) -> Double? {
        let gap = 1.0
        func clear(_ b: Double) -> Bool {
            let extent = (b - valueAscent - gap)...(b + valueDescent + gap)
            return !taken.contains { $0.overlaps(extent) }
        }
        let preferred = top - 4
        let above = ([preferred] + taken.map { $0.lowerBound - gap - valueDescent - 0.5 })
            .filter { $0 <= preferred && $0 - valueAscent >= ceiling }.sorted(by: >)
        if let b = above.first(where: clear) { return b }
        let highestInside = top + valueAscent + 3
        let inside = ([highestInside] + taken.map { $0.upperBound + gap + valueAscent + 0.5 })
            .filter { $0 >= highestInside && $0 + valueDescent <= base - 2 }.sorted()
        return inside.first(where: clear)
    }

    func bar(_ seconds: Double?, x: Double, width: Double, y: (Double) -> Double, cls: String, tip: String,
             hatched: Bool = false, taken: [ClosedRange<Double>] = []) -> (svg: String, label: (text: String, extent: ClosedRange<Double>)?)
    {
        let base = y(0)
        guard let seconds else {
            return ("<text class=\"axis\" x=\"\(Markup.n(x + width / 2))\" y=\"\(Markup.n(base - 4))\" text-anchor=\"middle\">—<title>\(Markup.escape(tip))</title></text>", nil)
        }
        let top = min(base - 1, y(seconds))
        var out = "<rect class=\"\(cls)\" x=\"\(Markup.n(x))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(width))\" height=\"\(Markup.n(base - top))\" rx=\"2\"><title>\(Markup.escape(tip))</title></rect>"
        if hatched {
            out += "<rect class=\"hatch\" x=\"\(Markup.n(x))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(width))\" height=\"\(Markup.n(base - top))\" pointer-events=\"none\"/>"
        }
        var label: (text: String, extent: ClosedRange<Double>)?
        if width >= 18, let baseline = Self.valueBaseline(top: top, base: base, taken: taken) {
            let text = Self.valueText(seconds)
            out += "<text class=\"bar-value\" x=\"\(Markup.n(x + width / 2))\" y=\"\(Markup.n(baseline))\" text-anchor=\"middle\">\(text)</text>"
            label = (text, (baseline - Self.valueAscent)...(baseline + Self.valueDescent))
        }
        return (out, label)
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
