import ArgumentParser
import FerryCore
import FerryPlugins
import Foundation
import LuaBridge

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "List runs, or show one: done, failed and remaining steps, failed hosts.")
    @Argument(help: "A run id, or 'last'. Without it, the recent runs.") var run: String?
    @Flag(name: .long, help: "Print as JSON.") var json = false
    @OptionGroup var journalOptions: JournalOptions

    func run() async throws {
        try await guarded {
            if run == nil && !journalOptions.exists {
                Console.out(json ? "[]" : "No runs in \(journalOptions.journal) (there is no journal there yet).")
                return 0
            }
            let journal = try journalOptions.openForReading()
            let leases = try await journal.leases.leases()
            guard let run else {
                let runs = try await journal.runs()
                if json {
                    Console.out(LuaValue.array(runs.map(Self.summary)).jsonString())
                } else if runs.isEmpty && leases.isEmpty {
                    Console.out("No runs in \(journalOptions.journal).")
                } else {
                    for r in runs {
                        var line = "\(r.id)  \(Self.statusText(r).padding(toLength: 19, withPad: " ", startingAt: 0))  \(r.runbookName)  region \(r.regionName)  \(Self.time(r.startedAt))"
                        // Only where it matters: a run that can still be resumed or rolled back.
                        if r.status != .succeeded && r.status != .rolledBack && !r.isDryRun, let changes = try await Self.runbookChanges(r, journal),
                            !changes.isEmpty
                        {
                            line += "  (runbook changed on disk)"
                        }
                        Console.out(line)
                    }
                    for line in Self.lockLines(leases) { Console.out(line) }
                }
                return 0
            }
            let record = try await journal.run(run)
            let ownLeases = leases.filter { $0.holder.runID == record.id || $0.scope == .region(record.regionName) }
            let steps = try await journal.steps(record.id)
            var failedHosts: [String: [HostRecord]] = [:]
            var inFlight: [String: [HostRecord]] = [:]
            var okCounts: [String: Int] = [:]
            for (index, phase, host) in try await journal.allHosts(record.id) {
                let key = "\(index)/\(phase.rawValue)"
                if host.status == .ok { okCounts[key, default: 0] += 1 }
                if host.status == .failed { failedHosts[key, default: []].append(host) }
                if host.status == .started { inFlight[key, default: []].append(host) }
            }
            var planned: [String] = []
            let journaledRunbook = try await journal.runbook(record.id)
            let changes = journaledRunbook?.snapshot.differencesOnDisk()
            // The steps not yet run, by name, of the version a resume would run.
            let loaded: Runbook?
            if let journaledRunbook {
                loaded = try? await RunbookLoader.load(snapshot: journaledRunbook.snapshot, extensions: PluginRegistry.extensions)
            } else {
                loaded = try? await RunbookLoader.load(path: record.runbook, extensions: PluginRegistry.extensions)
            }
            if let rb = loaded {
                let seen = Set(steps.filter { $0.phase == .run }.map(\.name))
                planned = rb.steps.filter { !seen.contains($0.name) }.map(\.name)
            }
            if json {
                var out = Self.summary(record).mapValue ?? [:]
                out["steps"] = .array(steps.map { s in
                    var m: [String: LuaValue] = [
                        "index": .int(Int64(s.index)), "name": .string(s.name), "phase": .string(s.phase.rawValue),
                        "status": .string(s.status.rawValue), "hosts_total": .int(Int64(s.hostsTotal)),
                        "hosts_ok": .int(Int64(okCounts["\(s.index)/\(s.phase.rawValue)"] ?? 0)),
                        "hosts_failed": .int(Int64(failedHosts["\(s.index)/\(s.phase.rawValue)"]?.count ?? 0)),
                    ]
                    if let d = s.duration { m["duration"] = .number(d) }
                    if let msg = s.message { m["message"] = .string(msg) }
                    let key = "\(s.index)/\(s.phase.rawValue)"
                    m["failed_hosts"] = .array((failedHosts[key] ?? []).map { .map(["host": .string($0.host), "message": .string($0.message ?? "")]) })
                    m["in_flight_hosts"] = .array((inFlight[key] ?? []).map { .string($0.host) })
                    return .map(m)
                })
                out["remaining"] = .array(planned.map { .string($0) })
                out["locks"] = .array(ownLeases.map(Self.leaseValue))
                out["state"] = record.state
                out["runbook_journaled"] = .bool(journaledRunbook != nil)
                if let changes {
                    out["runbook_changed"] = .array((changes.changed + changes.added + changes.removed).map { .string($0) })
                }
                Console.out(LuaValue.map(out).jsonString())
                return 0
            }
            Console.out("Run \(record.id): \(record.runbookName) on region \(record.regionName)")
            Console.out("  status:  \(Self.statusText(record))\(record.message.map { " — \($0)" } ?? "")")
            Console.out("  started: \(Self.time(record.startedAt))\(record.endedAt.map { ", ended \(Self.time($0))" } ?? "")")
            Console.out("  runbook: \(record.runbook)")
            let inputs = RunInputs.describe(record.options.vars ?? [:])
            if !inputs.isEmpty { Console.out("  inputs:  \(inputs.joined(separator: ", "))") }
            if let limit = record.options.limit { Console.out("  limit:   \(limit) (per-host steps act only on these hosts)") }
            if let changes, !changes.isEmpty {
                Console.out("  runbook: changed on disk since the run started (\(changes.summary)); resume and rollback run the journaled version")
            } else if journaledRunbook == nil {
                Console.out("  runbook: no files journaled (a run from an older Ferry); resume and rollback would run the runbook on disk")
            }
            for line in Self.lockLines(ownLeases) { Console.out("  " + line) }
            for s in steps {
                let what = s.phase == .undo ? "undo " : ""
                var line = "  \(s.status == .done ? "✓" : s.status == .skipped ? "-" : s.status == .running ? "…" : "✗") \(s.index + 1). \(what)\(s.name): \(s.status.rawValue)"
                if let d = s.duration { line += " in \(DurationText.format(d))" }
                let key = "\(s.index)/\(s.phase.rawValue)"
                if s.hostsTotal > 0 {
                    line += " (\(okCounts[key] ?? 0)/\(s.hostsTotal) hosts ok, \(failedHosts[key]?.count ?? 0) failed)"
                }
                if let m = s.message, s.status != .done { line += " — \(m)" }
                Console.out(line)
                for h in (failedHosts[key] ?? []).prefix(20) { Console.out("      ✗ \(h.host): \(h.message ?? "failed")") }
                if let flying = inFlight[key], !flying.isEmpty {
                    Console.out("      in flight when the run stopped (will run again on resume): \(flying.map(\.host).prefix(20).joined(separator: ", "))")
                }
            }
            if !planned.isEmpty { Console.out("  not yet run: \(planned.joined(separator: ", "))") }
            return 0
        }
    }

    /// How the runbook on disk differs from the one `r` journaled (nil: none journaled).
    static func runbookChanges(_ r: RunRecord, _ journal: RunJournal) async throws -> RunbookFileChanges? {
        try await journal.runbook(r.id)?.snapshot.differencesOnDisk()
    }

    /// The run's status as shown: `interrupted` for a run whose process is gone; a dry run's
    /// `dry_run_passed`, `dry_run_failed`… (``RunRecord/displayStatus``), never `succeeded`.
    static func status(_ r: RunRecord) -> String {
        var shown = r
        if (r.status == .running || r.status == .rollingBack) && !ProcessProbe.isAlive(r.pid) { shown.status = .interrupted }
        return shown.displayStatus
    }

    /// ``status(_:)`` for people: `dry run passed`, `failed`.
    static func statusText(_ r: RunRecord) -> String {
        r.isDryRun ? status(r).replacingOccurrences(of: "_", with: " ") : status(r)
    }

    /// One line per holder: `locked: region kr1, run X by ferry run (pid 4242 on deploy-1, since 10:32)`,
    /// with what becomes of a lock whose holder is gone or elsewhere.
    static func lockLines(_ leases: [Lease]) -> [String] {
        var order: [String] = []
        var byToken: [String: [Lease]] = [:]
        for lease in leases {
            if byToken[lease.holder.token] == nil { order.append(lease.holder.token) }
            byToken[lease.holder.token, default: []].append(lease)
        }
        return order.map { token in
            let held = byToken[token] ?? []
            let holder = held[0].holder
            var line = "locked: \(held.map(\.scope.description).joined(separator: ", ")) by ferry \(holder.command) for \(holder.description)"
            switch holder.liveness {
            case .gone: line += "; that process is gone: the next command takes the lock over"
            case .elsewhere: line += "; on another host: only --break-lock takes it from here"
            case .alive, .thisProcess: break
            }
            return line
        }
    }

    static func leaseValue(_ lease: Lease) -> LuaValue {
        .map([
            "scope": .string(lease.scope.key), "run": .string(lease.holder.runID), "command": .string(lease.holder.command),
            "pid": .int(Int64(lease.holder.pid)), "host": .string(lease.holder.hostname), "since": .string(time(lease.holder.since)),
            "holder": .string(lease.holder.liveness.rawValue),
        ])
    }

    static func time(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: d)
    }

    static func summary(_ r: RunRecord) -> LuaValue {
        var m: [String: LuaValue] = [
            "id": .string(r.id), "runbook": .string(r.runbookName), "region": .string(r.regionName),
            "status": .string(status(r)), "started_at": .string(time(r.startedAt)), "kind": .string(r.kind),
            "dry_run": .bool(r.isDryRun),
        ]
        if let e = r.endedAt { m["ended_at"] = .string(time(e)) }
        if let msg = r.message { m["message"] = .string(msg) }
        // The inputs as journaled: a secret reference is the reference, never its value.
        if let vars = r.options.vars, !vars.isEmpty { m["inputs"] = .map(vars) }
        if let limit = r.options.limit { m["limit"] = .string(limit) }
        return .map(m)
    }
}
