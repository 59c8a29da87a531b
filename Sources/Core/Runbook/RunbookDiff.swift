import Foundation
import LuaBridge

/// How two versions of a runbook differ, step by step NAME: what `--runbook-changed=use-new`
/// shows before it runs the runbook on disk instead of the journaled one.
public struct RunbookDiff: Sendable {
    public var files = RunbookFileChanges()
    /// Steps only in the new version, in its order.
    public var added: [String] = []
    /// Steps only in the old version.
    public var removed: [String] = []
    /// Steps in both whose place among the steps in both changed.
    public var moved: [String] = []
    /// Steps in both whose code changed, with what changed (`run`, `undo`, `when`, `check x`).
    public var changed: [(name: String, parts: [String])] = []

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && moved.isEmpty && changed.isEmpty }

    /// Compares `old` (the journaled version) with `new` (the one on disk).
    public static func compare(old: Runbook, new: Runbook) async -> RunbookDiff {
        var diff = RunbookDiff()
        let oldNames = old.steps.map(\.name)
        let newNames = new.steps.map(\.name)
        let oldSet = Set(oldNames)
        let newSet = Set(newNames)
        diff.added = newNames.filter { !oldSet.contains($0) }
        diff.removed = oldNames.filter { !newSet.contains($0) }
        let commonOld = oldNames.filter(newSet.contains)
        let commonNew = newNames.filter(oldSet.contains)
        let oldPlace = Dictionary(commonOld.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        // Moved: out of the longest run of steps in both that kept their order.
        let kept = Set(longestIncreasing(commonNew.map { oldPlace[$0] ?? 0 }).map { commonOld[$0] })
        diff.moved = commonNew.filter { !kept.contains($0) }
        for step in new.steps where oldSet.contains(step.name) {
            guard let before = old.step(named: step.name) else { continue }
            var parts: [String] = []
            if await code(before.run, in: old) != code(step.run, in: new) { parts.append("run") }
            if await code(before.undo, in: old) != code(step.undo, in: new) {
                parts.append(before.undo == nil ? "undo added" : step.undo == nil ? "undo removed" : "undo")
            }
            if await code(before.when, in: old) != code(step.when, in: new) { parts.append("when") }
            let oldChecks = before.before + before.after + (before.gate.map { [$0] } ?? [])
            let newChecks = step.before + step.after + (step.gate.map { [$0] } ?? [])
            if oldChecks.map(\.label) != newChecks.map(\.label) {
                parts.append("checks")
            } else {
                for (a, b) in zip(oldChecks, newChecks) {
                    if await checkCode(a, in: old) != checkCode(b, in: new) { parts.append("check \(b.label)") }
                }
            }
            if !parts.isEmpty { diff.changed.append((step.name, parts)) }
        }
        return diff
    }

    /// The text of a function as written (its lines in the file it came from), to compare.
    static func code(_ ref: LuaRef?, in runbook: Runbook) async -> String? {
        guard let ref, let where_ = await runbook.vm.functionSource(ref) else { return nil }
        let chunk = where_.chunk.hasPrefix("@") || where_.chunk.hasPrefix("=") ? String(where_.chunk.dropFirst()) : where_.chunk
        guard let file = runbook.snapshot.files.first(where: { runbook.snapshot.displayName($0) == chunk }), where_.firstLine > 0 else {
            // Ferry's own Lua (a plugin module): the same binary, the same code.
            return "\(chunk):\(where_.firstLine)-\(where_.lastLine)"
        }
        let lines = String(decoding: file.content, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let first = min(where_.firstLine, lines.count), last = min(max(where_.lastLine, first), lines.count)
        return lines[(first - 1)..<last].joined(separator: "\n")
    }

    static func checkCode(_ reference: CheckReference, in runbook: Runbook) async -> String? {
        switch reference {
        case .inline(let ref): return await code(ref, in: runbook)
        case .named(let name): return await code(runbook.checks[name]?.probe, in: runbook)
        }
    }

    /// Indexes (into `values`' values) of a longest strictly increasing subsequence.
    static func longestIncreasing(_ values: [Int]) -> [Int] {
        guard !values.isEmpty else { return [] }
        var length = Array(repeating: 1, count: values.count)
        var previous = Array(repeating: -1, count: values.count)
        for i in values.indices {
            for j in 0..<i where values[j] < values[i] && length[j] + 1 > length[i] {
                length[i] = length[j] + 1
                previous[i] = j
            }
        }
        var i = length.indices.max { length[$0] < length[$1] }!
        var out: [Int] = []
        while i >= 0 {
            out.append(values[i])
            i = previous[i]
        }
        return out.reversed()
    }

    /// The plan as lines: what differs, and what it means for this run's steps.
    /// `ran`: the steps the run ran (done, failed or in flight), by name.
    public func lines(ran: Set<String>, command: String) -> [String] {
        var out: [String] = []
        if !files.isEmpty { out.append("files: \(files.summary)") }
        if isEmpty {
            out.append("steps: the same steps, in the same order, with the same code")
            return out
        }
        for name in added {
            out.append("  + \(name): new\(command == "resume" ? " (runs, in its place, if the run has not passed it)" : " (never ran: nothing to undo)")")
        }
        for name in removed {
            out.append("  - \(name): removed" + (ran.contains(name)
                ? " (it ran: \(command == "rollback" ? "its undo is not in the new version" : "a rollback with the new version cannot undo it"))"
                : " (never ran)"))
        }
        for (name, parts) in changed {
            out.append("  ~ \(name): \(parts.joined(separator: ", ")) changed\(ran.contains(name) ? " (it ran with the journaled code)" : "")")
        }
        for name in moved { out.append("  ↕ \(name): moved\(ran.contains(name) ? " (it ran: not run again)" : "")") }
        return out
    }
}
