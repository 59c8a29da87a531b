import Foundation
import LuaBridge

/// Runs health checks: a probe returns `true`, or `false, "why"`, or raises; it is
/// retried every `every` until it passes or `within` has gone. A check with `on`
/// passes when its probe passes on every host.
struct CheckRunner {
    let engine: Engine
    let runID: String
    let ctx: LuaRef

    struct Outcome: Sendable {
        var passed: Bool
        var message: String?
        var attempts: Int
        var duration: Double
    }

    func run(_ reference: CheckReference, phase: String, step: StepDefinition?, once: Bool = false) async throws -> Outcome {
        switch reference {
        case .named(let name):
            return try await run(engine.runbook.checks[name]!, phase: phase, step: step, once: once)
        case .inline(let fn):
            let definition = CheckDefinition(
                name: "\(step?.name ?? "?")/\(phase)", location: step?.location ?? SourceLocation(file: "?", line: 0), desc: nil,
                probe: fn, within: 0, every: 5, on: nil)
            return try await run(definition, phase: phase, step: step, once: once)
        }
    }

    func run(_ check: CheckDefinition, phase: String, step: StepDefinition?, once: Bool = false) async throws -> Outcome {
        let clock = engine.clock
        let start = clock.now()
        let deadline = start.addingTimeInterval(once ? 0 : check.within)
        var attempts = 0
        var last: (Bool, String?) = (false, nil)
        let invocation = Invocation(stepIndex: step?.index ?? -1, stepName: step?.name ?? check.name, phase: .check)
        while true {
            attempts += 1
            last = try await probe(check, invocation)
            if last.0 || clock.now().addingTimeInterval(check.every) > deadline { break }
            try await clock.sleep(check.every, host: nil)
        }
        let duration = clock.now().timeIntervalSince(start)
        // A passing probe's "reason" is what it would have said on failure: drop it.
        var message = last.0 ? nil : last.1
        if !last.0 && attempts > 1 {
            message = "\(message ?? "failed") (after \(attempts) attempts over \(DurationText.format(duration)))"
        }
        await engine.journal.check(runID, CheckRecord(
            stepIndex: step?.index, name: check.name, phase: phase, passed: last.0, message: message, at: clock.now(),
            duration: duration, attempts: attempts))
        engine.observer.handle(.checkFinished(name: check.name, phase: phase, passed: last.0, message: message))
        return Outcome(passed: last.0, message: message, attempts: attempts, duration: duration)
    }

    func probe(_ check: CheckDefinition, _ invocation: Invocation) async throws -> (Bool, String?) {
        let vm = engine.vm
        let entry = engine.runbook.entry.probe
        do {
            guard let on = check.on else {
                let r = try await vm.call(entry, [.ref(check.probe), .ref(ctx), .value(.nil)], context: invocation)
                return (r.first?.isTruthy ?? false, r.count > 1 ? r[1].stringValue : nil)
            }
            let hosts: [RegionHost]
            switch on {
            case .selectors(let s): hosts = try HostSelector(region: engine.region).hosts(s)
            case .function(let fn):
                let names = try await vm.call(engine.runbook.entry.select, [.ref(fn), .ref(ctx)], context: invocation)
                hosts = try HostSelector.chosen(names.first?.arrayValue?.compactMap(\.stringValue) ?? [], by: names.dropFirst().first,
                                                declaredAt: check.location, region: engine.region)
            }
            let ctx = self.ctx
            let results = await FanOut.run(hosts, limit: engine.region.ssh.parallel, clock: engine.clock) { host in
                var hostInvocation = invocation
                hostInvocation.host = host.name
                return try await vm.call(entry, [.ref(check.probe), .ref(ctx), .value(host.luaValue)], context: hostInvocation)
            }
            let failures = results.compactMap { (host, r) -> String? in
                switch r {
                case .success(let v): return (v.first?.isTruthy ?? false) ? nil : "\(host): \(v.count > 1 ? v[1].stringValue ?? "failed" : "failed")"
                case .failure(let e): return "\(host): \(StepRunner.describe(e))"
                }
            }.sorted()
            if failures.isEmpty { return (true, nil) }
            return (false, "\(failures.count) of \(hosts.count) host(s): \(failures.prefix(3).joined(separator: "; "))")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return (false, StepRunner.describe(error))
        }
    }
}
