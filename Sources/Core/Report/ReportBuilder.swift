import Foundation

extension RunJournal {
    /// The runs of a drill (those whose options name it), in repetition order.
    public func runs(drill id: String) async throws -> [RunRecord] {
        try await runs(limit: 1_000_000).filter { $0.options.drill == id }.sorted {
            ($0.options.repetition ?? Int.max, $0.startedAt) < ($1.options.repetition ?? Int.max, $1.startedAt)
        }
    }
}

extension Report {
    /// A drill id starts with this; anything else names a run (or `last`).
    public static let drillPrefix = "drill-"

    /// The report of a run (its id, a unique prefix, or `last`) or of a drill (its id).
    public static func load(_ reference: String, from journal: RunJournal, now: Date = Date()) async throws -> Report {
        if reference.hasPrefix(drillPrefix) {
            let runs = try await journal.runs(drill: reference)
            guard !runs.isEmpty else {
                throw FerryError.usage("no run of drill '\(reference)' in the journal \(journal.path)")
            }
            var timelines: [RunTimeline] = []
            for run in runs { timelines.append(try await timeline(run, journal: journal)) }
            return Report(kind: .drill, generatedAt: now, runs: timelines, drill: DrillSummary(id: reference, timelines))
        }
        let run = try await journal.run(reference)
        return Report(kind: .run, generatedAt: now, runs: [try await timeline(run, journal: journal)])
    }

    static func timeline(_ run: RunRecord, journal: RunJournal) async throws -> RunTimeline {
        let records = try await journal.steps(run.id)
        var hostsByStep: [StepKey: [HostRecord]] = [:]
        for (index, phase, host) in try await journal.allHosts(run.id) {
            hostsByStep[StepKey(index: index, phase: phase.rawValue), default: []].append(host)
        }
        let origin = min(run.startedAt, records.compactMap(\.startedAt).min() ?? run.startedAt)
        let clock = OffsetClock(origin: origin)
        let all = try await journal.events(run.id)
        let resumes = all.filter { $0.kind == "resume" }.map(\.at).sorted()
        let live = (run.status == .running || run.status == .rollingBack) && ProcessProbe.isAlive(run.pid)
        let interrupted = (run.status == .running || run.status == .rollingBack) && !live

        let runbook = try await journal.runbook(run.id)
        let steps = records.map { record in
            var step = step(record, hosts: hostsByStep[StepKey(index: record.index, phase: record.phase.rawValue)] ?? [],
                            clock: clock, interrupted: interrupted, resumes: resumes)
            step.desc = runbook?.stepDescriptions[record.name]
            return step
        }.sorted { ($0.phase == "undo" ? 1 : 0, $0.start, $0.index) < ($1.phase == "undo" ? 1 : 0, $1.start, $1.index) }
        let names = Dictionary(records.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })

        let checks = try await journal.checks(run.id).map { c in
            RunTimeline.Check(name: c.name, phase: c.phase, stepIndex: c.stepIndex, stepName: c.stepIndex.flatMap { names[$0] },
                        passed: c.passed, message: c.message, at: clock.offset(c.at), duration: c.duration,
                        attempts: c.attempts)
        }
        let unjudged = all.filter { $0.kind == "unjudged" }.map {
            RunTimeline.Unjudged(stepIndex: $0.stepIndex, stepName: $0.stepIndex.flatMap { names[$0] }, host: $0.host, message: $0.message)
        }
        let notable = all.filter { $0.kind != "unjudged" && ($0.kind != "log" || $0.level == "warn" || $0.level == "error") }
        // An event of a step from the time its undo started is the undo's (a rollback's waves,
        // retries and warnings): the journal keys events by step, not by direction.
        let undoStarts = Dictionary(records.filter { $0.phase == .undo }.compactMap { r in r.startedAt.map { (r.index, $0) } },
                                    uniquingKeysWith: min)
        let events = notable.prefix(RunTimeline.Event.limit).map { e in
            let undo = e.stepIndex.flatMap { undoStarts[$0] }.map { e.at >= $0 } ?? false
            return RunTimeline.Event(at: clock.offset(e.at), kind: e.kind, level: e.level, stepIndex: e.stepIndex,
                                     phase: undo ? "undo" : nil, host: e.host, message: e.message)
        }
        // The run's own end time is the wall clock even when steps ran on a simulated
        // clock, so the extent comes from what the steps and checks recorded.
        var duration = steps.map(\.end).max() ?? 0
        duration = max(duration, checks.map(\.at).max() ?? 0)
        if steps.isEmpty, let ended = run.endedAt { duration = clock.offset(ended) }

        return RunTimeline(
            id: run.id, runbook: run.runbookName, runbookPath: run.runbook, region: run.regionName,
            status: interrupted ? "interrupted" : run.status.rawValue, message: run.message, kind: run.kind,
            drill: run.options.drill, repetition: run.options.repetition, simulatedTime: run.options.virtualTime == true,
            startedAt: origin, endedAt: run.endedAt, duration: duration,
            upgrade: span(steps.filter { $0.phase == "run" }), rollback: span(steps.filter { $0.phase == "undo" }),
            steps: steps, checks: checks, events: Array(events), omittedEvents: max(0, notable.count - RunTimeline.Event.limit),
            unjudged: unjudged, inputs: RunInputs.describe(run.options.vars ?? [:]),
            attempts: attempts(resumes, events: all, records: records, hosts: hostsByStep.values.flatMap { $0 },
                               checks: checks, clock: clock),
            runbookDigest: runbook?.digest, runbookCommit: runbook?.gitCommit, runbookVersions: runbook?.version,
            approvals: all.filter { $0.kind == "decision" }.compactMap { approval($0, names: names, clock: clock) })
    }

    /// A `decision` event that decided a question, parsed; nil for other decisions
    /// (waiting for approval, the runbook taken up, nothing to roll back).
    static func approval(_ event: EventRecord, names: [Int: String], clock: OffsetClock) -> RunTimeline.Approval? {
        var text = event.message
        let rollback = text.hasPrefix("rollback ")
        if rollback { text.removeFirst("rollback ".count) }
        let decision: String
        if text.hasPrefix("approved by ") {
            decision = "approved"
        } else if text.hasPrefix("declined by ") {
            decision = "declined"
        } else {
            return nil
        }
        text.removeFirst(decision.count + " by ".count)
        // `BY: question`; BY has no ": " of its own (--yes, --approve STEP, USER at the terminal).
        guard let colon = text.range(of: ": ") else { return nil }
        let by = String(text[..<colon.lowerBound])
        let question = String(text[colon.upperBound...])
        let via: String
        var user: String?
        if by == "--yes" {
            via = "--yes"
        } else if by.hasPrefix("--approve") {
            via = "--approve"
        } else if by.hasSuffix(" at the terminal") {
            via = "terminal"
            user = String(by.dropLast(" at the terminal".count))
        } else {
            via = "other"
        }
        return RunTimeline.Approval(
            at: clock.offset(event.at), stepIndex: event.stepIndex, stepName: event.stepIndex.flatMap { names[$0] },
            decision: decision, by: by, via: via, user: user, question: question, rollback: rollback)
    }

    /// The run's attempts: split at its `resume` events. An attempt a resume followed ends
    /// at the last thing the journal saw before that resume; it stopped as its last
    /// `stopped` event says, or was killed when it journaled none.
    static func attempts(_ resumes: [Date], events: [EventRecord], records: [StepRecord], hosts: [HostRecord],
                         checks: [RunTimeline.Check], clock: OffsetClock) -> [RunTimeline.Attempt]
    {
        guard !resumes.isEmpty else { return [] }
        var seen: [Date] = events.filter { $0.kind != "resume" }.map(\.at)
        seen += records.flatMap { [$0.startedAt, $0.endedAt].compactMap { $0 } }
        seen += hosts.flatMap { [$0.startedAt, $0.endedAt].compactMap { $0 } }
        let offsets = seen.map(clock.offset) + checks.map(\.at)
        let bounds = resumes.map(clock.offset)
        // Events come in the journal's order (by id): the resumes' positions split them.
        let resumeIndices = events.indices.filter { events[$0].kind == "resume" }
        var out: [RunTimeline.Attempt] = []
        var start = 0.0
        for i in 0...bounds.count {
            let next = i < bounds.count ? bounds[i] : Double.infinity
            let inside = offsets.filter { $0 >= start && $0 < next }
            var attempt = RunTimeline.Attempt(number: i + 1, start: start, end: max(start, inside.max() ?? start))
            if i < bounds.count {
                // The attempt's stop is the last `stopped` event journaled between the resume that began it and the
                // one that ended it, by the journal's order: on a simulated clock a stop and the next resume often
                // share an instant, which a comparison of times would give to the wrong attempt.
                let lower = i == 0 ? events.startIndex : (i - 1 < resumeIndices.count ? resumeIndices[i - 1] + 1 : events.endIndex)
                let upper = i < resumeIndices.count ? resumeIndices[i] : events.endIndex
                let stop = lower < upper ? events[lower..<upper].last { $0.kind == "stopped" } : nil
                if let stop { attempt.end = max(attempt.end, clock.offset(stop.at)) }
                if let stop, let colon = stop.message.firstIndex(of: ":") {
                    attempt.stop = String(stop.message[..<colon])
                    attempt.stopMessage = String(stop.message[stop.message.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                } else {
                    attempt.stop = "killed"
                }
                start = next
            }
            out.append(attempt)
        }
        return out
    }

    /// The attempt (from 1) that ran at `date`: one more than the resumes before it.
    static func attempt(at date: Date?, _ resumes: [Date]) -> Int {
        guard let date else { return 1 }
        return 1 + resumes.filter { $0 <= date }.count
    }

    struct StepKey: Hashable {
        var index: Int
        var phase: String
    }

    struct OffsetClock {
        var origin: Date
        /// Seconds since the run's start, to the millisecond.
        func offset(_ date: Date) -> Double { (date.timeIntervalSince(origin) * 1000).rounded() / 1000 }
    }

    static func step(_ record: StepRecord, hosts: [HostRecord], clock: OffsetClock, interrupted: Bool,
                     resumes: [Date] = []) -> StepTimeline
    {
        let start = record.startedAt.map(clock.offset) ?? 0
        // An unfinished step lasts as far as the journal saw its hosts get.
        let lastSeen = hosts.compactMap { $0.endedAt ?? $0.startedAt }.max().map(clock.offset) ?? start
        let end = record.endedAt.map(clock.offset) ?? max(start, lastSeen)
        var status = record.status.rawValue
        if record.status == .running && interrupted { status = "interrupted" }
        let failed = hosts.filter { $0.status == .failed }
        // Distinct messages in the order the hosts failed, each counted over every failed host.
        var counts: [String: Int] = [:]
        var order: [String] = []
        for h in failed.sorted(by: { ($0.endedAt ?? .distantFuture, $0.host) < ($1.endedAt ?? .distantFuture, $1.host) }) {
            // The same failure on two hosts is one message: the host's own name is taken out.
            var message = h.message ?? "failed"
            if let r = message.range(of: "\(h.host): ") { message.removeSubrange(r) }
            if counts[message] == nil { order.append(message) }
            counts[message, default: 0] += 1
        }
        var timeline = StepTimeline(
            index: record.index, name: record.name, phase: record.phase.rawValue, status: status, start: start, end: end,
            duration: max(0, end - start), finished: record.endedAt != nil && record.status != .running,
            hostsTotal: max(record.hostsTotal, hosts.count),
            hostsOK: hosts.isEmpty ? record.hostsOK : hosts.filter { $0.status == .ok }.count,
            hostsFailed: hosts.isEmpty ? record.hostsFailed : failed.count,
            hostsRetried: hosts.filter { $0.attempts > 1 }.count, message: record.message,
            waves: waves(hosts, clock: clock, resumes: resumes),
            failedHosts: failed.prefix(StepTimeline.failedHostLimit).map {
                StepTimeline.FailedHost(host: $0.host, wave: $0.wave, attempts: $0.attempts, exitCode: $0.exitCode, message: $0.message)
            })
        timeline.failures = order.prefix(StepTimeline.failureLimit).map { StepTimeline.Failure(message: $0, hosts: counts[$0] ?? 0) }
        return timeline
    }

    /// Hosts folded into their waves: a step of thousands of hosts is a handful of bars.
    /// After a resume, a wave is the wave of one attempt: the resume numbers its waves
    /// from 1 again, and the two attempts' wave 1 are two bars, not one that spans the gap.
    static func waves(_ hosts: [HostRecord], clock: OffsetClock, resumes: [Date] = []) -> [WaveSpan] {
        struct Key: Hashable {
            var attempt: Int
            var wave: Int?
        }
        let grouped = Dictionary(grouping: hosts.filter { $0.startedAt != nil }) {
            Key(attempt: attempt(at: $0.startedAt, resumes), wave: $0.wave)
        }
        return grouped.keys.sorted { ($0.attempt, $0.wave ?? 0) < ($1.attempt, $1.wave ?? 0) }.map { key in
            let number = key.wave
            let members = grouped[key] ?? []
            let start = members.compactMap(\.startedAt).min().map(clock.offset) ?? 0
            let end = members.compactMap { $0.endedAt ?? $0.startedAt }.max().map(clock.offset) ?? start
            let timed = members.compactMap { h in h.duration.map { (h.host, $0) } }
            let slowest = timed.max { $0.1 < $1.1 }
            return WaveSpan(
                number: number, attempt: resumes.isEmpty ? nil : key.attempt, hosts: members.count, ok: members.filter { $0.status == .ok }.count,
                failed: members.filter { $0.status == .failed }.count,
                unfinished: members.filter { $0.status == .started }.count, start: start, end: end,
                duration: max(0, end - start),
                meanHostSeconds: timed.isEmpty ? nil : timed.map(\.1).reduce(0, +) / Double(timed.count),
                slowestHost: slowest?.0, slowestHostSeconds: slowest?.1)
        }
    }

    static func span(_ steps: [StepTimeline]) -> PhaseSpan? {
        guard let start = steps.map(\.start).min(), let end = steps.map(\.end).max() else { return nil }
        return PhaseSpan(start: start, end: end, duration: end - start, steps: steps.count,
                         failedSteps: steps.filter(\.isFailure).count, failedHosts: steps.map(\.hostsFailed).reduce(0, +))
    }
}

extension DrillSummary {
    /// What the rollback of a run came to, for the drill's summary.
    static func failedChecks(_ run: RunTimeline) -> [String] {
        let when = [Drill.afterUpgrade: "after the upgrade", Drill.afterRollback: "after the rollback"]
        return run.checks.filter { !$0.passed && $0.stepIndex == nil }.compactMap { c in
            when[c.phase].map { "check \(c.name) failed \($0): \(c.message ?? "failed")" }
        }
    }

    static func rollbackOutcome(_ run: RunTimeline) -> [String] {
        guard let back = run.rollback else { return ["no rollback ran (\(run.status.replacingOccurrences(of: "_", with: " ")))"] }
        if let failed = run.steps.first(where: { $0.phase == "undo" && $0.isFailure }) {
            return ["rollback failed at undo \(failed.name):"] + failed.failureLines.map { "  " + $0 }
        }
        return ["\(run.status == "rolled_back" ? "rolled back" : run.status.replacingOccurrences(of: "_", with: " ")) in \(DurationText.format(back.duration)) (\(back.steps) undo step\(back.steps == 1 ? "" : "s"))"]
    }

    /// Compares the repetitions: a phase counts in the statistics only where it finished
    /// without a failed step, so an aborted repetition does not pass for a fast one.
    init(id: String, _ runs: [RunTimeline]) {
        self.id = id
        runbook = runs.first?.runbook ?? ""
        region = runs.first?.region ?? ""
        simulatedTime = runs.contains { $0.simulatedTime }
        repetitions = runs.enumerated().map { position, run in
            Repetition(
                number: run.repetition ?? position + 1, runID: run.id, status: run.status, startedAt: run.startedAt,
                upgradeSeconds: run.upgrade?.duration, rollbackSeconds: run.rollback?.duration,
                failedStep: run.steps.first(where: \.isFailure).map { ($0.phase == "undo" ? "undo " : "") + $0.name },
                message: run.message,
                upgradeFailure: run.steps.first { $0.phase == "run" && $0.isFailure }?.failureLines ?? [],
                rollbackOutcome: Self.rollbackOutcome(run), failedChecks: Self.failedChecks(run))
        }
        var seen = Set<String>()
        unjudged = runs.flatMap { $0.unjudged.map(\.message) }.filter { seen.insert($0).inserted }
        upgrade = DurationStatistics(runs.compactMap { run in run.upgrade.flatMap { $0.failedSteps == 0 ? $0.duration : nil } })
        rollback = DurationStatistics(runs.compactMap { run in run.rollback.flatMap { $0.failedSteps == 0 ? $0.duration : nil } })

        var names: [Int: String] = [:]
        var times: [Int: (run: [Double], undo: [Double])] = [:]
        for run in runs {
            for step in run.steps where step.finished && step.status == "done" {
                names[step.index] = names[step.index] ?? step.name
                if step.phase == "undo" {
                    times[step.index, default: ([], [])].undo.append(step.duration)
                } else {
                    times[step.index, default: ([], [])].run.append(step.duration)
                }
            }
        }
        steps = names.keys.sorted().map { index in
            StepStatistics(index: index, name: names[index] ?? "", upgrade: DurationStatistics(times[index]?.run ?? []),
                           rollback: DurationStatistics(times[index]?.undo ?? []))
        }
    }
}
