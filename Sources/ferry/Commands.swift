import ArgumentParser
import FerryCore
import FerryPlugins
import FerrySimulation
import Foundation
import LuaBridge

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Load and lint a runbook; with -r, resolve its selectors too.")
    @Argument(help: "A runbook file or directory.") var runbook: String
    @Option(name: .shortAndLong, help: "A region file (or a name under scripts/regions).") var region: String?
    @Option(name: .long, help: "The journal whose simulated model to read (default: none is read).") var journal: String?
    @Flag(name: .long, help: "Print the result as one JSON object (valid, steps, checks, irreversible, or the errors).") var json = false
    @OptionGroup var inputOptions: InputOptions

    func run() async throws {
        if json {
            do {
                _ = try inputOptions.inputs()
                let rb = try await Composition.loadRunbook(runbook)
                var hosts: Int?
                if let region {
                    let r = try Composition.target(region, journal: journal ?? NSTemporaryDirectory() + "ferry-validate-\(getpid())/journal.db").region
                    _ = try Plan.build(rb, region: r)
                    hosts = r.hostOrder.count
                }
                var o: [String: Any] = ["valid": true, "runbook": rb.info.name, "steps": rb.steps.map(\.name), "checks": rb.checks.keys.sorted(),
                                        "irreversible": rb.steps.filter { !$0.isReversible }.map(\.name), "fingerprint": rb.fingerprint]
                if let hosts { o["hosts"] = hosts }
                Console.outRaw(EventJSON.line(o))
            } catch {
                let problems = (error as? ValidationErrors)?.problems ?? ["\(error)"]
                Console.outRaw(EventJSON.line(["valid": false, "errors": problems]))
                throw ExitCode(1)
            }
            return
        }
        try await guarded {
            let inputs = try inputOptions.inputs()
            let rb = try await Composition.loadRunbook(runbook)
            var extra = inputs.map { ", \($0.count) input(s)" } ?? ""
            if let region {
                let r = try Composition.target(region, journal: journal ?? NSTemporaryDirectory() + "ferry-validate-\(getpid())/journal.db").region
                let plan = try Plan.build(rb, region: r)
                extra = ", selectors resolved on \(r.name) (\(r.hostOrder.count) hosts)"
                _ = plan
                for source in r.inventorySources { Console.out("inventory: \(source)") }
            }
            let irreversible = rb.steps.filter { !$0.isReversible }.map(\.name)
            Console.out("\(rb.info.name): \(rb.steps.count) step(s), \(rb.checks.count) check(s) — valid\(extra)")
            if !irreversible.isEmpty { Console.out("irreversible (no undo): \(irreversible.joined(separator: ", "))") }
            return 0
        }
    }
}

/// The run's inputs: `ctx.vars` is the region's vars with these over them (``RunInputs``).
struct InputOptions: ParsableArguments {
    @Option(name: [.customShort("e"), .customLong("var")], help: ArgumentHelp(
        "A run input, KEY=VALUE, in ctx.vars over the region's vars (repeatable). A VALUE starting with { or [ is YAML: -e 'db_password={env: DB_PASSWORD}' is a secret reference, journaled as the reference.",
        valueName: "key=value")) var assignments: [String] = []
    @Option(name: .customLong("vars"), help: ArgumentHelp("A YAML file of run inputs (a mapping), under any -e (repeatable).",
                                                          valueName: "file")) var files: [String] = []

    /// The inputs given (nil: none).
    func inputs() throws -> [String: LuaValue]? {
        if assignments.isEmpty && files.isEmpty { return nil }
        return try RunInputs.parse(assignments: assignments, files: files)
    }
}

struct StepSelection: ParsableArguments {
    @Option(name: .long, help: "Start at this step (earlier ones are skipped).") var from: String?
    @Option(name: .long, help: "Run only this step (repeatable).") var only: [String] = []
    @Option(name: .long, help: "Run only steps with one of these tags (repeatable).") var tags: [String] = []
    @Option(name: .customLong("skip-tags"), help: "Skip steps with one of these tags (repeatable).") var skipTags: [String] = []
    @Option(name: .long, help: ArgumentHelp(
        "Per-host steps act only on the hosts this pattern selects (the syntax of a step's 'on': 'computes:&cmp00*', 'cmp001,cmp002', 'all:!ctl1'); journaled, kept by resume.",
        valueName: "pattern")) var limit: String?

    func apply(to options: inout RunOptions) {
        options.limit = limit
        options.fromStep = from
        options.onlySteps = only
        options.tags = tags.flatMap { $0.split(separator: ",").map(String.init) }
        options.skipTags = skipTags.flatMap { $0.split(separator: ",").map(String.init) }
    }
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show the expanded plan: steps, hosts, waves, checks, undo or not.")
    @Argument(help: "A runbook file or directory.") var runbook: String
    @Option(name: .shortAndLong, help: "A region file (or a name under scripts/regions).") var region: String
    @OptionGroup var selection: StepSelection
    @Flag(name: .long, help: "Print the plan as JSON.") var json = false
    @Option(name: .long, help: "Compute nodes of the simulated region (overrides simulate.computes).") var computes: Int?
    @Option(name: .long, help: "The journal whose simulated model to read (default: none is read).") var journal: String?
    @OptionGroup var inputOptions: InputOptions

    func run() async throws {
        try await guarded {
            let inputs = try inputOptions.inputs()
            let rb = try await Composition.loadRunbook(runbook)
            let r = try Composition.target(region, computes: computes, journal: journal ?? NSTemporaryDirectory() + "ferry-plan-\(getpid())/journal.db").region
            var options = RunOptions()
            selection.apply(to: &options)
            options.vars = inputs
            let plan = try Plan.build(rb, region: r, options: options)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                Console.out(String(decoding: try encoder.encode(plan), as: UTF8.self))
            } else {
                Console.out(plan.render())
            }
            return 0
        }
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a runbook against a region.")
    @Argument(help: "A runbook file or directory.") var runbook: String
    @Option(name: .shortAndLong, help: "A region file (or a name under scripts/regions).") var region: String
    @OptionGroup var selection: StepSelection
    @Flag(name: .long, help: "Approve every confirm without asking.") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Run the steps' logic but send no command to any host.") var dryRun = false
    @Option(name: .long, help: "Compute nodes of the simulated region (overrides simulate.computes).") var computes: Int?
    @Option(name: .long, help: ArgumentHelp(
        "Start although the region's last run, RUN (its id), was left failed or stopped and neither resumed nor rolled back; journaled. Without it such a run is refused.",
        valueName: "run")) var supersede: String?
    @OptionGroup var machine: MachineOptions
    @OptionGroup var inputOptions: InputOptions
    @OptionGroup var lockOptions: LockOptions
    @OptionGroup var journalOptions: JournalOptions

    @OptionGroup var cloud: CloudOptions

    func run() async throws {
        try await guarded {
            try cloud.apply()
            let inputs = try inputOptions.inputs()
            let rb = try await Composition.loadRunbook(runbook)
            try machine.validate(rb)
            let regionName = try Composition.loadRegion(region).name
            let journal = try journalOptions.open()
            let runID = RunJournal.newRunID()
            // The region is locked before its simulated model is read: what another command
            // left is then all there.
            return try await Composition.locked(journal, [.region(regionName), .run(runID)], runID: runID, command: "run",
                                                breakLock: lockOptions.breakLock) {
                let target = try Composition.target(region, computes: computes, journal: journalOptions.journal)
                var options = RunOptions()
                selection.apply(to: &options)
                options.yes = yes
                options.dryRun = dryRun
                // A dry run changes nothing: it may go on top of an unfinished run.
                if !dryRun { options.supersedes = try await unfinishedRunCheck(journal, region: regionName) }
                options.vars = inputs
                if target.sim != nil {
                    options.virtualTime = true
                    options.computes = target.sim?.config.computes
                }
                _ = try Plan.build(rb, region: target.region, options: options)
                let engine = try Composition.engine(runbook: rb, target: target, journal: journal, yes: yes,
                                                    observer: machine.observer(region: target.region, yes: yes), approvals: machine.approvals(yes: yes))
                let chosen = options
                let outcome = try await Composition.stoppingOnFullDisk(runID, command: "run", journal: journalOptions.journal) {
                    try await Composition.interruptible(closing: engine.transport) { try await engine.run(chosen, id: runID) }
                }
                let code = Composition.report(outcome, journal: journalOptions.journal, json: machine.json)
                try Composition.save(target.sim)
                return code
            }
        }
    }
}

extension RunCommand {
    /// Refuses a new run on a region whose last run was left failed or stopped (exit 1,
    /// naming it and the ways out), unless `--supersede` names that run: then a warning,
    /// and the run's id to journal with the new one.
    func unfinishedRunCheck(_ journal: RunJournal, region regionName: String) async throws -> String? {
        guard let last = try await journal.unfinishedRun(region: regionName) else {
            if let supersede {
                Console.error("ferry: warning: --supersede \(supersede): region \(regionName)'s last run is not unfinished; nothing to supersede")
            }
            return nil
        }
        let flag = journalOptions.journal == ".ferry/journal.db" ? "" : " --journal \(journalOptions.journal)"
        let status = StatusCommand.status(last)
        let what = "region \(regionName)'s last run, \(last.id) (\(last.runbookName), started \(StatusCommand.time(last.startedAt))), ended \(status)"
            + (last.message.map { ": \($0)" } ?? "")
        if supersede == last.id {
            Console.error("ferry: warning: \(what); starting a new run over it all the same (--supersede)")
            return last.id
        }
        var text = "\(what)\n  it was neither resumed nor rolled back: a new run would start on a region left half-way"
        if ![.rollingBack, .rollbackFailed].contains(last.status) { text += "\n  to continue it:          ferry resume \(last.id)\(flag)" }
        text += "\n  to undo it:              ferry rollback \(last.id)\(flag)"
        text += "\n  to start a new run anyway: add --supersede \(last.id)"
        if let supersede { text += "\n  (--supersede \(supersede) names another run)" }
        throw FerryError.failed(text)
    }
}

/// `--break-lock`, for the commands that lock a region.
/// `--os-cloud NAME`: Keystone's credentials from that cloud of clouds.yaml, as `OS_CLOUD=NAME` would give
/// them (a region's `keystone:` section still wins; docs/region-file.md#keystone).
struct CloudOptions: ParsableArguments {
    @Option(name: .customLong("os-cloud"), help: ArgumentHelp(
        "Log in to Keystone with this cloud of clouds.yaml (as OS_CLOUD does) where the region has no keystone: section.",
        valueName: "name")) var osCloud: String?

    /// Sets `OS_CLOUD` for this process, before anything reads the environment.
    func apply() throws {
        guard let osCloud else { return }
        guard !osCloud.isEmpty else { throw FerryError.usage("--os-cloud: expected the name of a cloud of clouds.yaml") }
        setenv("OS_CLOUD", osCloud, 1)
    }
}

struct LockOptions: ParsableArguments {
    @Flag(name: .customLong("break-lock"),
          help: "Take the region's (and run's) lock even from a ferry on another host. Only when that process is certainly gone.")
    var breakLock = false
}

/// Runs `body` with the run `reference` names locked (the run and its region), then its
/// record read again, under the lock, for the engine to act on.
func lockingRun(_ reference: String, command: String, journalOptions: JournalOptions, breakLock: Bool,
                _ body: (RunJournal, RunRecord) async throws -> Int32) async throws -> Int32
{
    let journal = try journalOptions.open()
    let record = try await journal.run(reference)
    return try await Composition.locked(journal, [.region(record.regionName), .run(record.id)], runID: record.id, command: command,
                                        breakLock: breakLock) {
        try await body(journal, try await journal.run(record.id))
    }
}

/// `--runbook-changed`, for the commands that continue a journaled run.
struct RunbookChangeOptions: ParsableArguments {
    @Option(name: .customLong("runbook-changed"),
            help: ArgumentHelp("When the runbook on disk differs from the one the run journaled: journaled (run the journaled version, the default), use-new (run the one on disk, steps matched by name, after showing what differs), refuse (stop, exit 1).",
                               valueName: "journaled|use-new|refuse"))
    var runbookChanged: RunbookChangePolicy = .journaled
}

extension RunbookChangePolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// Loads the runbook (the journaled version, unless told otherwise) and the region a
/// journaled run was started with. A changed runbook the operator did not approve
/// (`use-new`) stops here: exit 3 without a terminal to ask, 1 when declined.
func engineForRun(_ record: RunRecord, journal: RunJournal, journalOptions: JournalOptions, policy: RunbookChangePolicy,
                  command: String, yes: Bool, machine: MachineOptions, validate: ((Engine) async throws -> Void)? = nil) async throws -> (Engine, RunRecord, SimRegion?)
{
    let choice = try await RunbookChoice.choose(for: record, journal: journal, policy: policy, command: command,
                                                extensions: PluginRegistry.extensions)
    for note in choice.notes { Console.error("ferry: warning: \(note)") }
    let regionReference = record.regionFile ?? (record.regionName == "sim" ? "sim" : nil)
    guard let regionReference else { throw FerryError.usage("run \(record.id) has no region file recorded") }
    let target = try Composition.target(regionReference, computes: record.options.computes, journal: journalOptions.journal)
    try machine.validate(choice.runbook)
    let engine = try Composition.engine(runbook: choice.runbook, target: target, journal: journal, yes: yes,
                                        observer: machine.observer(region: target.region, yes: yes), approvals: machine.approvals(yes: yes))
    // A rollback that cannot be done with this version is refused before anything is journaled.
    try await validate?(engine)
    if let plan = choice.plan {
        for line in plan { Console.error(line) }
        let approved: Bool? = yes ? true : await TerminalApprovals().approve(
            step: command, question: "\(command) run \(record.id) with the runbook on disk, as above?")
        guard approved == true else {
            journal.event(record.id, kind: "decision", level: "warn",
                          message: "\(command) with --runbook-changed=use-new \(approved == nil ? "needs approval; no terminal" : "declined")")
            try await journal.flush()
            throw approved == nil
                ? FerryError(.stopped, "running the changed runbook needs approval: run \(command) on a terminal or add --yes; nothing was done")
                : FerryError.failed("the operator declined to run the changed runbook; nothing was done")
        }
    }
    try await choice.adopt(journal: journal, runID: record.id, command: command)
    return (engine, record, target.sim)
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Continue a stopped or failed run where it stopped.")
    @Argument(help: "A run id, or 'last'.") var run: String
    @Flag(name: .long, help: "Approve every confirm without asking.") var yes = false
    @OptionGroup(title: "Inputs (a resume runs with the run's own: any given must be the same)") var inputOptions: InputOptions
    @OptionGroup var changeOptions: RunbookChangeOptions
    @OptionGroup var machine: MachineOptions
    @OptionGroup var lockOptions: LockOptions
    @OptionGroup var journalOptions: JournalOptions

    @OptionGroup var cloud: CloudOptions

    func run() async throws {
        try await guarded {
            try cloud.apply()
            let inputs = try inputOptions.inputs()
            return try await lockingRun(run, command: "resume", journalOptions: journalOptions, breakLock: lockOptions.breakLock) { journal, locked in
                let (engine, record, sim) = try await engineForRun(
                    locked, journal: journal, journalOptions: journalOptions, policy: changeOptions.runbookChanged, command: "resume", yes: yes,
                    machine: machine)
                let outcome = try await Composition.stoppingOnFullDisk(record.id, command: "resume", journal: journalOptions.journal) {
                    try await Composition.interruptible(closing: engine.transport) { try await engine.resume(record.id, yes: yes, inputs: inputs) }
                }
                let code = Composition.report(outcome, journal: journalOptions.journal, json: machine.json)
                try Composition.save(sim)
                return code
            }
        }
    }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Run the undo of every completed step of a run, newest first.")
    @Argument(help: "A run id, or 'last'.") var run: String
    @Option(name: .long, help: "Stop after undoing this step.") var to: String?
    @Flag(name: .long, help: "Approve the rollback (and every confirm) without asking.") var yes = false
    @OptionGroup var changeOptions: RunbookChangeOptions
    @OptionGroup var machine: MachineOptions
    @OptionGroup var lockOptions: LockOptions
    @OptionGroup var journalOptions: JournalOptions

    @OptionGroup var cloud: CloudOptions

    func run() async throws {
        try await guarded {
            try cloud.apply()
            return try await lockingRun(run, command: "rollback", journalOptions: journalOptions, breakLock: lockOptions.breakLock) { journal, locked in
                let target = to
                let (engine, record, sim) = try await engineForRun(
                    locked, journal: journal, journalOptions: journalOptions, policy: changeOptions.runbookChanged, command: "rollback", yes: yes,
                    machine: machine, validate: { engine in _ = try await engine.rollbackPlan(locked.id, to: target) })
                let outcome = try await Composition.stoppingOnFullDisk(record.id, command: "rollback", journal: journalOptions.journal) {
                    try await Composition.interruptible(closing: engine.transport) { try await engine.rollback(record.id, to: to, yes: yes) }
                }
                let code = Composition.report(outcome, journal: journalOptions.journal, json: machine.json)
                try Composition.save(sim)
                return code
            }
        }
    }
}

extension CheckPhase: ExpressibleByArgument {}

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Run a runbook's health checks only.")
    @Argument(help: "A runbook file or directory.") var runbook: String
    @Option(name: .shortAndLong, help: "A region file (or a name under scripts/regions).") var region: String
    @Argument(help: "Checks to run (default: all).") var names: [String] = []
    @Flag(name: .long, help: "Print the results as JSON (one object: checks with passed, message, seconds).") var json = false
    @Option(name: .long, help: ArgumentHelp(
        "Without names, only the checks for this moment: before (phase before or always: the region before the upgrade, or after a rollback) or after (phase after or always).",
        valueName: "before|after")) var phase: CheckPhase?
    @OptionGroup var inputOptions: InputOptions
    @OptionGroup var journalOptions: JournalOptions

    @OptionGroup var cloud: CloudOptions

    func run() async throws {
        try await guarded {
            try cloud.apply()
            let inputs = try inputOptions.inputs()
            let rb = try await Composition.loadRunbook(runbook)
            // A simulated region is the one beside this journal (as the runs left it).
            let target = try Composition.target(region, journal: journalOptions.journal)
            let scratch = NSTemporaryDirectory() + "/ferry-check-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let engine = try Composition.engine(runbook: rb, target: target, journal: try RunJournal(path: scratch + "/journal.db"),
                                                yes: true, observer: NoObserver(), keysBeside: journalOptions.journal)
            let results = try await Composition.closingOnSignal(engine.transport) {
                try await engine.runChecks(names, moment: phase ?? .always, inputs: inputs)
            }
            await engine.transport.shutdown()
            var failed = 0
            if json {
                let checks: [[String: Any]] = results.map { r in
                    var o: [String: Any] = ["check": r.name, "passed": r.passed, "seconds": r.duration]
                    if let m = r.message { o["message"] = m }
                    return o
                }
                failed = results.filter { !$0.passed }.count
                Console.outRaw(EventJSON.line(["checks": checks, "passed": results.count - failed, "failed": failed, "time": EventJSON.time()]))
                return failed == 0 ? 0 : 1
            }
            for r in results {
                Console.out("\(r.passed ? "✓" : "✗") \(r.name)\(r.message.map { ": \($0)" } ?? "") (\(DurationText.format(r.duration)))")
                if !r.passed { failed += 1 }
            }
            Console.out("\(results.count - failed) passed, \(failed) failed")
            return failed == 0 ? 0 : 1
        }
    }
}
