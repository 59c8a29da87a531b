import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// The `nio` transport's SSH keepalives against real sshd hosts: a host whose sshd has
/// stopped (SIGSTOP: the kernel still answers TCP for it) is reported lost within
/// `keepalive_interval × (keepalive_count + 1)`, while a healthy host running a long
/// silent command is not.
@Suite(.serialized) struct SSHKeepaliveTests {
    /// Lost after 1 s × (2 + 1) = 3 s of silence.
    static let settings = "keepalive_interval: 1s\nkeepalive_count: 2"

    struct NoOutcome: Error, CustomStringConvertible {
        var description: String { "the run did not end within the hang guard (\(Wait.hangGuardSeconds / 60) minutes): the stalled session hung" }
    }

    @Test func aStalledSessionWithoutTimeoutIsReportedLostWithinTheLimit() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "stall" }
            step "long" { on = "computes", run = function(host, ctx)
              -- No timeout. Writes its sshd session's pid, then waits for out/release.
              host:run("echo $PPID > " .. ctx.vars.out .. "/session-pid; " ..
                       "\(Wait.shellUntilExists("\" .. ctx.vars.out .. \"/release"))")
            end }
            """, count: 1, ssh: Self.settings)
        let out = r.directory + "/out"
        let ran = Latch()
        let run = Task { defer { ran.open() }; return try await r.run() }
        // The latch: the command has started and named its session process.
        let session = try await Wait.for("the command's session pid", unless: .opened(ran, "the run")) {
            (try? String(contentsOfFile: out + "/session-pid", encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        guard let pid = session else {
            let outcome = try await run.value
            Issue.record("the run ended before its command started: \(outcome.status) \(outcome.message ?? "") \(outcome.failedHosts)")
            await r.shutdown()
            return
        }
        // Only this connection's sshd process stops; the command's shell goes on.
        #expect(kill(pid, SIGSTOP) == 0)
        defer {
            kill(pid, SIGCONT)
            FileManager.default.createFile(atPath: out + "/release", contents: nil)
        }
        let clock = ContinuousClock()
        let stopped = clock.now
        // Without keepalives the run never ends: give up on it at the hang guard, failing. (Not
        // a bound on how soon it is reported: the silence it reports is checked below.)
        let outcome = try await withThrowingTaskGroup(of: RunOutcome.self) { group in
            group.addTask { try await run.value }
            group.addTask {
                try await Task.sleep(for: Wait.hangGuard)
                run.cancel()
                throw NoOutcome()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        let took = clock.now - stopped
        print("SSHKeepaliveTests: a stalled session was reported lost after \(took) (limit 3 s)")
        #expect(outcome.status == .failed)
        let message = outcome.failedHosts.first?.message ?? ""
        // Not before the limit: the silence it reports (from the last byte, which came
        // before the stop) is at least 3 s.
        let silence = message.components(separatedBy: "no answer from the host for ").dropFirst().first?
            .prefix { $0.isNumber || $0 == "." }
        #expect(silence.flatMap { Double($0) }.map { $0 >= 3 } == true, "\(message)")
        #expect(message.contains("the connection was closed as lost"), "\(message)")
        #expect(message.contains("may have run"), "\(message)")
        let journaled = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first
        #expect(journaled?.status == .failed)
        #expect(journaled?.message?.contains("connection was closed as lost") == true)
        await r.shutdown()
    }

    /// Silent for 10 s, two and a half times the limit (1 s × (3 + 1)); each keepalive
    /// may take up to 3 s to be answered, for a loaded machine.
    @Test func aSilentCommandLongerThanTheLimitSucceedsOnAHealthyHost() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "quiet" }
            step "sleep" { on = "computes", run = function(host, ctx)
              host.state.out = host:run("sleep 10; echo done").stdout
            end }
            """, count: 1, ssh: "keepalive_interval: 1s\nkeepalive_count: 3")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "") \(outcome.failedHosts)")
        let state = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first?.hostState
        #expect(state?["out"] == "done\n")
        await r.shutdown()
    }
}
