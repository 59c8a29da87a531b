import FerryCore
import Foundation
import FerryTestSupport
import Testing

/// Step timeouts on the simulated region fire in simulated time, as on a real one in
/// real time: one scheduler, only where time comes from differs.
@Suite struct SimulatedTimeoutTests {
    static func run(_ runbook: String, computes: Int = 3) async throws -> (RunOutcome, Engine) {
        let s = try await SimulationTests.make(runbook: runbook, simulate: "seed: 1", computes: computes)
        var options = RunOptions()
        options.virtualTime = true
        return (try await s.engine.run(options), s.engine)
    }

    /// Simulated: the hour is not waited out in real time (were it, the time limit, the
    /// 30-minute hang guard, would fail the test; how fast the machine is does not matter).
    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func aStepThatSleepsPastItsTimeoutFailsNamingTheStep() async throws {
        let (outcome, engine) = try await Self.run("""
            runbook { name = "sleepy" }
            step "wait-for-godot" { timeout = "20s", run = function(ctx) sleep("1h"); ctx.state.woke = true end }
            """)
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("step wait-for-godot did not finish within 20") == true, "\(outcome.message ?? "")")
        let state = try await engine.journal.run(outcome.runID).state
        #expect(state["woke"] == .nil)
        // The step ended at its limit in simulated time, not after the hour.
        let step = try #require(try await engine.journal.steps(outcome.runID).first)
        let took = try #require(step.endedAt).timeIntervalSince(try #require(step.startedAt))
        #expect(took >= 20 && took < 60, "\(took)")
    }

    @Test func aLoopThatNeverEndsIsStoppedEvenWhenItCatchesTheError() async throws {
        let (outcome, _) = try await Self.run("""
            runbook { name = "loop" }
            step "spin" { timeout = "5m", run = function(ctx)
              while true do pcall(sleep, "1s") end
            end }
            """)
        #expect(outcome.status == .failed)
        #expect(outcome.message?.contains("step spin did not finish within 5") == true, "\(outcome.message ?? "")")
    }

    @Test func aPerHostStepTimesOutOnEachHostThatRunsTooLong() async throws {
        // A simulated `sleep 100` takes 100 s on the host's lane.
        let (outcome, engine) = try await Self.run("""
            runbook { name = "hosts" }
            step "restart" { on = "computes", timeout = "30s", run = function(host, ctx)
              if host.name == "cmp0002" then
                host:run("sleep 100")
              else
                host:run("true")
              end
            end }
            """)
        #expect(outcome.status == .failed)
        let hosts = try await engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        let slow = try #require(hosts.first { $0.host == "cmp0002" })
        #expect(slow.status == .failed)
        #expect(slow.message?.contains("did not finish within 30") == true, "\(slow.message ?? "")")
        #expect(hosts.filter { $0.status == .ok }.count == 2, "the other hosts finish in time")
        // The step stopped the slow host at its limit: 30 s of simulated time, not 100.
        let took = try #require(slow.duration)
        #expect(took >= 30 && took < 35, "\(took)")
    }

    @Test func aStepWithinItsTimeoutIsUntouched() async throws {
        let (outcome, _) = try await Self.run("""
            runbook { name = "fine" }
            step "short" { timeout = "2m", run = function(ctx) sleep("90s"); ctx.state.done = true end }
            step "hosts" { on = "computes", timeout = "10m", run = function(host, ctx)
              ssh.run(host.name, "true")
              sleep("5m")
            end }
            """)
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
    }
}
