@testable import FerryCore
import Foundation
import Testing

/// Issue 15, the drill's pages: the chart's mean labels never overprint each other, and a
/// repetition's clean rollback is shown as expected, not as an error.
@Suite struct ReportDrillTests {
    struct Box {
        var x, y, width, height: Double
        func intersects(_ o: Box) -> Bool {
            x < o.x + o.width && o.x < x + width && y < o.y + o.height && o.y < y + height
        }
    }

    /// A drill report as `ferry report --json` prints it, with these upgrade and rollback means.
    static func drillJSON(upgrade: Double, rollback: Double) -> String {
        func stats(_ mean: Double) -> String {
            "{\"count\": 2, \"mean\": \(mean), \"min\": \(mean - 1), \"p50\": \(mean - 1), \"p95\": \(mean + 1), \"max\": \(mean + 1)}"
        }
        let reps = (1...2).map { n in
            """
            {"number": \(n), "runID": "r\(n)", "status": "rolled_back", "startedAt": "2026-01-01T00:00:00Z",
             "upgradeSeconds": \(upgrade), "rollbackSeconds": \(rollback),
             "upgradeFailure": [], "rollbackOutcome": [], "failedChecks": []}
            """
        }.joined(separator: ",")
        return """
            {"kind": "drill", "generatedAt": "2026-01-01T00:00:00Z", "runs": [],
             "drill": {"id": "drill-x", "runbook": "rb", "region": "r", "simulatedTime": true, "repetitions": [\(reps)],
                       "upgrade": \(stats(upgrade)), "rollback": \(stats(rollback)), "steps": [], "unjudged": []}}
            """
    }

    @Test(arguments: [(600.0, 600.0), (600.0, 604.0), (600.0, 590.0), (2.0, 0.0), (600.0, 300.0)])
    func meanLabelsNeverOverlap(upgrade: Double, rollback: Double) throws {
        let report = try Report.decode(Data(Self.drillJSON(upgrade: upgrade, rollback: rollback).utf8))
        let page = HTMLReport.render(report)
        let chart = try #require(SVGElements.svg(page, class: "drill-chart"))
        let boxes = SVGElements.elements(chart, tag: "rect", class: "mean-label-box").map { a in
            Box(x: Double(a["x"] ?? "") ?? .nan, y: Double(a["y"] ?? "") ?? .nan,
                width: Double(a["width"] ?? "") ?? .nan, height: Double(a["height"] ?? "") ?? .nan)
        }
        #expect(boxes.count == 2)
        if boxes.count == 2 { #expect(!boxes[0].intersects(boxes[1]), "\(boxes)") }
        // Every box inside the chart, and each label's text inside its box.
        let view = (chart.range(of: "viewBox=\"0 0 ").map { chart[$0.upperBound...] } ?? "").split(separator: "\"").first ?? ""
        let size = view.split(separator: " ").compactMap { Double($0) }
        let labels = SVGElements.texts(chart, class: "mean-label")
        #expect(labels.count == 2)
        for (box, label) in zip(boxes, labels) {
            #expect(box.x >= 0 && box.y >= 0 && box.x + box.width <= size[0] && box.y + box.height <= size[1], "\(box)")
            let x = Double(label.attributes["x"] ?? "") ?? .nan
            let y = Double(label.attributes["y"] ?? "") ?? .nan
            #expect(x >= box.x && x + Double(label.text.count) * 7 <= box.x + box.width + 0.001, "\(label.text)")
            #expect(y - 12 >= box.y - 0.001 && y <= box.y + box.height, "\(label.text)")
        }
        // The baselines of the two texts are a line apart (the overprint the issue showed).
        let baselines = labels.compactMap { Double($0.attributes["y"] ?? "") }
        #expect(baselines.count == 2 && abs(baselines[0] - baselines[1]) >= 14, "\(baselines)")
    }

    /// Far apart, each label sits on its own line (centred on it, no leader).
    @Test func farMeansKeepTheirLabelsOnTheirLines() throws {
        let report = try Report.decode(Data(Self.drillJSON(upgrade: 600, rollback: 200).utf8))
        let chart = try #require(SVGElements.svg(HTMLReport.render(report), class: "drill-chart"))
        let lines = SVGElements.elements(chart, tag: "line", class: nil).filter { ($0["class"] ?? "").hasPrefix("mean-") && $0["class"] != "mean-leader" }
        let boxes = SVGElements.elements(chart, tag: "rect", class: "mean-label-box")
        #expect(lines.count == 2 && boxes.count == 2)
        for (line, box) in zip(lines, boxes) {
            let lineY = Double(line["y1"] ?? "") ?? .nan
            let centre = (Double(box["y"] ?? "") ?? .nan) + (Double(box["height"] ?? "") ?? .nan) / 2
            #expect(abs(lineY - centre) < 0.51)
        }
        #expect(SVGElements.elements(chart, tag: "line", class: "mean-leader").isEmpty)
    }

    /// A drill report with these repetitions' upgrade and rollback times (the means theirs).
    static func drillJSON(upgrades: [Double], rollbacks: [Double]) -> String {
        func stats(_ v: [Double]) -> String {
            let mean = v.reduce(0, +) / Double(v.count)
            return "{\"count\": \(v.count), \"mean\": \(mean), \"min\": \(v.min()!), \"p50\": \(mean), \"p95\": \(v.max()!), \"max\": \(v.max()!)}"
        }
        let reps = zip(upgrades, rollbacks).enumerated().map { i, pair in
            """
            {"number": \(i + 1), "runID": "r\(i + 1)", "status": "rolled_back", "startedAt": "2026-01-01T00:00:00Z",
             "upgradeSeconds": \(pair.0), "rollbackSeconds": \(pair.1),
             "upgradeFailure": [], "rollbackOutcome": [], "failedChecks": []}
            """
        }.joined(separator: ",")
        return """
            {"kind": "drill", "generatedAt": "2026-01-01T00:00:00Z", "runs": [],
             "drill": {"id": "drill-x", "runbook": "rb", "region": "r", "simulatedTime": true, "repetitions": [\(reps)],
                       "upgrade": \(stats(upgrades)), "rollback": \(stats(rollbacks)), "steps": [], "unjudged": []}}
            """
    }

    /// The bars' value labels (issue 15: "4m6s" sat on a mean line): each clear of both mean
    /// lines, of the mean labels' boxes and of every other value label, in the report's one
    /// duration format (as the mean labels: 9m50s → "9m50s", 4m6s → "4m06s"), over its own bar.
    /// A bar just under its mean put its label across the line; so did one just over the other mean.
    @Test(arguments: [
        ([590.0, 610.0], [295.0, 305.0]),   // each bar's top a few pixels under or over its mean line
        ([246.0, 254.0], [244.0, 256.0]),   // both means close together, every label near both lines
        ([600.0, 600.0], [598.0, 600.0]),   // bars at their means
        ([612.0, 100.0, 590.0, 601.0], [300.0, 420.0, 290.0, 320.0]),
        ([20.0, 4000.0], [3950.0, 10.0]),   // a short bar under a tall scale
    ])
    func barValueLabelsKeepClearOfTheMeans(upgrades: [Double], rollbacks: [Double]) throws {
        let report = try Report.decode(Data(Self.drillJSON(upgrades: upgrades, rollbacks: rollbacks).utf8))
        let chart = try #require(SVGElements.svg(HTMLReport.render(report), class: "drill-chart"))
        func number(_ a: [String: String], _ key: String) -> Double { Double(a[key] ?? "") ?? .nan }
        let lines = SVGElements.elements(chart, tag: "line", class: nil)
            .filter { ["mean-run", "mean-undo"].contains($0["class"] ?? "") }
            .map { Box(x: number($0, "x1"), y: number($0, "y1") - 0.75, width: number($0, "x2") - number($0, "x1"), height: 1.5) }
        #expect(lines.count == 2)
        let meanBoxes = SVGElements.elements(chart, tag: "rect", class: "mean-label-box")
            .map { Box(x: number($0, "x"), y: number($0, "y"), width: number($0, "width"), height: number($0, "height")) }
        let bars = SVGElements.elements(chart, tag: "rect", class: nil)
            .filter { ["bar-run", "bar-undo"].contains(($0["class"] ?? "").split(separator: " ").first.map(String.init) ?? "") }
            .map { Box(x: number($0, "x"), y: number($0, "y"), width: number($0, "width"), height: number($0, "height")) }
        let labels = SVGElements.texts(chart, class: "bar-value")
        #expect(labels.count == upgrades.count * 2, "every bar is wide enough for its value here")
        // A 10.5 px label: at most 6.5 px a character, reaching 9 px above its baseline and 3 below.
        let boxes = labels.map { label in
            let width = Double(label.text.count) * 6.5
            return Box(x: number(label.attributes, "x") - width / 2, y: number(label.attributes, "y") - 9, width: width, height: 12)
        }
        let values = zip(upgrades, rollbacks).flatMap { [$0.0, $0.1] }
        for (i, (label, box)) in zip(labels, boxes).enumerated() {
            #expect(label.text == DurationText.format(values[i]), "\(label.text) for \(values[i]) s")
            for line in lines { #expect(!box.intersects(line), "\(label.text) at y \(label.attributes["y"] ?? "") on a mean line \(line)") }
            for mean in meanBoxes { #expect(!box.intersects(mean), "\(label.text) under a mean label") }
            for (j, other) in boxes.enumerated() where j != i {
                #expect(!box.intersects(other), "\(label.text) over \(labels[j].text)")
            }
            // Over its own bar: centred on it, and above its top or inside it.
            if i < bars.count {
                let bar = bars[i]
                #expect(abs(box.x + box.width / 2 - (bar.x + bar.width / 2)) < 0.51)
                #expect(box.y + box.height <= bar.y + bar.height, "\(label.text) below its bar")
            }
            #expect(box.y >= 0, "\(label.text) above the chart")
        }
    }

    /// A drill repetition's page (issue 15): the rows its rollback wrote in "Decisions,
    /// retries and warnings" say they are the undo's ("1. undo switch"), not the upgrade's.
    @Test func rollbackEventsOfARepetitionNameTheUndo() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "drill-undo-rows" }
            check "calm" { probe = function(ctx) return true end }
            step "switch" {
              on = "computes", batch = 2, adaptive = true, gate = "calm",
              run = function(host, ctx) end,
              undo = function(host, ctx) end,
            }
            """)
        let (engine, outcome, rolledBack) = try await Self.repetition(f, drill: "drill-undo-rows")
        #expect(outcome.status == .succeeded)
        #expect(rolledBack == .rolledBack)
        let report = try await Report.load(outcome.runID, from: engine.journal)
        let run = try #require(report.runs.first)
        let undoStart = try #require(run.steps.first { $0.phase == "undo" }?.start)
        let page = HTMLReport.render(report)
        let section = try #require(page.range(of: "<h2>Decisions, retries and warnings</h2>").map { page[$0.upperBound...] })
        let table = section.range(of: "</section>").map { String(section[..<$0.lowerBound]) } ?? String(section)
        let rows = table.components(separatedBy: "</tr>").filter { $0.contains("<span class=\"kind") }
        let upgradeRows = rows.filter { $0.contains("<td>1. switch</td>") }
        let undoRows = rows.filter { $0.contains("<td>1. undo switch</td>") }
        #expect(!upgradeRows.isEmpty && !undoRows.isEmpty, "\(rows)")
        // Each event named by the direction it happened in.
        let upgradeEvents = run.events.filter { $0.stepIndex == 0 && $0.at < undoStart }
        let undoEvents = run.events.filter { $0.stepIndex == 0 && $0.at >= undoStart }
        #expect(upgradeEvents.allSatisfy { $0.phase == nil } && undoEvents.allSatisfy { $0.phase == "undo" })
        #expect(upgradeRows.count == upgradeEvents.count && undoRows.count == undoEvents.count)
    }

    /// Repetition 1 of a drill of `f`'s runbook, then its rollback, the journal flushed.
    static func repetition(_ f: Fixture, drill: String) async throws -> (Engine, RunOutcome, RunRecord.Status) {
        let engine = try await f.engine()
        var options = RunOptions()
        options.drill = drill + "-" + UUID().uuidString.prefix(8).lowercased()
        options.repetition = 1
        let outcome = try await engine.run(options)
        let rolledBack = try await engine.rollback(outcome.runID, yes: true).status
        try await engine.journal.flush()
        return (engine, outcome, rolledBack)
    }

    static let runbook = """
        runbook { name = "drill-banner" }
        step "migrate" { run = function(ctx) end }
        step "restart" { run = function(ctx) end, undo = function(ctx) end }
        """

    /// A drill's repetition rolled back cleanly (leaving an irreversible step, which the
    /// journal notes): the run's page says it is expected, with no red error banner.
    @Test func cleanRollbackOfADrillRepetitionIsShownAsExpected() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let (engine, outcome, rolledBack) = try await Self.repetition(f, drill: "drill-banner")
        #expect(outcome.status == .succeeded)
        #expect(rolledBack == .rolledBack)

        let report = try await Report.load(outcome.runID, from: engine.journal)
        #expect(report.runs.first?.message?.isEmpty == false, "the journal notes the irreversible step")
        let page = HTMLReport.render(report)
        #expect(!page.contains("<div class=\"alert\""), "a red banner for a clean rollback")
        #expect(page.contains("<div class=\"notice notice-expected\"><strong>rolled back, as expected</strong>"))
        #expect(page.contains("the drill rolls back after every upgrade"))
    }

    /// An upgrade that failed and was then rolled back still shows the failure in red.
    @Test func aFailedUpgradeRolledBackKeepsItsRedBanner() async throws {
        let f = try Fixture(runbook: Self.runbook + """

            step "break" { run = function(ctx) fail("the database said no") end }
            """)
        let (engine, outcome, _) = try await Self.repetition(f, drill: "drill-banner")
        #expect(outcome.status == .failed)
        let page = HTMLReport.render(try await Report.load(outcome.runID, from: engine.journal))
        #expect(!page.contains("<div class=\"notice notice-expected\""))
        #expect(page.contains("<div class=\"alert\"><strong>rolled back</strong>"))
    }
}
