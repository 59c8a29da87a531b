import Foundation
import LuaBridge
import Synchronization

/// The per-host part of a step: resolve hosts, skip those already done, run the
/// rest in waves of `batch` with at most `parallel` at once, stop when more than
/// `max_fail` fail, and check the `gate` between waves (growing or shrinking the
/// wave when `adaptive`).
struct HostStepRunner {
    let runner: StepRunner

    var step: StepDefinition { runner.step }
    var engine: Engine { runner.engine }
    var journal: RunJournal { runner.journal }
    var observer: any RunObserver { runner.observer }

    struct Outcome {
        var result: StepRunner.Result
        var ok: Int
        var failed: Int
    }

    /// Counters shared by the host tasks of one step.
    final class Tally: Sendable {
        struct State {
            var ok = 0
            var failed = 0
            var failures: [(String, String)] = []
            var stopped = false
            /// A full disk (or another local write that failed): the step stops, whatever `max_fail` allows.
            var writeFailure: LocalWriteError?
        }

        /// Stops the step when a local write of the run failed.
        func noteWrites(_ writes: LocalWriteFailures) {
            guard let failure = writes.failure else { return }
            state.withLock { s in
                if s.writeFailure == nil { s.writeFailure = failure }
                s.stopped = true
            }
        }
        let state = Mutex(State())
    }

    func resolveHosts() async throws -> [RegionHost] {
        switch step.on! {
        case .selectors(let selectors):
            return try HostSelector(region: engine.region).hosts(selectors)
        case .function(let fn):
            let invocation = Invocation(stepIndex: step.index, stepName: step.name, phase: runner.phase)
            let names = try await engine.vm.call(engine.runbook.entry.select, [.ref(fn), .ref(runner.ctx)], context: invocation)
            guard let list = names.first?.arrayValue?.compactMap(\.stringValue) else { return [] }
            return try HostSelector.chosen(list, by: names.dropFirst().first, declaredAt: step.location, region: engine.region)
        }
    }

    /// - Parameter hostsFilter: for an undo, the hosts to undo and what their run left (`host.state`).
    func execute(hostsFilter: [String: HostRecord]?) async throws -> Outcome {
        let phase = runner.phase
        let runID = runner.runID
        var hosts: [RegionHost]
        do {
            if let hostsFilter {
                hosts = hostsFilter.keys.sorted().compactMap { engine.region.hosts[$0] }
            } else {
                hosts = try await resolveHosts()
                if let limit = runner.limit {
                    let selected = hosts.count
                    hosts.removeAll { !limit.contains($0.name) }
                    if hosts.count < selected {
                        journal.event(runID, kind: "limit", stepIndex: step.index,
                                      message: "--limit: \(hosts.count) of the \(selected) host(s) the step selects")
                    }
                }
            }
        } catch {
            let message = "step \(step.name): \(StepRunner.describe(error))"
            try await journal.stepStarted(runID, step.index, phase, name: step.name, hostsTotal: 0)
            return Outcome(result: .init(succeeded: false, message: message), ok: 0, failed: 0)
        }
        let total = hosts.count
        // On resume, hosts that finished are not run again; failed and in-flight ones are.
        let earlier = Dictionary(
            try await journal.hosts(runID, step: step.index, phase: phase).map { ($0.host, $0) }, uniquingKeysWith: { $1 })
        let alreadyDone = Set(earlier.values.filter { $0.status == .ok }.map(\.host))
        hosts.removeAll { alreadyDone.contains($0.name) }
        try await journal.stepStarted(runID, step.index, phase, name: step.name, hostsTotal: total)
        observer.handle(.stepStarted(index: step.index, name: step.name, phase: phase, hosts: total))

        let tally = Tally()
        tally.state.withLock { $0.ok = alreadyDone.count }
        let maxFail = step.maxFail.resolve(total: total)
        let parallel = max(1, step.parallel ?? engine.region.ssh.parallel)
        let initialWave = step.batch.map { max(1, $0.resolve(total: total)) } ?? max(1, hosts.count)
        var waveSize = initialWave
        var position = 0
        var wave = 0
        let checks = CheckRunner(engine: engine, runID: runID, ctx: runner.ctx)

        while position < hosts.count {
            wave += 1
            let slice = Array(hosts[position..<min(hosts.count, position + waveSize)])
            position += slice.count
            observer.handle(.waveStarted(index: step.index, wave: wave, size: slice.count))
            try await runWave(slice, wave: step.batch == nil ? nil : wave, parallel: parallel, maxFail: maxFail, tally: tally,
                              earlier: earlier, hostsFilter: hostsFilter)
            let stopped = tally.state.withLock { $0.failed > maxFail || $0.writeFailure != nil }
            if stopped || position >= hosts.count { break }
            if let pause = step.pause { try await engine.clock.sleep(pause, host: nil) }
            if let gate = step.gate, phase != .check {
                if step.adaptive {
                    let first = try await checks.run(gate, phase: "gate", step: step, once: true)
                    if first.passed {
                        waveSize += initialWave
                    } else {
                        waveSize = max(1, waveSize / 2)
                        journal.event(runID, kind: "adaptive", stepIndex: step.index, level: "warn",
                                      message: "gate \(gate.label) failed after wave \(wave) (\(first.message ?? "")); wave size now \(waveSize)")
                        observer.handle(.log(LogLine(level: .warn, message: "\(step.name): gate \(gate.label) failed (\(first.message ?? "")); next wave \(waveSize) hosts", invocation: nil)))
                        let recovered = try await checks.run(gate, phase: "gate", step: step)
                        if !recovered.passed {
                            return finish(tally, total: total, message: "gate \(gate.label) did not recover after wave \(wave): \(recovered.message ?? "")")
                        }
                    }
                    journal.event(runID, kind: "adaptive", stepIndex: step.index, message: "wave \(wave + 1) size \(waveSize)")
                } else {
                    let outcome = try await checks.run(gate, phase: "gate", step: step)
                    if !outcome.passed {
                        return finish(tally, total: total, message: "gate \(gate.label) failed after wave \(wave): \(outcome.message ?? "")")
                    }
                }
            }
        }
        return finish(tally, total: total, message: nil)
    }

    func finish(_ tally: Tally, total: Int, message: String?) -> Outcome {
        let s = tally.state.withLock { $0 }
        let maxFail = step.maxFail.resolve(total: total)
        var text = message
        let succeeded = message == nil && s.failed <= maxFail && s.writeFailure == nil
        if let failure = s.writeFailure {
            text = "stopped: \(failure); free space there, then resume"
        } else if s.failed > maxFail {
            let allowed = maxFail == 0 ? "none may fail" : "at most \(step.maxFail) may fail"
            let examples = s.failures.prefix(3).map { failure -> String in
                let text = failure.1.count > 200 ? String(failure.1.prefix(197)) + "..." : failure.1
                return "\(failure.0): \(text)"
            }.joined(separator: "; ")
            text = "\(s.failed) of \(total) host(s) failed (\(allowed)): \(examples)"
        }
        return Outcome(result: .init(succeeded: succeeded, message: text, failedHosts: s.failures), ok: s.ok, failed: s.failed)
    }

    func runWave(_ hosts: [RegionHost], wave: Int?, parallel: Int, maxFail: Int, tally: Tally,
                 earlier: [String: HostRecord], hostsFilter: [String: HostRecord]?) async throws
    {
        if step.perWave {
            return try await runWholeWave(hosts, wave: wave, maxFail: maxFail, tally: tally, earlier: earlier,
                                          hostsFilter: hostsFilter)
        }
        let runner = self.runner
        let step = self.step
        let engine = self.engine
        let phase = runner.phase
        let runID = runner.runID
        let function = runner.function
        // Hosts go through the one scheduler, each on its own lane (its name).
        _ = try await Window(clock: engine.clock, parent: nil, limit: parallel).run(count: hosts.count, lane: { hosts[$0].name }) {
            i, _ in
            let host = hosts[i]
            // Stop scheduling new hosts once too many failed, or the disk is full; those in flight finish.
            tally.noteWrites(engine.localWrites)
            if tally.state.withLock({ $0.stopped }) { return }
            let clock = engine.clock
            let start = clock.now(host: host.name)
            // The host's state from its run (for undo) or from an earlier attempt (resume).
            let hostState = (hostsFilter?[host.name]?.hostState) ?? earlier[host.name]?.hostState ?? .map([:])
            let previousAttempts = earlier[host.name]?.attempts ?? 0
            var lastAttempt = 1
            do {
                try await engine.journal.hostStarted(runID, step.index, phase, host: host.name,
                                                     attempt: previousAttempts + 1, wave: wave)
                let invocation = Invocation(stepIndex: step.index, stepName: step.name, host: host.name, phase: phase)
                let values = try await runner.withRetries(invocation) { invocation in
                    lastAttempt = invocation.attempt
                    return try await withTimeout(step.timeout, clock: engine.clock, lane: host.name, what: "step \(step.name) on \(host.name)") {
                        try await engine.vm.call(
                            engine.runbook.entry.invokeHost,
                            [.ref(function), .value(host.luaValue), .ref(runner.ctx), .value(hostState)],
                            context: invocation)
                    }
                }
                let duration = clock.now(host: host.name).timeIntervalSince(start)
                try clock.hostDone(host.name)
                try await engine.journal.hostFinished(
                    runID, step.index, phase, host: host.name, ok: true, attempts: previousAttempts + lastAttempt,
                    duration: duration, message: nil, exitCode: nil, stdout: nil, stderr: nil,
                    hostState: values.first ?? .map([:]))
                tally.state.withLock { $0.ok += 1 }
                tally.noteWrites(engine.localWrites)
                engine.observer.handle(.hostFinished(index: step.index, host: host.name, ok: true, duration: duration, message: nil))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let duration = clock.now(host: host.name).timeIntervalSince(start)
                let message = StepRunner.describe(error)
                let failed = error as? CommandFailed
                if let failure = error as? LocalWriteError { engine.localWrites.record(failure) }
                // Its record was tried already when that is what failed; the host is failed either way.
                try? clock.hostDone(host.name)
                try await engine.journal.hostFinished(
                    runID, step.index, phase, host: host.name, ok: false, attempts: previousAttempts + lastAttempt,
                    duration: duration, message: message, exitCode: failed?.result.exitCode.map(Int.init),
                    stdout: failed?.result.stdout, stderr: failed?.result.stderr, hostState: hostState)
                tally.state.withLock { s in
                    s.failed += 1
                    s.failures.append((host.name, message))
                    if s.failed > maxFail { s.stopped = true }
                }
                tally.noteWrites(engine.localWrites)
                engine.observer.handle(.hostFinished(index: step.index, host: host.name, ok: false, duration: duration, message: message))
            }
        }
    }

    /// `per = "wave"`: the step's function runs once with the wave's hosts (a playbook with
    /// `--limit`); each host is journaled as it says, and a raise fails them all. On resume
    /// and rollback the waves are made of the hosts still to run, as for any step.
    func runWholeWave(_ hosts: [RegionHost], wave: Int?, maxFail: Int, tally: Tally,
                      earlier: [String: HostRecord], hostsFilter: [String: HostRecord]?) async throws
    {
        let phase = runner.phase
        let runID = runner.runID
        tally.noteWrites(engine.localWrites)
        if tally.state.withLock({ $0.stopped }) || hosts.isEmpty { return }
        let clock = engine.clock
        let start = clock.now(host: nil)
        let states = hosts.map { (hostsFilter?[$0.name]?.hostState) ?? earlier[$0.name]?.hostState ?? .map([:]) }
        for host in hosts {
            try await journal.hostStarted(runID, step.index, phase, host: host.name,
                                          attempt: (earlier[host.name]?.attempts ?? 0) + 1, wave: wave)
        }
        var failures: [String: String] = [:]
        var newStates = states
        do {
            let invocation = Invocation(stepIndex: step.index, stepName: step.name, host: nil, phase: phase)
            let values = try await withTimeout(step.timeout, clock: clock, lane: nil,
                                               what: "step \(step.name) on wave \(wave ?? 1) (\(hosts.count) hosts)") {
                try await self.engine.vm.call(
                    self.engine.runbook.entry.invokeWave,
                    [.ref(self.runner.function), .value(.array(hosts.map(\.luaValue))), .ref(self.runner.ctx),
                     .value(.array(states))],
                    context: invocation)
            }
            let names = Set(hosts.map(\.name))
            if case .map(let failed)? = values.first {
                for (key, value) in failed {
                    let name = key
                    guard names.contains(name) else {
                        throw FerryError.failed("step \(step.name): the wave's run function says \(name) failed, which is not a host of this wave (\(hosts.map(\.name).joined(separator: ", ")))")
                    }
                    failures[name] = value.stringValue ?? "failed"
                }
            }
            if values.count > 1, case .array(let list) = values[1], list.count == hosts.count { newStates = list }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let failure = error as? LocalWriteError { engine.localWrites.record(failure) }
            let message = StepRunner.describe(error)
            for host in hosts { failures[host.name] = message }
        }
        let duration = clock.now(host: nil).timeIntervalSince(start)
        for (i, host) in hosts.enumerated() {
            let attempts = (earlier[host.name]?.attempts ?? 0) + 1
            // As for a host of a per-host step: what the host did that cannot be kept (the simulated
            // model's log on a full disk) makes it failed, so a resume runs it again.
            if failures[host.name] == nil {
                do { try clock.hostDone(host.name) } catch {
                    if let failure = error as? LocalWriteError { engine.localWrites.record(failure) }
                    failures[host.name] = StepRunner.describe(error)
                }
            }
            if let message = failures[host.name] {
                try? clock.hostDone(host.name)
                try await journal.hostFinished(
                    runID, step.index, phase, host: host.name, ok: false, attempts: attempts, duration: duration,
                    message: message, exitCode: nil, stdout: nil, stderr: nil, hostState: states[i])
                tally.state.withLock { s in
                    s.failed += 1
                    s.failures.append((host.name, message))
                    if s.failed > maxFail { s.stopped = true }
                }
                engine.observer.handle(.hostFinished(index: step.index, host: host.name, ok: false, duration: duration, message: message))
            } else {
                try await journal.hostFinished(
                    runID, step.index, phase, host: host.name, ok: true, attempts: attempts, duration: duration,
                    message: nil, exitCode: nil, stdout: nil, stderr: nil, hostState: newStates[i])
                tally.state.withLock { $0.ok += 1 }
                engine.observer.handle(.hostFinished(index: step.index, host: host.name, ok: true, duration: duration, message: nil))
            }
        }
        tally.noteWrites(engine.localWrites)
    }
}
