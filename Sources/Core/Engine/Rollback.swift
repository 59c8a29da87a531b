import Foundation
import LuaBridge

extension Engine {
    /// What a rollback of a run would undo, newest first.
    public struct RollbackPlan: Sendable {
        public var runID: String
        /// Steps with an undo to run, newest first, with how many hosts each.
        public var steps: [(name: String, hosts: Int?)]
        public var irreversible: [String]
    }

    public func rollbackPlan(_ reference: String, to target: String? = nil) async throws -> RollbackPlan {
        let record = try await journal.run(reference)
        let (entries, irreversible) = try await undoEntries(record, to: target)
        return RollbackPlan(runID: record.id, steps: entries.map { ($0.step.name, $0.hosts?.count) }, irreversible: irreversible)
    }

    struct UndoEntry {
        var step: StepDefinition
        /// For a per-host step: the hosts to undo, with what their run left.
        var hosts: [String: HostRecord]?
        /// For a step without `undo`: the INI edits it journaled, to put back newest first.
        var iniChanges: [LuaValue] = []
    }

    /// What to undo, newest first: every step of the runbook that ran, matched to its
    /// journal records by name. A step that ran but is not in this runbook any more has no
    /// undo here: the rollback is refused, naming it, before anything is undone.
    func undoEntries(_ record: RunRecord, to target: String?) async throws -> ([UndoEntry], [String]) {
        if record.isDryRun {
            throw FerryError.usage("run \(record.id) was a dry run (\(record.displayStatus)): it changed nothing, so there is nothing to roll back")
        }
        let journaled = try await journal.steps(record.id)
        let steps = Self.align(runbook.steps, to: journaled)
        let byName = Dictionary(steps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if let target, byName[target] == nil {
            throw FerryError.usage("no step named '\(target)' in \(runbook.info.name)")
        }
        let runSteps = Dictionary(journaled.filter { $0.phase == .run }.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        let undone = Dictionary(journaled.filter { $0.phase == .undo }.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        var iniChanges: [Int: [LuaValue]] = [:]
        for a in try await journal.artifacts(record.id, withSteps: true) where a.kind == "ini-change" && a.data["phase"] == "run" {
            if let index = a.stepIndex { iniChanges[index, default: []].append(a.data) }
        }
        // Newest first: journal indexes are in the order steps first ran (Engine.align).
        var order: [(index: Int, name: String)] = steps.map { ($0.index, $0.name) }
        for r in runSteps.values where byName[r.name] == nil { order.append((r.index, r.name)) }
        order.sort { $0.index > $1.index }
        var entries: [UndoEntry] = []
        var irreversible: [String] = []
        var missing: [String] = []
        for (_, name) in order {
            let reachedTarget = target.map { name == $0 } ?? false
            // Steps that ran, fully or in part: done, failed (their run may have done part
            // of its work, or an `after` check failed), or in flight when the run stopped.
            if let ran = runSteps[name], ran.status == .done || ran.status == .failed || ran.status == .running,
                !(undone[name].map { $0.status == .done || $0.status == .irreversible } ?? false)
            {
                guard let step = byName[name] else {
                    missing.append("\(name) (\(ran.status.rawValue))")
                    continue
                }
                if step.undo == nil, let changes = iniChanges[step.index], !changes.isEmpty {
                    // No undo, but its config edits were journaled with what reverts them.
                    entries.append(UndoEntry(step: step, hosts: nil, iniChanges: changes.reversed()))
                } else if step.isPerHost {
                    // Every host the step touched: finished, failed, or in flight (their
                    // command may have run). Undo must therefore be idempotent.
                    let hosts = try await journal.hosts(record.id, step: step.index, phase: .run)
                    if !hosts.isEmpty {
                        if step.undo == nil { irreversible.append(step.name) } else {
                            entries.append(UndoEntry(step: step, hosts: Dictionary(hosts.map { ($0.host, $0) }, uniquingKeysWith: { $1 })))
                        }
                    }
                } else {
                    if step.undo == nil { irreversible.append(step.name) } else { entries.append(UndoEntry(step: step, hosts: nil)) }
                }
            }
            if reachedTarget { break }
        }
        if !missing.isEmpty {
            let which = runbook.fromJournal ? "the runbook version journaled last for run \(record.id)" : "the runbook on disk (\(LuaVM.displayPath(runbook.path)))"
            let instead = runbook.fromJournal
                ? "put the step back in the runbook and roll back with --runbook-changed=use-new"
                : "roll back with the journaled version (leave out --runbook-changed=use-new), or put the step back in the runbook"
            throw FerryError.invalid(
                "cannot roll back run \(record.id): step\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) ran but \(missing.count == 1 ? "is" : "are") not in \(which), so \(missing.count == 1 ? "its" : "their") undo is not there; nothing was undone. To undo \(missing.count == 1 ? "it" : "them"), \(instead)")
        }
        return (entries, irreversible)
    }

    /// Puts back the INI keys a step without `undo` changed, newest first.
    func revertIniChanges(_ entry: UndoEntry, runID: String, env: RunEnvironment) async throws -> String? {
        let step = entry.step
        try await journal.stepStarted(runID, step.index, .undo, name: step.name, hostsTotal: 0)
        observer.handle(.stepStarted(index: step.index, name: step.name, phase: .undo, hosts: 0))
        let start = clock.now()
        // Newest first, so each file ends as its oldest backup: as before the step.
        for change in entry.iniChanges {
            guard let hostName = change["host"].stringValue, let host = region.hosts[hostName], let path = change["path"].stringValue,
                let backup = change["backup"].stringValue
            else { continue }
            do {
                try await IniEdit.revert(env.transport, host, path, backup: backup, existed: change["existed"].boolValue ?? true)
            } catch {
                let message = "putting back \(path) on \(hostName) from \(backup) failed: \(error)"
                try await journal.stepFinished(runID, step.index, .undo, name: step.name, status: .failed, message: message, state: nil)
                observer.handle(.stepFinished(index: step.index, name: step.name, phase: .undo, status: .failed,
                                              duration: clock.now().timeIntervalSince(start), ok: 0, failed: 1, message: message))
                return message
            }
        }
        let message = "reverted \(entry.iniChanges.count) journaled config edit(s)"
        try await journal.stepFinished(runID, step.index, .undo, name: step.name, status: .done, message: message, state: nil)
        observer.handle(.stepFinished(index: step.index, name: step.name, phase: .undo, status: .done,
                                      duration: clock.now().timeIntervalSince(start), ok: 0, failed: 0, message: message))
        return nil
    }

    /// Runs the `undo` of every completed step of a run — and of the completed hosts
    /// of a half-done step — newest first, down to `target` (inclusive) if given.
    /// Steps without `undo` are reported as irreversible and skipped. A rollback that
    /// fails stops there; running it again continues (undone steps and hosts are skipped).
    public func rollback(_ reference: String, to target: String? = nil, yes: Bool = false) async throws -> RunOutcome {
        let record = try await journal.run(reference)
        try Self.ensureNotActive(record)
        let (entries, irreversible) = try await undoEntries(record, to: target)
        let runID = record.id
        if entries.isEmpty && irreversible.isEmpty {
            // Nothing to undo: the run is rolled back all the same, and final (resume refuses
            // it), so a run stopped before its first step cannot do the upgrade later. Only a
            // rollback --to that stops short of steps older than its target leaves it as it was.
            var olderSteps = false
            if target != nil { olderSteps = try await !undoEntries(record, to: nil).0.isEmpty }
            if !olderSteps {
                try await journal.setRunStatus(runID, .rolledBack, message: "nothing to roll back", ended: true)
                journal.event(runID, kind: "decision", message: "rollback: nothing to roll back; the run is final")
                try await journal.flush()
            }
            let outcome = RunOutcome(runID: runID, status: .rolledBack, message: "nothing to roll back", step: nil, failedHosts: [],
                                     remaining: [], irreversible: [], phase: .undo)
            observer.handle(.runFinished(outcome: outcome))
            return outcome
        }
        let question = "Roll back run \(runID): undo \(entries.count) step(s) (\(entries.map(\.step.name).joined(separator: ", ")))"
            + (irreversible.isEmpty ? "" : "; irreversible, left as they are: \(irreversible.joined(separator: ", "))") + "?"
        let approval: Bool?
        if yes { approval = true } else {
            observer.handle(.waitingForApproval(step: "rollback", question: question))
            approval = await approvals.approve(step: "rollback", question: question)
        }
        if Task.isCancelled {
            // Ctrl-C or SIGTERM at the question: nothing was undone.
            journal.event(runID, kind: "decision", level: "warn", message: "rollback interrupted at its question; nothing undone")
            try await journal.flush()
            let outcome = RunOutcome(
                runID: runID, status: .interrupted, message: "interrupted at the rollback's question; nothing was undone",
                step: nil, failedHosts: [], remaining: entries.map(\.step.name), irreversible: irreversible, phase: .undo)
            observer.handle(.runFinished(outcome: outcome))
            return outcome
        }
        guard approval == true else {
            journal.event(runID, kind: "decision", level: "warn", message: approval == nil ? "rollback needs approval; no terminal" : "rollback declined")
            try await journal.flush()
            let outcome = RunOutcome(
                runID: runID, status: approval == nil ? .waiting : .failed,
                message: approval == nil ? "the rollback needs approval: run it on a terminal or add --yes" : "the operator declined the rollback",
                step: nil, failedHosts: [], remaining: entries.map(\.step.name), irreversible: irreversible, phase: .undo)
            observer.handle(.runFinished(outcome: outcome))
            return outcome
        }
        let by = yes ? "--yes" : approvals.approver(for: "rollback")
        journal.event(runID, kind: "decision", message: "rollback approved by \(by): \(question)")
        observer.handle(.approvalDecided(step: "rollback", approved: true, by: by))

        return try await withRunEnvironment(runID: runID, dryRun: false) {
            try await undo(record, entries: entries, irreversible: irreversible, target: target)
        }
    }

    func undo(_ record: RunRecord, entries: [UndoEntry], irreversible: [String], target: String?) async throws -> RunOutcome {
        let runID = record.id
        guard let env = runbook.runtime.current else { throw FerryError.failed("internal: no run environment for the rollback") }
        try await journal.setRunStatus(runID, .rollingBack, pid: getpid())
        observer.handle(.runStarted(runID: runID, runbook: runbook.info.name, steps: entries.count, resumed: false, phase: .undo))
        let ctx = try await makeContext(runID: runID, dryRun: false, state: record.state, inputs: record.options.vars)
        defer { Task { [vm] in await vm.release(ctx) } }

        let aligned = Self.align(runbook.steps, to: try await journal.steps(runID))
        for name in irreversible {
            if let step = aligned.first(where: { $0.name == name }) {
                try await journal.stepFinished(runID, step.index, .undo, name: name, status: .irreversible,
                                               message: "no undo: left as it is", state: nil)
                observer.handle(.stepSkipped(index: step.index, name: name, reason: "irreversible (no undo)"))
            }
        }
        for (position, entry) in entries.enumerated() {
            if !entry.iniChanges.isEmpty {
                if let failure = try await revertIniChanges(entry, runID: runID, env: env) {
                    try await journal.setRunStatus(runID, .rollbackFailed, message: failure, ended: true)
                    try await journal.flush()
                    let outcome = RunOutcome(runID: runID, status: .rollbackFailed, message: failure, step: entry.step.name, failedHosts: [],
                                             remaining: entries[position...].map(\.step.name), irreversible: irreversible, phase: .undo)
                    observer.handle(.runFinished(outcome: outcome))
                    return outcome
                }
                continue
            }
            do {
                let runner = StepRunner(engine: self, runID: runID, step: entry.step, ctx: ctx, phase: .undo)
                let result = try await runner.execute(previous: nil, hostsFilter: entry.hosts)
                if !result.succeeded {
                    try await journal.setRunStatus(runID, .rollbackFailed, message: result.message, ended: true)
                    try await journal.flush()
                    let outcome = RunOutcome(
                        runID: runID, status: .rollbackFailed, message: result.message, step: entry.step.name,
                        failedHosts: result.failedHosts.map { (host: $0.0, message: $0.1) },
                        remaining: entries[position...].map(\.step.name), irreversible: irreversible, phase: .undo)
                    observer.handle(.runFinished(outcome: outcome))
                    return outcome
                }
            } catch is CancellationError {
                try await journal.setRunStatus(runID, .rollbackFailed, message: "interrupted during the undo of \(entry.step.name)")
                try await journal.flush()
                let outcome = RunOutcome(runID: runID, status: .interrupted, message: "rollback interrupted", step: entry.step.name,
                                         failedHosts: [], remaining: entries[position...].map(\.step.name), irreversible: irreversible, phase: .undo)
                observer.handle(.runFinished(outcome: outcome))
                return outcome
            }
        }
        let status: RunRecord.Status = .rolledBack
        var notes: [String] = []
        if let target { notes.append("rolled back down to \(target) (inclusive); run rollback again without --to to undo older steps") }
        if !irreversible.isEmpty { notes.append("irreversible steps left: \(irreversible.joined(separator: ", "))") }
        try await journal.setRunStatus(runID, status, message: notes.isEmpty ? nil : notes.joined(separator: "; "), ended: true)
        try await journal.flush()
        let outcome = RunOutcome(runID: runID, status: status, message: target.map { "rolled back down to \($0)" }, step: nil,
                                 failedHosts: [], remaining: [], irreversible: irreversible, phase: .undo)
        observer.handle(.runFinished(outcome: outcome))
        return outcome
    }
}
