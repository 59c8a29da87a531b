import Foundation

/// One run's steps as an inline SVG Gantt chart: a row per step and phase, the
/// upgrade first and the rollback in a lane of its own, host waves drawn inside
/// each bar, failures in red. Hovering any bar shows its details (SVG `<title>`).
struct GanttChart {
    let run: RunTimeline

    let width = 1320.0
    let labelWidth = 330.0
    let infoWidth = 250.0
    let rowHeight = 26.0
    let barHeight = 16.0
    let axisHeight = 26.0
    let laneHeight = 30.0

    var plotLeft: Double { labelWidth + 8 }
    var plotRight: Double { width - infoWidth - 8 }

    func render() -> String {
        let busy = run.steps.map { (start: $0.start, end: $0.end) } + run.checks.map { (start: $0.at - $0.duration, end: $0.at) }
        let axis = TimeScale(busy: busy, extent: run.duration, left: plotLeft, right: plotRight)
        let upgrade = run.steps("run")
        let rollback = run.steps("undo")
        var lanes: [(title: String, steps: [StepTimeline], span: PhaseSpan?)] = []
        if !upgrade.isEmpty { lanes.append(("Upgrade", upgrade, run.upgrade)) }
        if !rollback.isEmpty { lanes.append(("Rollback", rollback, run.rollback)) }

        let rows = upgrade.count + rollback.count
        let showBottomAxis = rows > 12
        let height = axisHeight + Double(lanes.count) * laneHeight + Double(rows) * rowHeight + (showBottomAxis ? axisHeight : 8)
        var svg = """
            <svg class="gantt" viewBox="0 0 \(Markup.n(width)) \(Markup.n(height))" width="100%" role="img" \
            aria-label="Timeline of the steps of run \(Markup.escape(run.id))" font-size="12">
            """
        let plotTop = axisHeight
        let plotBottom = height - (showBottomAxis ? axisHeight : 8)
        svg += grid(axis, top: plotTop, bottom: plotBottom)
        svg += axisLabels(axis, y: axisHeight - 9)
        if showBottomAxis { svg += axisLabels(axis, y: height - 8) }

        var y = plotTop
        var rowPositions: [RowKey: (y: Double, start: Double, end: Double)] = [:]
        var zebra = false
        for lane in lanes {
            svg += laneHeader(lane.title, span: lane.span, y: y)
            if lane.title == "Rollback", let span = lane.span {
                let x = xPosition(span.start, axis)
                svg += """
                    <line class="marker-line" x1="\(Markup.n(x))" y1="\(Markup.n(plotTop))" x2="\(Markup.n(x))" \
                    y2="\(Markup.n(plotBottom))"><title>Rollback started at \(Markup.offset(span.start))</title></line>
                    """
            }
            y += laneHeight
            for step in lane.steps {
                if zebra { svg += "<rect class=\"zebra\" x=\"0\" y=\"\(Markup.n(y))\" width=\"\(Markup.n(width))\" height=\"\(Markup.n(rowHeight))\"/>" }
                zebra.toggle()
                svg += row(step, y: y, axis: axis)
                rowPositions[RowKey(index: step.index, phase: step.phase), default: (y, step.start, step.end)] = (y, step.start, step.end)
                y += rowHeight
            }
        }
        // Nothing runs inside a break, so drawing it over the rows hides no bar.
        svg += breaks(axis, top: plotTop, bottom: plotBottom)
        svg += checkMarkers(rowPositions, axis: axis)
        svg += attemptMarkers(axis, top: plotTop, bottom: plotBottom)
        svg += "</svg>"
        return svg
    }

    struct RowKey: Hashable {
        var index: Int
        var phase: String
    }

    /// Hatching for undo bars, stripes for steps that did not finish; the page holds
    /// them once, outside any collapsible section, so every chart can use them
    /// (gantt-defs.svg beside this file, embedded in the binary).
    static let defs = String(decoding: PackageResources.gantt_defs_svg, as: UTF8.self)

    func xPosition(_ seconds: Double, _ axis: TimeScale) -> Double { axis.x(seconds) }

    func grid(_ axis: TimeScale, top: Double, bottom: Double) -> String {
        axis.ticks.map { t in
            let x = Markup.n(xPosition(t, axis))
            return "<line class=\"grid\" x1=\"\(x)\" y1=\"\(Markup.n(top))\" x2=\"\(x)\" y2=\"\(Markup.n(bottom))\"/>"
        }.joined()
    }

    func axisLabels(_ axis: TimeScale, y: Double) -> String {
        var out = "<text class=\"axis-title\" x=\"\(Markup.n(plotLeft - 8))\" y=\"\(Markup.n(y))\" text-anchor=\"end\">"
        out += run.simulatedTime ? "simulated time" : "elapsed"
        out += "</text>"
        let ticks = axis.ticks
        for (i, t) in ticks.enumerated() {
            let anchor = i == 0 ? "start" : (i == ticks.count - 1 ? "end" : "middle")
            out += "<text class=\"axis\" x=\"\(Markup.n(xPosition(t, axis)))\" y=\"\(Markup.n(y))\" text-anchor=\"\(anchor)\">\(axis.axis.label(t))</text>"
        }
        return out
    }

    /// A long idle stretch drawn narrow: a grey band between two zigzags, labelled
    /// with how long nothing ran.
    func breaks(_ axis: TimeScale, top: Double, bottom: Double) -> String {
        axis.breaks.map { gap in
            let left = gap.x0 + 8
            let right = gap.x1 - 8
            return """
                <g class="break"><rect x="\(Markup.n(left))" y="\(Markup.n(top))" width="\(Markup.n(right - left))" height="\(Markup.n(bottom - top))"/>\
                <path d="\(zigzag(x: left, top: top, bottom: bottom)) \(zigzag(x: right, top: top, bottom: bottom))"/>\
                <text class="break-label" x="\(Markup.n((left + right) / 2))" y="\(Markup.n(top - 9))" text-anchor="middle">\
                \(TimeAxis.compact(gap.seconds)) idle</text>\
                <title>Nothing ran for \(DurationText.format(gap.seconds)); this stretch is drawn short.</title></g>
                """
        }.joined()
    }

    func zigzag(x: Double, top: Double, bottom: Double) -> String {
        var path = "M\(Markup.n(x)) \(Markup.n(top))"
        var y = top
        var out = true
        while y < bottom {
            y = min(bottom, y + 5)
            path += " L\(Markup.n(out ? x + 3 : x)) \(Markup.n(y))"
            out.toggle()
        }
        return path
    }

    func laneHeader(_ title: String, span: PhaseSpan?, y: Double) -> String {
        let cls = title == "Rollback" ? "lane lane-undo" : "lane"
        var summary = ""
        if let span {
            summary = "\(Markup.plural(span.steps, "step")) · \(DurationText.format(span.duration))"
            if span.failedSteps > 0 { summary += " · \(span.failedSteps) failed" }
        }
        return """
            <rect class="\(cls)" x="0" y="\(Markup.n(y + 4))" width="\(Markup.n(width))" height="\(Markup.n(laneHeight - 6))" rx="3"/>\
            <text class="lane-title" x="10" y="\(Markup.n(y + 21))">\(title)</text>\
            <text class="lane-summary" x="\(Markup.n(width - 10))" y="\(Markup.n(y + 21))" text-anchor="end">\(summary)</text>
            """
    }

    func row(_ step: StepTimeline, y: Double, axis: TimeScale) -> String {
        let undo = step.phase == "undo"
        let mid = y + rowHeight / 2
        let failed = step.isFailure || step.hostsFailed > 0
        var out = "<g class=\"row\">"

        // Label: status dot, position, name.
        let dot = step.isFailure ? "dot-failed" : step.status == "done" ? (undo ? "dot-undo" : "dot-done") : "dot-other"
        out += "<circle class=\"\(dot)\" cx=\"14\" cy=\"\(Markup.n(mid))\" r=\"4.5\"/>"
        let name = Markup.escape(Markup.truncate(step.name, 40))
        out += "<text class=\"label\(step.isFailure ? " label-failed" : "")\" x=\"26\" y=\"\(Markup.n(mid + 4))\">"
        out += "<tspan class=\"step-no\">\(step.index + 1).</tspan> \(undo ? "<tspan class=\"undo-tag\">undo</tspan> " : "")\(name)"
        out += "<title>\(Markup.escape(step.name + (step.desc.map { "\n" + $0 } ?? "")))</title></text>"

        // The step's bar, its waves inside.
        let x0 = xPosition(step.start, axis)
        let x1 = max(x0 + 2, xPosition(step.end, axis))
        let top = y + (rowHeight - barHeight) / 2
        let base = undo ? "bar-undo" : "bar-run"
        let tip = Markup.escape(tooltip(step))
        if step.status == "skipped" {
            out += "<path class=\"skipped\" d=\"M\(Markup.n(x0)) \(Markup.n(mid - 5)) l5 5 l-5 5 l-5 -5 z\"><title>\(tip)</title></path>"
        } else if step.waves.isEmpty {
            let cls = step.isFailure ? "bar-failed" : base
            out += "<rect class=\"\(cls)\" x=\"\(Markup.n(x0))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(x1 - x0))\" height=\"\(Markup.n(barHeight))\" rx=\"2\"><title>\(tip)</title></rect>"
        } else {
            out += "<rect class=\"envelope \(base)-envelope\(step.isFailure ? " envelope-failed" : "")\" x=\"\(Markup.n(x0))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(x1 - x0))\" height=\"\(Markup.n(barHeight))\" rx=\"2\"><title>\(tip)</title></rect>"
            for (i, wave) in step.waves.enumerated() {
                let w0 = xPosition(wave.start, axis)
                let w1 = max(w0 + 1, xPosition(wave.end, axis))
                let shade = i % 2 == 0 ? "a" : "b"
                let cls = wave.failed > 0 ? "wave-failed" : "\(base) wave-\(shade)"
                let tag = wave.attempt.map { " data-attempt=\"\($0)\"" } ?? ""
                out += "<rect class=\"\(cls)\"\(tag) x=\"\(Markup.n(w0))\" y=\"\(Markup.n(top + 2))\" width=\"\(Markup.n(w1 - w0))\" height=\"\(Markup.n(barHeight - 4))\"><title>\(Markup.escape(waveTooltip(step, wave)))</title></rect>"
            }
        }
        if undo && step.status != "skipped" {
            out += "<rect class=\"hatch\" x=\"\(Markup.n(x0))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(x1 - x0))\" height=\"\(Markup.n(barHeight))\" pointer-events=\"none\"/>"
        }
        if !step.finished && step.status != "skipped" {
            let w = min(24, x1 - x0)
            out += "<rect fill=\"url(#unfinished)\" x=\"\(Markup.n(x1 - w))\" y=\"\(Markup.n(top))\" width=\"\(Markup.n(w))\" height=\"\(Markup.n(barHeight))\" pointer-events=\"none\"/>"
        }

        // Right column: duration, hosts, failures.
        let infoX = plotRight + 14
        out += "<text class=\"info\" x=\"\(Markup.n(infoX))\" y=\"\(Markup.n(mid + 4))\">"
        out += "<tspan class=\"dur\">\(step.status == "skipped" ? "skipped" : DurationText.format(step.duration))</tspan>"
        if step.hostsTotal > 0 {
            out += "<tspan class=\"hosts\"> · \(Markup.plural(step.hostsTotal, "host"))</tspan>"
        }
        if failed {
            var what: [String] = []
            if step.hostsFailed > 0 { what.append("\(Markup.count(step.hostsFailed)) failed") }
            if step.isFailure && (step.hostsFailed == 0 || step.status != "failed") { what.append(step.status) }
            out += "<tspan class=\"fail-text\"> · \(what.joined(separator: ", "))</tspan>"
        }
        out += "<title>\(tip)</title></text></g>"
        return out
    }

    /// Failed checks at the time they gave up, on the row of their step: a red diamond
    /// when the step failed, a small amber mark above the bar when the step got past
    /// it (a gate that held a wave), so a busy adaptive gate does not hide the waves.
    func checkMarkers(_ rows: [RowKey: (y: Double, start: Double, end: Double)], axis: TimeScale) -> String {
        var out = ""
        for check in run.checks where !check.passed {
            guard let step = run.step(of: check), let row = rows[RowKey(index: step.index, phase: step.phase)] else { continue }
            let x = xPosition(check.at, axis)
            let recovered = run.recovered(check)
            var tip = "check \(check.name) (\(check.phase)) failed at \(Markup.offset(check.at)) after \(Markup.plural(check.attempts, "attempt"))"
            tip += check.message.map { ": \($0)" } ?? ""
            if recovered { tip += "\nthe step went on when it passed again" }
            if recovered {
                let top = row.y + (rowHeight - barHeight) / 2
                out += "<path class=\"check-recovered\" d=\"M\(Markup.n(x - 3.5)) \(Markup.n(top - 5)) h7 l-3.5 5 z\"><title>\(Markup.escape(tip))</title></path>"
            } else {
                let cy = row.y + rowHeight / 2
                out += "<path class=\"check-failed\" d=\"M\(Markup.n(x)) \(Markup.n(cy - 7)) l6 7 l-6 7 l-6 -7 z\"><title>\(Markup.escape(tip))</title></path>"
            }
        }
        return out
    }

    /// Where each process of a resumed run stopped (red, with how: killed, failed,
    /// interrupted, waiting) and where the next one resumed it (green), over every row.
    func attemptMarkers(_ axis: TimeScale, top: Double, bottom: Double) -> String {
        var out = ""
        for (attempt, next) in zip(run.attempts, run.attempts.dropFirst()) {
            let how = attempt.stop ?? "stopped"
            var tip = "Attempt \(attempt.number) \(how == "killed" ? "was killed" : "stopped (\(how))") at \(Markup.offset(attempt.end))"
            if how == "killed" { tip += ": the journal holds no stop; the process went away" }
            if let why = attempt.stopMessage, !why.isEmpty { tip += ": " + why }
            let x = xPosition(attempt.end, axis)
            out += "<g class=\"attempt-stop\" data-attempt=\"\(attempt.number)\" data-at=\"\(Markup.n(attempt.end))\">"
            out += "<line class=\"marker-stop\" x1=\"\(Markup.n(x))\" y1=\"\(Markup.n(top))\" x2=\"\(Markup.n(x))\" y2=\"\(Markup.n(bottom))\"/>"
            out += "<path class=\"marker-stop-head\" d=\"M\(Markup.n(x - 10)) \(Markup.n(top + 4)) l8 8 m0 -8 l-8 8\"/>"
            out += "<title>\(Markup.escape(tip))</title></g>"
            let rx = xPosition(next.start, axis)
            let resumeTip = "Attempt \(next.number): resumed at \(Markup.offset(next.start)) (ferry resume)"
            out += "<g class=\"attempt-resume\" data-attempt=\"\(next.number)\" data-at=\"\(Markup.n(next.start))\">"
            out += "<line class=\"marker-resume\" x1=\"\(Markup.n(rx))\" y1=\"\(Markup.n(top))\" x2=\"\(Markup.n(rx))\" y2=\"\(Markup.n(bottom))\"/>"
            out += "<path class=\"marker-resume-head\" d=\"M\(Markup.n(rx + 1)) \(Markup.n(top + 3)) l8 5 l-8 5 z\"/>"
            out += "<title>\(Markup.escape(resumeTip))</title></g>"
        }
        return out
    }

    func tooltip(_ step: StepTimeline) -> String {
        var lines = ["\(step.index + 1). \(step.phase == "undo" ? "undo " : "")\(step.name) — \(step.status)"]
        if let desc = step.desc, !desc.isEmpty { lines.append(Markup.truncate(desc, 200)) }
        lines.append("\(Markup.offset(step.start)) → \(Markup.offset(step.end)), \(DurationText.format(step.duration))")
        if step.hostsTotal > 0 {
            var hosts = "\(Markup.count(step.hostsOK))/\(Markup.count(step.hostsTotal)) hosts ok"
            if step.hostsFailed > 0 { hosts += ", \(Markup.count(step.hostsFailed)) failed" }
            if step.hostsRetried > 0 { hosts += ", \(Markup.count(step.hostsRetried)) retried" }
            lines.append(hosts)
            let numbered = step.waves.filter { $0.number != nil }.count
            if numbered > 0 { lines.append(Markup.plural(numbered, "wave")) }
        }
        if let message = step.message, !message.isEmpty { lines.append(Markup.truncate(message, 300)) }
        return lines.joined(separator: "\n")
    }

    func waveTooltip(_ step: StepTimeline, _ wave: WaveSpan) -> String {
        let attempt = wave.attempt.map { " of attempt \($0)" } ?? ""
        var lines = ["\(step.name): \(wave.number.map { "wave \($0)" } ?? "hosts")\(attempt) — \(Markup.plural(wave.hosts, "host"))"]
        lines.append("\(Markup.offset(wave.start)) → \(Markup.offset(wave.end)), \(DurationText.format(wave.duration))")
        var result = "\(Markup.count(wave.ok)) ok"
        if wave.failed > 0 { result += ", \(Markup.count(wave.failed)) failed" }
        if wave.unfinished > 0 { result += ", \(Markup.count(wave.unfinished)) unfinished" }
        lines.append(result)
        if let mean = wave.meanHostSeconds { lines.append("mean per host \(DurationText.format(mean))") }
        if let host = wave.slowestHost, let seconds = wave.slowestHostSeconds {
            lines.append("slowest \(host) \(DurationText.format(seconds))")
        }
        return lines.joined(separator: "\n")
    }
}
