@testable import FerryCore
import Foundation
import LuaBridge
import Testing

/// Issue 15, the report of a resumed run: each attempt's waves apart, and where the run
/// stopped (or was killed) and where it was resumed on the timeline.
@Suite struct ReportResumeTests {
    /// The issue's case, journaled on a virtual clock: waves of three hosts, 5 s each; the
    /// process is killed while wave 3 runs (no stop journaled), resumed 110 s later, and
    /// the resume runs the rest as its own wave 1. Wave 1 used to "last" 125 s.
    static func killedAndResumed() async throws -> (journal: RunJournal, runID: String, origin: Double) {
        let directory = NSTemporaryDirectory() + "ferry-report-resume-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let journal = try RunJournal(path: directory + "/journal.db")
        let origin = 1_800_000_000.0
        let clock = VirtualClock(start: origin)
        journal.clock = clock
        let runID = RunJournal.newRunID()
        var options = RunOptions()
        options.virtualTime = true
        let start = Date(timeIntervalSince1970: origin)
        try await journal.createRun(RunRecord(
            id: runID, runbook: directory + "/runbook.lua", runbookName: "resume-waves", fingerprint: "f", regionFile: nil,
            regionName: "test", status: .running, options: options, pid: 0, startedAt: start, updatedAt: start, endedAt: nil,
            state: .map([:]), message: nil, kind: "run"))
        func wave(_ hosts: [String], _ number: Int, finish: Bool = true) async throws {
            for h in hosts { try await journal.hostStarted(runID, 0, .run, host: h, attempt: 1, wave: number) }
            guard finish else { return }
            clock.advance(5, host: nil)
            for h in hosts {
                try await journal.hostFinished(runID, 0, .run, host: h, ok: true, attempts: 1, duration: 5, message: nil,
                                               exitCode: 0, stdout: nil, stderr: nil, hostState: nil)
            }
        }
        try await journal.stepStarted(runID, 0, .run, name: "restart-agents", hostsTotal: 9)
        try await wave(["h1", "h2", "h3"], 1)
        try await wave(["h4", "h5", "h6"], 2)
        try await wave(["h7", "h8", "h9"], 3, finish: false)
        clock.advance(2, host: nil)
        // Killed here: nothing more is journaled. 108 s later, `ferry resume`.
        clock.advance(108, host: nil)
        journal.event(runID, kind: "resume", message: "resumed by process 4242")
        try await journal.stepStarted(runID, 0, .run, name: "restart-agents", hostsTotal: 9)
        try await wave(["h7", "h8", "h9"], 1)
        try await journal.stepFinished(runID, 0, .run, name: "restart-agents", status: .done, message: nil, state: nil,
                                       hostsOK: 9, hostsFailed: 0)
        try await journal.setRunStatus(runID, .succeeded, ended: true)
        try await journal.flush()
        return (journal, runID, origin)
    }

    @Test func wavesOfEachAttemptStayApartAndTheKillIsOnTheTimeline() async throws {
        let (journal, runID, _) = try await Self.killedAndResumed()
        let report = try await Report.load(runID, from: journal)

        // The JSON, parsed: every wave lasts what its hosts took, each in its attempt.
        let object = try #require(try JSONSerialization.jsonObject(with: try report.jsonData()) as? [String: Any])
        let run = try #require((object["runs"] as? [[String: Any]])?.first)
        let step = try #require((run["steps"] as? [[String: Any]])?.first)
        let waves = try #require(step["waves"] as? [[String: Any]])
        let pairs = waves.map { ($0["attempt"] as? Int ?? 0, $0["number"] as? Int ?? 0) }
        #expect(pairs.map(\.0) == [1, 1, 2] && pairs.map(\.1) == [1, 2, 1], "\(pairs)")
        for wave in waves {
            #expect(abs((wave["duration"] as? Double ?? -1) - 5) < 0.001, "\(wave)")
            #expect(wave["hosts"] as? Int == 3)
        }
        let attempts = try #require(run["attempts"] as? [[String: Any]])
        #expect(attempts.count == 2)
        #expect(attempts.first?["stop"] as? String == "killed")
        let stoppedAt = try #require(attempts.first?["end"] as? Double)
        let resumedAt = try #require(attempts.last?["start"] as? Double)
        // The first attempt was last seen when wave 2 finished; the resume came later.
        let secondWave = try #require(waves.first { $0["attempt"] as? Int == 1 && $0["number"] as? Int == 2 })
        #expect(abs(stoppedAt - (secondWave["end"] as? Double ?? -1)) < 0.001)
        #expect(resumedAt > stoppedAt)
        let resumedWave = try #require(waves.first { $0["attempt"] as? Int == 2 })
        #expect(resumedWave["start"] as? Double ?? -1 >= resumedAt)
        #expect(attempts.last?["stop"] == nil)

        // The page: each attempt's wave bars, a stop marker where the first attempt was last
        // seen, a resume marker where the second began, and the attempts named.
        let page = HTMLReport.render(report)
        let gantt = try #require(SVGElements.svg(page, class: "gantt"))
        let stops = SVGElements.elements(gantt, tag: "g", class: "attempt-stop")
        let resumes = SVGElements.elements(gantt, tag: "g", class: "attempt-resume")
        #expect(stops.count == 1 && resumes.count == 1)
        #expect(abs((Double(stops.first?["data-at"] ?? "") ?? -1) - stoppedAt) < 0.01)
        #expect(abs((Double(resumes.first?["data-at"] ?? "") ?? -1) - resumedAt) < 0.01)
        #expect(SVGElements.elements(gantt, tag: "rect", class: nil).filter { $0["data-attempt"] != nil }.count == 3)
        #expect(gantt.contains("was killed"))
        #expect(page.contains("<h2>Attempts</h2>"))
        #expect(page.contains("resumed"))
    }

    /// A run that failed and was resumed: the engine journals where it stopped and why.
    /// On a simulated clock a stop and the next resume often share an instant: the stop belongs to the attempt
    /// journaled before the resume (by the journal's order), which it ends.
    @Test func aStopAtTheInstantOfTheNextResumeEndsTheAttemptBeforeIt() async throws {
        let (journal, runID, origin) = try await Self.killedAndResumed()
        // A third attempt: the second one stops waiting for an approval, and the next resume comes at that instant.
        let clock = try #require(journal.clock as? VirtualClock)
        clock.advance(30, host: nil)
        journal.event(runID, kind: "stopped", message: "waiting: step 2 needs an approval")
        journal.event(runID, kind: "resume", message: "resumed by process 4243")
        try await journal.flush()
        let run = try #require(try await Report.load(runID, from: journal).runs.first)
        #expect(run.attempts.map(\.number) == [1, 2, 3])
        #expect(run.attempts[0].stop == "killed")
        #expect(run.attempts[1].stop == "waiting", "\(run.attempts.map { $0.stop ?? "-" })")
        #expect(run.attempts[1].stopMessage == "step 2 needs an approval")
        // The attempt lasts until its stop, not only until the last host it saw.
        let stoppedAt = clock.seconds - origin
        #expect(abs(run.attempts[1].end - stoppedAt) < 0.01, "\(run.attempts[1].end) vs \(stoppedAt)")
    }

    @Test func aFailedAttemptIsMarkedWithWhyItStopped() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "resume-report" }
            step "hosts" {
              on = "computes", batch = 3, parallel = 3, max_fail = 0,
              run = function(host, ctx)
                if host.name == "cmp005" and host:run("test -e " .. ctx.vars.out .. "/fixed", { check = false }).code ~= 0 then
                  fail("cmp005 not ready")
                end
              end,
            }
            """)
        let engine = try await f.engine()
        let first = try await engine.run(RunOptions())
        #expect(first.status == .failed)
        FileManager.default.createFile(atPath: f.out + "/fixed", contents: nil)
        #expect(try await engine.resume(first.runID).status == .succeeded)
        try await engine.journal.flush()

        let run = try #require(try await Report.load(first.runID, from: engine.journal).runs.first)
        #expect(run.attempts.map(\.number) == [1, 2])
        #expect(run.attempts.first?.stop == "failed")
        #expect(run.attempts.first?.stopMessage?.contains("cmp005 not ready") == true)
        let step = try #require(run.steps.first)
        // No wave holds more hosts than the batch, and every wave is one attempt's.
        #expect(step.waves.allSatisfy { $0.hosts <= 3 }, "\(step.waves.map(\.hosts))")
        #expect(step.waves.filter { $0.number == 1 }.compactMap(\.attempt) == [1, 2])
        for wave in step.waves {
            let attempt = try #require(run.attempts.first { $0.number == wave.attempt })
            #expect(wave.start >= attempt.start - 0.001 && wave.end <= attempt.end + 0.001)
        }
    }
}

/// Reads elements of an SVG in a report page: the page's SVG is generated markup with
/// double-quoted attributes, so a small reader is enough.
enum SVGElements {
    /// The first `<svg class="NAME" …>…</svg>` in the page.
    static func svg(_ page: String, class name: String) -> String? {
        guard let start = page.range(of: "<svg class=\"\(name)\"") else { return nil }
        guard let end = page.range(of: "</svg>", range: start.upperBound..<page.endIndex) else { return nil }
        return String(page[start.lowerBound..<end.upperBound])
    }

    /// The attributes of every `<TAG …>` whose class list holds `class` (any when nil).
    static func elements(_ svg: String, tag: String, class name: String?) -> [[String: String]] {
        var out: [[String: String]] = []
        var rest = svg[...]
        while let open = rest.range(of: "<\(tag) ") {
            guard let close = rest.range(of: ">", range: open.upperBound..<rest.endIndex) else { break }
            let attributes = attributes(String(rest[open.upperBound..<close.lowerBound]))
            if name == nil || (attributes["class"] ?? "").split(separator: " ").contains(Substring(name!)) { out.append(attributes) }
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func attributes(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        var rest = text[...]
        while let eq = rest.range(of: "=\"") {
            let key = rest[..<eq.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let end = rest.range(of: "\"", range: eq.upperBound..<rest.endIndex) else { break }
            out[key] = String(rest[eq.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// The text of every `<text …>…</text>` whose class list holds `class`, with its attributes.
    static func texts(_ svg: String, class name: String) -> [(attributes: [String: String], text: String)] {
        var out: [(attributes: [String: String], text: String)] = []
        var rest = svg[...]
        while let open = rest.range(of: "<text ") {
            guard let close = rest.range(of: ">", range: open.upperBound..<rest.endIndex),
                  let end = rest.range(of: "</text>", range: close.upperBound..<rest.endIndex) else { break }
            let attributes = attributes(String(rest[open.upperBound..<close.lowerBound]))
            if (attributes["class"] ?? "").split(separator: " ").contains(Substring(name)) {
                var text = String(rest[close.upperBound..<end.lowerBound])
                if let title = text.range(of: "<title>") { text = String(text[..<title.lowerBound]) }
                out.append((attributes, text))
            }
            rest = rest[end.upperBound...]
        }
        return out
    }
}
