import FerryCore
import Foundation
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
        var description: String { "the run did not end within 120 s: the stalled session hung" }
    }

    @Test func aStalledSessionWithoutTimeoutIsReportedLostWithinTheLimit() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "stall" }
            step "long" { on = "computes", run = function(host, ctx)
              -- No timeout. Writes its sshd session's pid, then waits for out/release.
              host:run("echo $PPID > " .. ctx.vars.out .. "/session-pid; " ..
                       "while [ ! -e " .. ctx.vars.out .. "/release ]; do sleep 0.1; done")
            end }
            """, count: 1, ssh: Self.settings)
        let out = r.directory + "/out"
        let run = Task { try await r.run() }
        // The latch: the command has started and named its session process.
        var session: Int32?
        let deadline = ContinuousClock.now + .seconds(120)
        while session == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            session = (try? String(contentsOfFile: out + "/session-pid", encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let pid = try #require(session, "the command never started")
        // Only this connection's sshd process stops; the command's shell goes on.
        #expect(kill(pid, SIGSTOP) == 0)
        defer {
            kill(pid, SIGCONT)
            FileManager.default.createFile(atPath: out + "/release", contents: nil)
        }
        let clock = ContinuousClock()
        let stopped = clock.now
        // Without keepalives the run never ends: give up on it after 120 s, failing.
        let outcome = try await withThrowingTaskGroup(of: RunOutcome.self) { group in
            group.addTask { try await run.value }
            group.addTask {
                try await Task.sleep(for: .seconds(120))
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
