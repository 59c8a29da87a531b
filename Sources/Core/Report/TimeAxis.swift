import Foundation

/// Ticks for a time axis: a round step (1s, 5m, 2h, …) giving about ten labels,
/// each label as short as its step allows.
struct TimeAxis {
    let extent: Double
    let step: Double

    static let steps: [Double] = [
        0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        172_800, 604_800,
    ]

    init(extent: Double, targetTicks: Double = 10) {
        let positive = max(extent, 0.001)
        step = Self.steps.first { positive / $0 <= targetTicks } ?? 604_800
        // Round the end up to a whole step so the last tick closes the chart.
        self.extent = max(step, (positive / step).rounded(.up) * step)
    }

    var ticks: [Double] {
        let count = Int((extent / step).rounded())
        return (0...count).map { Double($0) * step }
    }

    /// `0`, `500ms`, `30s`, `1m30s`, `2h`, `1h15m`, `2d`.
    func label(_ seconds: Double) -> String {
        if seconds == 0 { return "0" }
        if step < 1 { return seconds < 1 ? "\(Int((seconds * 1000).rounded()))ms" : String(format: "%.1fs", seconds) }
        return Self.compact(seconds)
    }

    /// A duration in whole units, largest first, at most two of them: `1h15m`, `45s`, `26h`, `3d4h`.
    static func compact(_ seconds: Double) -> String {
        var rest = Int(seconds.rounded())
        var parts: [String] = []
        // Hours up to two days read better on a change window's axis than `1d2h`.
        let units = rest >= 172_800 ? [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] : [("h", 3600), ("m", 60), ("s", 1)]
        for (unit, size) in units where rest >= size || (parts.isEmpty && size == 1) {
            parts.append("\(rest / size)\(unit)")
            rest %= size
            if parts.count == 2 || rest == 0 { break }
        }
        return parts.joined()
    }
}

/// Text made safe for HTML and SVG, and numbers made readable.
enum Markup {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// `2,000`.
    static func count(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// A coordinate for SVG: one decimal is plenty.
    static func n(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    static func duration(_ seconds: Double?) -> String {
        seconds.map { DurationText.format($0) } ?? "—"
    }

    /// An offset into the run: `+4m05s`.
    static func offset(_ seconds: Double) -> String { "+" + DurationText.format(seconds) }

    static func plural(_ n: Int, _ word: String) -> String { "\(count(n)) \(word)\(n == 1 ? "" : "s")" }

    /// Shortens a label that would not fit, keeping its start.
    static func truncate(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}

/// Maps offsets into a run to x positions. A long idle stretch (a rollback begun the
/// next morning) is drawn as a short break, so the work on either side keeps its width.
struct TimeScale {
    struct Segment {
        var start: Double
        var end: Double
        var x0: Double
        var x1: Double
    }

    /// The stretches drawn to scale, in order; the breaks lie between them.
    private(set) var segments: [Segment] = []
    let axis: TimeAxis

    /// `busy`: the intervals something ran in. An idle gap is collapsed when it is a
    /// quarter of the whole and at least five minutes.
    init(busy: [(start: Double, end: Double)], extent: Double, left: Double, right: Double, breakWidth: Double = 44) {
        var merged: [(start: Double, end: Double)] = []
        for interval in busy.sorted(by: { $0.start < $1.start }) {
            if let last = merged.last, interval.start <= last.end {
                merged[merged.count - 1].end = max(last.end, interval.end)
            } else {
                merged.append(interval)
            }
        }
        let total = max(extent, merged.map(\.end).max() ?? 0)
        var stretches: [(start: Double, end: Double)] = []
        var from = 0.0
        for (previous, next) in zip(merged, merged.dropFirst()) where next.start - previous.end >= max(0.25 * total, 300) {
            stretches.append((from, previous.end))
            from = next.start
        }
        let active = stretches.map { $0.end - $0.start }.reduce(0, +) + (total - from)
        axis = TimeAxis(extent: active)
        // The last stretch ends on a whole tick, like an axis without breaks.
        stretches.append((from, stretches.isEmpty ? axis.extent : from + max(axis.step, ((total - from) / axis.step).rounded(.up) * axis.step)))
        let drawn = stretches.map { $0.end - $0.start }.reduce(0, +)
        let width = right - left - breakWidth * Double(stretches.count - 1)
        var x = left
        for stretch in stretches {
            let w = width * (stretch.end - stretch.start) / max(drawn, 0.001)
            segments.append(Segment(start: stretch.start, end: stretch.end, x0: x, x1: x + w))
            x += w + breakWidth
        }
    }

    func x(_ seconds: Double) -> Double {
        for (i, s) in segments.enumerated() {
            if seconds <= s.end || i == segments.count - 1 {
                if seconds < s.start { return s.x0 - (i > 0 ? (s.x0 - segments[i - 1].x1) / 2 : 0) }
                return s.x0 + (s.x1 - s.x0) * min(1, (seconds - s.start) / max(s.end - s.start, 0.001))
            }
        }
        return segments.last?.x1 ?? 0
    }

    /// Round offsets inside the drawn stretches, leaving room for the label of each break.
    var ticks: [Double] {
        let centers = breaks.map { ($0.x0 + $0.x1) / 2 }
        return segments.flatMap { s -> [Double] in
            let first = (s.start / axis.step).rounded(.up)
            let last = (s.end / axis.step + 1e-9).rounded(.down)
            return first > last ? [] : (Int(first)...Int(last)).map { Double($0) * axis.step }
        }.filter { t in centers.allSatisfy { abs(x(t) - $0) > 60 } }
    }

    /// The collapsed gaps: where they are drawn and how long they were.
    var breaks: [(x0: Double, x1: Double, seconds: Double)] {
        zip(segments, segments.dropFirst()).map { ($0.x1, $1.x0, $1.start - $0.end) }
    }
}
