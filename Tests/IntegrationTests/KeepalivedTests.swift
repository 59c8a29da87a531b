import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// The keepalived VIP driver against two real keepalived balancers in network
/// namespaces (scripts/testenv/up keepalived), reached over SSH.
@Suite(.serialized) struct KeepalivedTests {
    static func environment() throws -> [String: String] {
        let path = TestEnvironment.testenv + "/keepalived/env"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FerryError.failed("no keepalived balancers: run `scripts/testenv/up keepalived` (scripts/test does)")
        }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.contains("=") && !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            out[String(parts[0])] = String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        return out
    }

    @Test func switchMovesTheAddressAndRestorePutsItBack() async throws {
        let e = try Self.environment()
        let dir = try TestEnvironment.directory()
        let knownHosts = dir + "/known_hosts"
        _ = try shellOutput("cat \(TestEnvironment.ssh)/known_hosts \(e["KNOWN_HOSTS"] ?? "/dev/null") > \(knownHosts)")
        let vip = e["VIP"] ?? "198.18.1.100"
        let r = try await LabRun(runbook: """
            runbook { name = "keepalived" }
            step "before" { run = function(ctx) ctx.state.before = vip.get("glance_ka") end }
            step "move" {
              run = function(ctx)
                ctx.state.previous = vip.switch("glance_ka", "lb2")
                ctx.state.after = vip.get("glance_ka")
              end,
              undo = function(ctx) vip.restore(ctx.state.previous) end,
            }
            """, requiring: "\nvips:", transport: "nio", regionEdit: { lab in
                var edited = lab.replacingOccurrences(
                    of: "\n  hosts:\n",
                    with: "\n  hosts:\n    lb1: { address: \(e["LB1_ADDR"] ?? "198.18.1.1"), port: \(e["SSH_PORT"] ?? "22") }\n    lb2: { address: \(e["LB2_ADDR"] ?? "198.18.1.2"), port: \(e["SSH_PORT"] ?? "22") }\n")
                edited = edited.replacingOccurrences(of: "\nvips:\n", with: """

                    vips:
                      glance_ka: { driver: keepalived, address: \(vip), settle: 20s,
                                   balancers: { lb1: { config: \(e["LB1_CONF"] ?? ""), pidfile: \(e["LB1_PID"] ?? "") },
                                                lb2: { config: \(e["LB2_CONF"] ?? ""), pidfile: \(e["LB2_PID"] ?? "") } } }

                    """)
                return edited.replacingOccurrences(
                    of: #"known_hosts: [^,}]*"#, with: "known_hosts: \(knownHosts)", options: .regularExpression)
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["before"]["holder"] == "lb1")
        #expect(s["after"]["holder"] == "lb2")
        #expect(s["after"]["balancers"]["lb1"]["holds"] == false)
        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
        // Where the address lives, asked of the namespace itself.
        let onLB1 = try shellOutput("ip netns exec ferry-lb1 ip -4 -o addr show | grep -c ' \(vip)/' || true")
        #expect(onLB1.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        await r.engine.transport.shutdown()
    }
}
