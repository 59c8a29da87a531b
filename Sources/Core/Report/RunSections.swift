import Foundation

/// The tables under a run's timeline: what failed, every step, checks, events.
struct RunSections {
    let run: RunTimeline

    func render() -> String {
        failures() + attempts() + approvals() + steps() + checks() + unjudged() + events()
    }

    /// Who or what answered each question: the step's `confirm`, the rollback's.
    func approvals() -> String {
        guard !run.approvals.isEmpty else { return "" }
        var html = "<section><h2>Approvals</h2><table class=\"compact approvals\"><thead><tr><th class=\"num\">At</th>"
        html += "<th>Step</th><th>Decision</th><th>By</th><th>Question</th></tr></thead><tbody>"
        for a in run.approvals {
            let step = a.rollback ? "rollback" : stepName(a.stepIndex)
            let by: String
            switch a.via {
            case "--yes": by = "<code>--yes</code> <span class=\"muted\">(every question of the command)</span>"
            case "--approve": by = "<code>\(Markup.escape(a.by))</code>"
            case "terminal": by = "<strong>\(Markup.escape(a.user ?? ""))</strong> at the terminal"
            default: by = Markup.escape(a.by)
            }
            html += "<tr data-via=\"\(Markup.escape(a.via))\"\(a.decision == "declined" ? " class=\"row-failed\"" : "")>"
            html += "<td class=\"num\">\(Markup.offset(a.at))</td><td>\(Markup.escape(step))</td>"
            html += "<td><span class=\"pill \(a.decision == "approved" ? "pill-ok" : "pill-bad")\">\(a.decision)</span></td>"
            html += "<td>\(by)</td><td class=\"message\">\(Markup.escape(Markup.truncate(a.question, 300)))</td></tr>"
        }
        return html + "</tbody></table></section>"
    }

    /// The processes of a resumed run: when each ran, and how it stopped.
    func attempts() -> String {
        guard run.attempts.count > 1 else { return "" }
        var html = "<section><h2>Attempts</h2><p class=\"muted\">The run was resumed: each attempt is one process. "
        html += "A resume numbers its waves from 1 again; the timeline keeps each attempt's waves apart.</p>"
        html += "<table class=\"compact attempts\"><thead><tr><th class=\"num\">#</th><th class=\"num\">From</th>"
        html += "<th class=\"num\">Last seen</th><th>How it ended</th></tr></thead><tbody>"
        for attempt in run.attempts {
            let ended: String
            switch attempt.stop {
            case nil: ended = "the run's status: " + run.status.replacingOccurrences(of: "_", with: " ")
            case "killed": ended = "killed: the journal holds no stop (the process went away); resumed at the next attempt"
            case let how?: ended = how + (attempt.stopMessage.map { " — " + $0 } ?? "")
            }
            html += "<tr\(attempt.stop == nil ? "" : " class=\"row-stopped\"")><td class=\"num\">\(attempt.number)</td>"
            html += "<td class=\"num\">\(Markup.offset(attempt.start))</td><td class=\"num\">\(Markup.offset(attempt.end))</td>"
            html += "<td class=\"message\">\(Markup.escape(Markup.truncate(ended, 300)))</td></tr>"
        }
        return html + "</tbody></table></section>"
    }

    /// What the simulated region ran without judging: a reader sees what the drill never checked.
    func unjudged() -> String { Self.unjudgedSection(run.unjudged.map { ($0.stepIndex.map { "\($0 + 1). " } ?? "") + ($0.stepName ?? "") }, run.unjudged.map(\.message)) }

    static func unjudgedSection(_ steps: [String], _ messages: [String]) -> String {
        guard !messages.isEmpty else { return "" }
        var html = "<section><h2>Recorded, not judged</h2><p class=\"muted\">The simulation ran these without knowing whether a real "
        html += "host would accept them (each once): a drill checks nothing about them.</p><table class=\"compact\"><thead><tr>"
        html += steps.isEmpty ? "" : "<th>Step</th>"
        html += "<th>Command</th></tr></thead><tbody>"
        for (i, message) in messages.enumerated() {
            html += "<tr>" + (steps.isEmpty ? "" : "<td>\(Markup.escape(steps[i]))</td>")
            html += "<td class=\"message\">\(Markup.escape(message))</td></tr>"
        }
        return html + "</tbody></table></section>"
    }

    /// "4. switch-agents", or "4. undo switch-agents" for its undo (as the timeline and "What failed" write it).
    func stepName(_ index: Int?, undo: Bool = false) -> String {
        guard let index, let step = run.steps.first(where: { $0.index == index }) else { return "" }
        return "\(index + 1). \(undo ? "undo " : "")\(step.name)"
    }

    func failures() -> String {
        let failed = run.steps.filter { $0.isFailure || $0.hostsFailed > 0 }
        guard !failed.isEmpty else { return "" }
        var html = "<section><h2>What failed</h2>"
        for step in failed {
            html += "<div class=\"failure\"><h3>\(step.index + 1). \(step.phase == "undo" ? "undo " : "")\(Markup.escape(step.name)) "
            html += HTMLReport.statusPill(step.status) + " <span class=\"muted\">at \(Markup.offset(step.start))</span></h3>"
            if let message = step.message, !message.isEmpty {
                html += "<p class=\"message\">\(Markup.escape(message))</p>"
            } else if step.status == "interrupted" {
                let unfinished = step.waves.map(\.unfinished).reduce(0, +)
                html += "<p class=\"message\">Running when the run stopped"
                if step.hostsTotal > 0 {
                    html += ": \(Markup.count(step.hostsOK)) of \(Markup.count(step.hostsTotal)) hosts done, \(Markup.count(unfinished)) in flight"
                    html += " (they run again on resume)"
                }
                html += ".</p>"
            }
            if step.failures.count > 0 && step.hostsFailed > 0 {
                html += "<ul class=\"message\">" + step.failureLines.map { "<li>\(Markup.escape($0))</li>" }.joined() + "</ul>"
            }
            if !step.failedHosts.isEmpty {
                html += "<table class=\"compact\"><thead><tr><th>Host</th><th>Wave</th><th class=\"num\">Attempts</th><th class=\"num\">Exit</th><th>Why</th></tr></thead><tbody>"
                for host in step.failedHosts {
                    html += "<tr><td><code>\(Markup.escape(host.host))</code></td><td>\(host.wave.map(String.init) ?? "—")</td>"
                    html += "<td class=\"num\">\(host.attempts)</td><td class=\"num\">\(host.exitCode.map(String.init) ?? "—")</td>"
                    html += "<td class=\"message\">\(Markup.escape(Markup.truncate(host.message ?? "failed", 400)))</td></tr>"
                }
                html += "</tbody></table>"
                if step.hostsFailed > step.failedHosts.count {
                    html += "<p class=\"muted\">and \(Markup.count(step.hostsFailed - step.failedHosts.count)) more; <code>ferry status \(Markup.escape(run.id))</code> lists them.</p>"
                }
            }
            html += "</div>"
        }
        return html + "</section>"
    }

    func steps() -> String {
        var html = "<section><h2>Steps</h2><table><thead><tr><th class=\"num\">#</th><th>Step</th><th>Phase</th><th>Status</th>"
        html += "<th class=\"num\">Start</th><th class=\"num\">Duration</th><th class=\"num\">Hosts ok</th><th class=\"num\">Failed</th>"
        html += "<th class=\"num\">Waves</th><th>Note</th></tr></thead><tbody>"
        for step in run.steps {
            let rowClass = step.isFailure ? " class=\"row-failed\"" : step.phase == "undo" ? " class=\"row-undo\"" : ""
            html += "<tr\(rowClass)><td class=\"num\">\(step.index + 1)</td><td>\(Markup.escape(step.name))"
            if let desc = step.desc, !desc.isEmpty { html += "<div class=\"desc\">\(Markup.escape(Markup.truncate(desc, 300)))</div>" }
            html += "</td>"
            html += "<td>\(step.phase == "undo" ? "rollback" : "upgrade")</td><td>\(HTMLReport.statusPill(step.status))</td>"
            html += "<td class=\"num\">\(Markup.offset(step.start))</td><td class=\"num\">\(DurationText.format(step.duration))</td>"
            if step.hostsTotal > 0 {
                html += "<td class=\"num\">\(Markup.count(step.hostsOK))/\(Markup.count(step.hostsTotal))</td>"
                html += "<td class=\"num\(step.hostsFailed > 0 ? " fail-text" : "")\">\(Markup.count(step.hostsFailed))</td>"
            } else {
                html += "<td class=\"num muted\">—</td><td class=\"num muted\">—</td>"
            }
            let numbered = step.waves.filter { $0.number != nil }.count
            html += "<td class=\"num\">\(numbered > 0 ? String(numbered) : "—")</td>"
            html += "<td class=\"message\">\(Markup.escape(Markup.truncate(step.message ?? "", 200)))</td></tr>"
        }
        return html + "</tbody></table></section>"
    }

    /// Checks folded by name, phase and step: a gate checked after each of twenty
    /// waves is one line that says 20 runs.
    func checks() -> String {
        guard !run.checks.isEmpty else { return "" }
        struct Key: Hashable {
            var name: String
            var phase: String
            var step: Int?
        }
        var order: [Key] = []
        var groups: [Key: [RunTimeline.Check]] = [:]
        for check in run.checks {
            let key = Key(name: check.name, phase: check.phase, step: check.stepIndex)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(check)
        }
        var html = "<section><h2>Checks</h2><table><thead><tr><th>Check</th><th>When</th><th>Step</th><th class=\"num\">Runs</th>"
        html += "<th class=\"num\">Failed</th><th class=\"num\">Time</th><th>Last failure</th></tr></thead><tbody>"
        for key in order {
            let results = groups[key] ?? []
            let failed = results.filter { !$0.passed }
            // Red only when the check ended failed; a gate that failed and passed again did its job.
            let endedFailed = results.last.map { !$0.passed } ?? false
            html += "<tr\(endedFailed ? " class=\"row-failed\"" : "")><td>\(Markup.escape(key.name))</td><td>\(Markup.escape(key.phase))</td>"
            html += "<td>\(Markup.escape(stepName(key.step)))</td><td class=\"num\">\(results.count)</td>"
            html += "<td class=\"num\(failed.isEmpty ? "" : endedFailed ? " fail-text" : " warn-text")\">\(failed.count)</td>"
            html += "<td class=\"num\">\(DurationText.format(results.map(\.duration).reduce(0, +)))</td>"
            let last = failed.last.map { "\(Markup.offset($0.at)): \($0.message ?? "failed")" } ?? ""
            html += "<td class=\"message\">\(Markup.escape(Markup.truncate(last, 200)))</td></tr>"
        }
        return html + "</tbody></table></section>"
    }

    func events() -> String {
        guard !run.events.isEmpty else { return "" }
        let shown = run.events.prefix(150)
        var html = "<section><h2>Decisions, retries and warnings</h2><table class=\"compact\"><thead><tr><th class=\"num\">At</th>"
        html += "<th>Kind</th><th>Step</th><th>Host</th><th>Message</th></tr></thead><tbody>"
        for event in shown {
            let bad = event.level == "error" || event.level == "warn"
            html += "<tr\(event.level == "error" ? " class=\"row-failed\"" : "")><td class=\"num\">\(Markup.offset(event.at))</td>"
            html += "<td><span class=\"kind\(bad ? " kind-warn" : "")\">\(Markup.escape(event.kind))</span></td>"
            html += "<td>\(Markup.escape(stepName(event.stepIndex, undo: event.phase == "undo")))</td><td>\(Markup.escape(event.host ?? ""))</td>"
            html += "<td class=\"message\">\(Markup.escape(Markup.truncate(event.message, 300)))</td></tr>"
        }
        html += "</tbody></table>"
        let hidden = run.events.count - shown.count + run.omittedEvents
        if hidden > 0 { html += "<p class=\"muted\">\(Markup.count(hidden)) more in the journal.</p>" }
        return html + "</section>"
    }
}
