import Foundation
import LuaBridge
import Synchronization

/// Runs a runbook's steps against a region, journaling every step and host, and
/// walks them back with `undo`.
public final class Engine: Sendable {
    public let runbook: Runbook
    public let region: Region
    public let transport: any Transport
    public let journal: RunJournal
    public let observer: any RunObserver
    public let approvals: any ApprovalProvider
    public let databases: (any DatabaseDriver)?
    /// The wall clock, or a simulated region's virtual clock.
    public let clock: any RunClock
    /// Drivers other than the real ones (the simulated region's).
    public let drivers: RunDrivers?
    /// The first local write that failed (command output, a dump, the simulated model):
    /// a full disk stops the run.
    let localWrites = LocalWriteFailures()

    public init(runbook: Runbook, region: Region, transport: any Transport, journal: RunJournal,
                observer: any RunObserver = NoObserver(), approvals: any ApprovalProvider = NobodyToAsk(),
                databases: (any DatabaseDriver)? = nil, clock: any RunClock = WallClock(), drivers: RunDrivers? = nil)
    {
        self.clock = clock
        self.drivers = drivers
        journal.clock = clock
        self.runbook = runbook
        self.region = region
        self.transport = transport
        self.databases = databases ?? MariaDBDriver(region: region, transport: transport)
        self.journal = journal
        self.observer = observer
        self.approvals = approvals
    }

    var vm: LuaVM { runbook.vm }

    // MARK: Starting, resuming

    /// Starts a new run; `id` is chosen beforehand when the caller locks it first.
    public func run(_ options: RunOptions, id: String = RunJournal.newRunID()) async throws -> RunOutcome {
        try validateOptions(options)
        let now = clock.now()
        let record = RunRecord(
            id: id, runbook: runbook.path, runbookName: runbook.info.name, fingerprint: runbook.fingerprint,
            regionFile: region.file.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, regionName: region.name,
            status: .running, options: options, pid: getpid(), startedAt: now, updatedAt: now, endedAt: nil,
            state: .map([:]), message: nil, kind: options.dryRun ? "dry-run" : "run")
        // The runbook's files go into the journal with the run: resume and rollback run them.
        try await journal.createRun(record, runbook: runbook.snapshot.noted(runbook))
        if let earlier = options.supersedes {
            journal.event(id, kind: "decision", level: "warn",
                          message: "started with --supersede \(earlier): run \(earlier) on region \(region.name) was left unfinished (neither resumed nor rolled back)")
        }
        return try await execute(record, resumed: false)
    }

    /// Continues a stopped, failed or interrupted run where it stopped, with the inputs it
    /// journaled: `inputs` (those given to the resume) must be none or the same.
    public func resume(_ reference: String, yes: Bool = false, inputs: [String: LuaValue]? = nil) async throws -> RunOutcome {
        var record = try await journal.run(reference)
        if let inputs, !inputs.isEmpty, inputs != (record.options.vars ?? [:]) {
            let journaled = RunInputs.describe(record.options.vars ?? [:])
            throw FerryError.usage(
                "run \(record.id) started with \(journaled.isEmpty ? "no inputs" : "the inputs " + journaled.joined(separator: ", ")); "
                    + "a resume runs with the run's own inputs: drop -e/--vars (or give the same ones), or start a new run")
        }
        if yes { record.options.yes = true }
        try Self.ensureNotActive(record)
        if record.isDryRun {
            throw FerryError.usage(
                "run \(record.id) was a dry run (\(record.displayStatus)): it changed nothing, so there is nothing to resume; start a new run instead (ferry run \(record.runbook) -r \(record.regionFile ?? record.regionName), with --dry-run to try again)")
        }
        switch record.status {
        case .succeeded: throw FerryError.usage("run \(record.id) already succeeded; nothing to resume")
        case .rolledBack, .rollingBack, .rollbackFailed:
            throw FerryError.usage(
                "run \(record.id) was rolled back (\(record.status.rawValue)): a rolled-back run is final and cannot be resumed; start a new run instead (ferry run \(record.runbook) -r \(record.regionFile ?? record.regionName))")
        default: break
        }
        try await journal.setRunStatus(record.id, .running, pid: getpid())
        record.status = .running
        return try await execute(record, resumed: true)
    }

    static func ensureNotActive(_ record: RunRecord) throws {
        if (record.status == .running || record.status == .rollingBack), record.pid != getpid(), ProcessProbe.isAlive(record.pid) {
            throw FerryError.usage("run \(record.id) is in progress in process \(record.pid); wait for it or stop that process first")
        }
    }

    func validateOptions(_ options: RunOptions) throws {
        for name in [options.fromStep].compactMap({ $0 }) + options.onlySteps where runbook.step(named: name) == nil {
            throw FerryError.usage("no step named '\(name)' in \(runbook.info.name) (steps: \(runbook.steps.map(\.name).joined(separator: ", ")))")
        }
        _ = try limitedHosts(options)
    }

    /// The hosts `--limit` leaves to per-host steps (nil: no limit).
    func limitedHosts(_ options: RunOptions) throws -> Set<String>? {
        guard let limit = options.limit else { return nil }
        do {
            return Set(try HostSelector(region: region).names(limit))
        } catch let e as FerryError {
            throw FerryError.usage("--limit \(limit): \(e.message)")
        }
    }

    func environment(runID: String, dryRun: Bool) -> RunEnvironment {
        let journal = self.journal
        let observer = self.observer
        var env = RunEnvironment(
            region: region, transport: transport, dryRun: dryRun, outputDirectory: journal.outputDirectory(for: runID),
            databases: databases,
            log: { line in
                observer.handle(.log(line))
                journal.event(runID, kind: "log", stepIndex: line.invocation?.stepIndex, host: line.invocation?.host,
                                        level: line.level.rawValue, message: line.message)
            })
        env.clock = clock
        env.localWrites = localWrites
        if let drivers { env.drivers = drivers }
        env.artifactDirectory = URL(fileURLWithPath: journal.path).deletingLastPathComponent().appendingPathComponent("artifacts/\(runID)").path
        // A restore killed midway left its option file (a password): a resume or rollback removes it.
        DatabaseBackups.removeStaleOptionDirectories(in: env.artifactDirectory!)
        env.artifact = { kind, data, invocation in
            try await journal.artifact(runID, stepIndex: invocation?.stepIndex, kind: kind, data: data)
        }
        return env
    }

    /// `ctx` for a run: `inputs` (the run's journaled ``RunOptions/vars``) over the region's vars.
    func makeContext(runID: String, dryRun: Bool, state: LuaValue, inputs: [String: LuaValue]?) async throws -> LuaRef {
        let refs = try await vm.callSyncPinned(
            runbook.entry.makeContext,
            [.value(.string(runID)), .value(.map(RunInputs.merged(region.vars, inputs))), .value(.bool(dryRun)),
             .value(.string(region.name)), .value(state),
             .value(.map(region.releases))])
        return refs[0]
    }

    func currentState(_ ctx: LuaRef) async throws -> LuaValue {
        do {
            return try await vm.callSync(runbook.entry.state, [.ref(ctx)]).first ?? .map([:])
        } catch let e as LuaConversionError {
            throw FerryError.failed("ctx.state cannot be saved: \(e)")
        } catch let e as LuaError {
            throw FerryError.failed("ctx.state cannot be saved: \(e.message)")
        }
    }

    // MARK: The run loop

    /// Runs `body` with the run's environment installed for the primitives, and
    /// closes what they opened (database sessions) before returning.
    func withRunEnvironment<T: Sendable>(runID: String, dryRun: Bool, _ body: () async throws -> T) async throws -> T {
        let env = environment(runID: runID, dryRun: dryRun)
        runbook.runtime.set(env)
        defer { runbook.runtime.set(nil) }
        // What the region runs without judging it: a warning once per distinct command,
        // in the output and the journal (kind `unjudged`, which the report lists).
        if let recorder = drivers?.unjudged {
            let (journal, observer, steps) = (journal, observer, runbook.steps.map { ($0.name, $0.index) })
            recorder.begin(runID: runID) { note in
                let index = note.step.flatMap { name in steps.first { $0.0 == name }?.1 }
                journal.event(runID, kind: "unjudged", stepIndex: index, host: note.host, level: "warn", message: note.message)
                observer.handle(.log(LogLine(level: .warn, message: note.message, invocation: nil)))
            }
        }
        defer { drivers?.unjudged?.end() }
        let close = { [journal, transport, databases] in
            await env.resources.closeAll()
            await databases?.close()
            // How connecting went (handshakes, pacing), for whoever reads the journal.
            if let line = await transport.summary {
                journal.event(runID, kind: "transport", level: "info", message: line)
                try? await journal.flush()
            }
        }
        do {
            let result = try await body()
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }

    func execute(_ record: RunRecord, resumed: Bool) async throws -> RunOutcome {
        try await withRunEnvironment(runID: record.id, dryRun: record.options.dryRun) {
            try await executeSteps(record, resumed: resumed)
        }
    }

    func executeSteps(_ record: RunRecord, resumed: Bool) async throws -> RunOutcome {
        let runID = record.id
        let options = record.options
        let ctx = try await makeContext(runID: runID, dryRun: options.dryRun, state: record.state, inputs: options.vars)
        defer { Task { [vm] in await vm.release(ctx) } }
        observer.handle(.runStarted(runID: runID, runbook: runbook.info.name, steps: runbook.steps.count, resumed: resumed, phase: .run))
        if resumed { journal.event(runID, kind: "resume", message: "resumed by process \(getpid())") }

        // Journal records are matched to the runbook's steps by name, never by position: a
        // step inserted or moved since the run started neither reruns a done step nor hides a new one.
        let records = try await journal.steps(runID)
        let steps = Self.align(runbook.steps, to: records)
        let journaled = Dictionary(records.filter { $0.phase == .run }.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        let selected = Self.selectionRule(steps, options)
        let approvals: any ApprovalProvider = options.yes ? ApproveAll() : self.approvals
        let limit = try limitedHosts(options)

        for step in steps {
            try await journalLateFiles(runID)
            if let previous = journaled[step.name], previous.status == .done || previous.status == .skipped {
                continue
            }
            if let reason = selected(step) {
                try await journal.stepFinished(runID, step.index, .run, name: step.name, status: .skipped, message: reason, state: nil)
                observer.handle(.stepSkipped(index: step.index, name: step.name, reason: reason))
                continue
            }
            do {
                if let when = step.when {
                    let invocation = Invocation(stepIndex: step.index, stepName: step.name, phase: .run)
                    let result = try await vm.call(when, [.ref(ctx)], context: invocation)
                    if !(result.first?.isTruthy ?? false) {
                        try await journal.stepFinished(runID, step.index, .run, name: step.name, status: .skipped,
                                                       message: "when returned false", state: nil)
                        observer.handle(.stepSkipped(index: step.index, name: step.name, reason: "when returned false"))
                        continue
                    }
                }
                if let question = step.confirm, !options.dryRun {
                    observer.handle(.waitingForApproval(step: step.name, question: question))
                    let answer = await approvals.approve(step: step.name, question: question)
                    // Ctrl-C or SIGTERM at the prompt: the run stops interrupted, resumable.
                    try Task.checkCancellation()
                    switch answer {
                    case .some(true):
                        let by = approvals.approver(for: step.name)
                        journal.event(runID, kind: "decision", stepIndex: step.index, message: "approved by \(by): \(question)")
                        observer.handle(.approvalDecided(step: step.name, approved: true, by: by))
                    case .some(false):
                        let by = approvals.approver(for: step.name)
                        journal.event(runID, kind: "decision", stepIndex: step.index, message: "declined by \(by): \(question)")
                        observer.handle(.approvalDecided(step: step.name, approved: false, by: by))
                        try await journal.stepFinished(runID, step.index, .run, name: step.name, status: .waiting,
                                                       message: "declined by the operator", state: nil)
                        return try await stop(runID, .waiting, step: step, steps: steps, message: "the operator declined step \(step.name)")
                    case .none:
                        journal.event(runID, kind: "decision", stepIndex: step.index, message: "waiting for approval: \(question)")
                        try await journal.stepFinished(runID, step.index, .run, name: step.name, status: .waiting,
                                                       message: "waiting for approval", state: nil)
                        return try await stop(runID, .waiting, step: step, steps: steps,
                                              message: "step \(step.name) needs approval (\"\(question)\"); no terminal to ask")
                    }
                }
                var runner = StepRunner(engine: self, runID: runID, step: step, ctx: ctx, phase: .run)
                runner.dryRun = options.dryRun
                runner.limit = limit
                let result = try await runner.execute(previous: journaled[step.name])
                if !result.succeeded {
                    return try await stop(runID, .failed, step: step, steps: steps, message: result.message, failedHosts: result.failedHosts, dryRun: options.dryRun)
                }
            } catch is CancellationError {
                return try await stop(runID, .interrupted, step: step, steps: steps, message: "interrupted during step \(step.name)", dryRun: options.dryRun)
            } catch {
                // Anything else (a `when` that raised, a state that cannot be stored, a
                // journal error) fails the step on the record, so resume and rollback work.
                let message = "step \(step.name): \(StepRunner.describe(error))"
                try? await journal.stepFinished(runID, step.index, .run, name: step.name, status: .failed, message: message, state: nil)
                return try await stop(runID, .failed, step: step, steps: steps, message: message, dryRun: options.dryRun)
            }
        }
        try await journalLateFiles(runID)
        let finalState = try await currentState(ctx)
        try await journal.setRunState(runID, finalState)
        let note = options.dryRun ? "dry run: no command was sent to any host; nothing was changed" : nil
        try await journal.setRunStatus(runID, .succeeded, message: note, ended: true)
        try await journal.flush()
        var outcome = RunOutcome(runID: runID, status: .succeeded, message: note, step: nil, failedHosts: [], remaining: [], irreversible: [])
        outcome.dryRun = options.dryRun
        observer.handle(.runFinished(outcome: outcome))
        return outcome
    }

    /// The runbook's steps, each with the index its journal records have (a step matches
    /// the records of its name). Steps without records take indexes past every journaled
    /// one, in the runbook's order: journal indexes stay in the order steps first ran (a
    /// rollback undoes newest first by them), and an unchanged runbook keeps its own.
    static func align(_ steps: [StepDefinition], to records: [StepRecord]) -> [StepDefinition] {
        var byName: [String: Int] = [:]
        for r in records where r.phase == .run { byName[r.name] = r.index }
        for r in records where byName[r.name] == nil { byName[r.name] = r.index }
        var next = (records.map(\.index).max() ?? -1) + 1
        var aligned = steps
        for i in aligned.indices {
            if let index = byName[aligned[i].name] {
                aligned[i].index = index
            } else {
                aligned[i].index = next
                next += 1
            }
        }
        return aligned
    }

    /// Journals files the runbook read from disk since the last look (a `require` inside a step).
    func journalLateFiles(_ runID: String) async throws {
        let late = runbook.takeLateFiles()
        if !late.isEmpty { try await journal.addRunbookFiles(runID, late) }
    }

    func stop(_ runID: String, _ status: RunRecord.Status, step: StepDefinition, steps: [StepDefinition], message: String?,
              failedHosts: [(String, String)] = [], dryRun: Bool = false) async throws -> RunOutcome
    {
        // Where this process stopped, for the report's timeline (a resume overwrites the run's status).
        journal.event(runID, kind: "stopped", stepIndex: step.index, level: status == .waiting ? nil : "warn",
                      message: "\(status.rawValue): \(message ?? "stopped at step \(step.name)")")
        try await journal.setRunStatus(runID, status, message: message, ended: status == .failed)
        try await journal.flush()
        let position = steps.firstIndex { $0.name == step.name } ?? 0
        let remaining = steps[position...].map(\.name)
        var outcome = RunOutcome(runID: runID, status: status, message: message, step: step.name,
                                 failedHosts: failedHosts.map { (host: $0.0, message: $0.1) }, remaining: remaining, irreversible: [])
        outcome.dryRun = dryRun
        observer.handle(.runFinished(outcome: outcome))
        return outcome
    }
}

public enum ProcessProbe {
    public static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 {
            // A zombie or a reused pid that is not a ferry process counts as gone.
            if let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") {
                let text = String(decoding: cmdline, as: UTF8.self)
                if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), stat.contains(") Z ") { return false }
                return text.contains("ferry") || text.contains("xctest") || text.contains("PackageTests")
            }
            return true
        }
        return errno == EPERM
    }
}
