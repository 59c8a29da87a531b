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

    static let runbook = """
        runbook { name = "drill-banner" }
        step "migrate" { run = function(ctx) end }
        step "restart" { run = function(ctx) end, undo = function(ctx) end }
        """

    /// A drill's repetition rolled back cleanly (leaving an irreversible step, which the
    /// journal notes): the run's page says it is expected, with no red error banner.
    @Test func cleanRollbackOfADrillRepetitionIsShownAsExpected() async throws {
        let f = try Fixture(runbook: Self.runbook)
        let engine = try await f.engine()
        var options = RunOptions()
        options.drill = "drill-banner-" + UUID().uuidString.prefix(8).lowercased()
        options.repetition = 1
        let outcome = try await engine.run(options)
        #expect(outcome.status == .succeeded)
        #expect(try await engine.rollback(outcome.runID, yes: true).status == .rolledBack)
        try await engine.journal.flush()

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
        let engine = try await f.engine()
        var options = RunOptions()
        options.drill = "drill-banner-" + UUID().uuidString.prefix(8).lowercased()
        options.repetition = 1
        let outcome = try await engine.run(options)
        #expect(outcome.status == .failed)
        _ = try await engine.rollback(outcome.runID, yes: true)
        try await engine.journal.flush()
        let page = HTMLReport.render(try await Report.load(outcome.runID, from: engine.journal))
        #expect(!page.contains("<div class=\"notice notice-expected\""))
        #expect(page.contains("<div class=\"alert\"><strong>rolled back</strong>"))
    }
}
