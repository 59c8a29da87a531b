import Foundation
import LuaBridge

/// What `resume` and `rollback` do when the runbook on disk is not the one the run journaled
/// (`--runbook-changed`).
public enum RunbookChangePolicy: String, Sendable, CaseIterable {
    /// Run the journaled version; say in one line which files changed on disk (the default).
    case journaled
    /// Run the runbook on disk, steps matched by name, after showing what differs.
    case useNew = "use-new"
    /// Stop (exit 1) when the runbook on disk differs: for CI.
    case refuse
}

/// The runbook a `resume` or `rollback` runs, chosen by ``RunbookChangePolicy``.
public struct RunbookChoice: Sendable {
    public var runbook: Runbook
    /// One line each, for the operator (and journaled as warnings): the runbook changed on
    /// disk, or the run has no journaled runbook.
    public var notes: [String]
    /// With `use-new` and a changed runbook: what differs, to show and have approved first.
    public var plan: [String]?
    /// With `use-new`: the new version, to journal once approved (``adopt(journal:runID:command:)``).
    var adopted: RunbookSnapshot?

    /// Chooses the runbook for `command` (`resume` or `rollback`) of `record`.
    public static func choose(for record: RunRecord, journal: RunJournal, policy: RunbookChangePolicy, command: String,
                              extensions: RunbookLoader.Extensions) async throws -> RunbookChoice
    {
        let runbookName = LuaVM.displayPath(record.runbook)
        guard let journaled = try await journal.runbook(record.id) else {
            // A run from before Ferry journaled runbooks: the disk is all there is.
            let onDisk = try await RunbookLoader.load(path: record.runbook, extensions: extensions)
            let changed = onDisk.fingerprint != record.fingerprint
            if policy == .refuse && changed {
                throw FerryError.invalid(
                    "run \(record.id) journaled no runbook files (it is from an older Ferry), and \(runbookName) has changed since it started; --runbook-changed=refuse stops here")
            }
            var note = "run \(record.id) journaled no runbook files (it is from an older Ferry): \(command) runs \(runbookName) as it is on disk"
            note += changed ? ", which has CHANGED since the run started; steps are matched by name" : ", unchanged since the run started as far as Ferry can tell"
            return RunbookChoice(runbook: onDisk, notes: [note], plan: nil, adopted: nil)
        }
        let snapshot = journaled.snapshot
        let changes = snapshot.differencesOnDisk()
        switch policy {
        case .refuse:
            if !changes.isEmpty {
                throw FerryError.invalid(
                    "the runbook of run \(record.id) changed on disk since the run started: \(changes.summary); --runbook-changed=refuse stops here (the default runs the journaled version; use-new runs the one on disk)")
            }
            try snapshot.verify(digest: journaled.digest, run: record.id)
            return RunbookChoice(runbook: try await RunbookLoader.load(snapshot: snapshot, extensions: extensions), notes: [], plan: nil)
        case .journaled:
            try snapshot.verify(digest: journaled.digest, run: record.id)
            let runbook = try await RunbookLoader.load(snapshot: snapshot, extensions: extensions)
            let notes = changes.isEmpty ? [] : [
                "the runbook changed on disk since run \(record.id) started (\(changes.summary)); \(command) runs the journaled version (to run the one on disk: --runbook-changed=use-new)",
            ]
            return RunbookChoice(runbook: runbook, notes: notes, plan: nil)
        case .useNew:
            let onDisk = try await RunbookLoader.load(path: snapshot.runbookPath, extensions: extensions)
            if changes.isEmpty && onDisk.snapshot.digest == journaled.digest {
                return RunbookChoice(runbook: onDisk, notes: [], plan: nil)
            }
            var notes: [String] = []
            var diff = RunbookDiff()
            do {
                try snapshot.verify(digest: journaled.digest, run: record.id)
                diff = await RunbookDiff.compare(old: try await RunbookLoader.load(snapshot: snapshot, extensions: extensions), new: onDisk)
            } catch {
                notes.append("the journaled version cannot be compared step by step: \(error)")
            }
            diff.files = changes
            let ran = Set(try await journal.steps(record.id).filter {
                $0.phase == .run && ($0.status == .done || $0.status == .failed || $0.status == .running)
            }.map(\.name))
            let plan = ["\(command) of run \(record.id) with the runbook on disk (\(LuaVM.displayPath(snapshot.runbookPath))) instead of the journaled version; steps are matched by name:"]
                + diff.lines(ran: ran, command: command)
            return RunbookChoice(runbook: onDisk, notes: notes, plan: plan, adopted: onDisk.snapshot)
        }
    }

    /// Journals the notes as warnings and, with `use-new`, the new version as the run's
    /// runbook from now on: a later `resume` or `rollback` runs what this one ran.
    public func adopt(journal: RunJournal, runID: String, command: String) async throws {
        for note in notes { journal.event(runID, kind: "warning", level: "warn", message: note) }
        if let adopted {
            try await journal.recordRunbook(runID, adopted.noted(runbook), reason: "\(command) --runbook-changed=use-new")
            journal.event(runID, kind: "decision", message: "\(command) took up the runbook on disk (--runbook-changed=use-new)")
        }
        try await journal.flush()
    }
}
