import FerryCore
import Foundation
import LuaBridge
import Testing

/// `host:run(cmd, { env = … })`: the values reach the command but no process list shows
/// them, on the target or on the Ferry machine (here both are this machine, so `ps` sees
/// the ssh client of the openssh transport as well as the shells on the host).
@Suite struct SecretEnvTests {
    static let runbook = """
        runbook { name = "secret-env" }
        step "probe" { on = "computes", run = function(host, ctx)
          -- While the command runs, count the process-list lines that show the value (the
          -- pattern does not match itself).
          local r = host:run("echo \\"$DB_PASSWORD|$OTHER\\"; ps -eo args | grep -c 's3cr3[t]' || true", {
            env = { DB_PASSWORD = "s3cr3t-'\\"$(touch /tmp/ferry-env-injected)-zz", OTHER = "two words" },
            sudo = true,
          })
          local first, count = r.stdout:match("^([^\\n]*)\\n(%d+)")
          ctx.state.seen = first
          ctx.state.listed = tonumber(count)
        end }
        """

    @Test(arguments: ["nio", "openssh", "local"])
    func secretsReachTheCommandButNoProcessList(transport: String) async throws {
        try? FileManager.default.removeItem(atPath: "/tmp/ferry-env-injected")
        let r: RealRun
        if transport == "local" {
            r = try await RealRun(runbook: Self.runbook, count: 1, transport: "nio", localTransport: true)
        } else {
            r = try await RealRun(runbook: Self.runbook, count: 1, transport: transport)
        }
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "") \(outcome.failedHosts)")
        let state = try await r.state(outcome)
        #expect(state["seen"] == "s3cr3t-'\"$(touch /tmp/ferry-env-injected)-zz|two words")
        #expect(state["listed"] == 0, "the password is in a process list")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ferry-env-injected"), "a value was run as shell")
        await r.shutdown()
    }

    @Test func anEnvNameThatIsNotAShellVariableIsRefused() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "bad-env" }
            step "probe" { on = "computes", run = function(host, ctx)
              host:run("true", { env = { ["X; touch /tmp/ferry-env-name"] = "1" } })
            end }
            """, count: 1)
        let outcome = try await r.run()
        #expect(outcome.status == .failed)
        #expect(outcome.failedHosts.first?.message.contains("is not a shell variable name") == true, "\(outcome.failedHosts)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ferry-env-name"))
        await r.shutdown()
    }
}
