import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

func curl(_ args: String) throws -> String { try shellOutput("curl -s -m 30 \(args)") }

/// Asks again until the answer satisfies `done`, and returns it. HAProxy sends traffic to a
/// server that just left maintenance only once its health check passes, so right after a
/// switch or a restore the VIP may still answer 503 for a moment, however long that moment
/// is on a loaded machine. Nothing of the test's own ends the wait: an answer that never
/// comes fails at the hang guard.
func curl(_ args: String, until done: (String) -> Bool) async throws -> String {
    var last = ""
    do {
        return try await Wait.required("curl \(args) to answer as expected", every: .milliseconds(250), unless: .never) {
            last = try curl(args)
            return done(last) ? last : nil
        }
    } catch let hung as Wait.Hung {
        throw FerryError.failed("\(hung) (last answer: \(last))")
    }
}

extension LabHAProxy {
/// vip.* against the lab's HAProxy (scripts/testenv/up haproxy).
@Suite(.serialized) struct VIPTests {
    func lab(_ runbook: String, edit: @escaping (String) -> String = { $0 }) async throws -> LabRun {
        try await LabRun(runbook: runbook, requiring: "\nvips:", regionEdit: edit)
    }

    @Test func switchSendsTrafficToTheNewServersAndRestorePutsItBack() async throws {
        let r = try await lab("""
            runbook { name = "vip" }
            step "start-on-old" { run = function(ctx) vip.switch("glance", "glance_old"); vip.maintenance("glance", false) end }
            step "switch" {
              run = function(ctx)
                ctx.state.url = vip.url("glance")
                ctx.state.before = vip.get("glance")
                ctx.state.previous = vip.switch("glance", "glance_new")
                ctx.state.after = vip.get("glance")
              end,
              undo = function(ctx) vip.restore(ctx.state.previous) end,
            }
            """)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        let url = try #require(s["url"].stringValue)
        #expect(s["before"]["servers"]["glance-old"]["state"] == "ready")
        #expect(s["before"]["servers"]["glance-new"]["state"] == "maint")
        #expect(s["after"]["servers"]["glance-new"]["state"] == "ready")
        #expect(s["after"]["servers"]["glance-old"]["state"] == "maint")
        let switched = try await curl("\(url)/v2/images", until: { $0.contains("glance-new") })
        #expect(switched.contains("\"server\": \"glance-new\""), "\(switched)")
        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack)
        let restored = try await curl("\(url)/v2/images", until: { $0.contains("glance-old") })
        #expect(restored.contains("\"server\": \"glance-old\""), "\(restored)")
    }

    @Test func maintenanceBlocksAllOrOnlyWrites() async throws {
        let r = try await lab("""
            runbook { name = "maint" }
            step "all" { run = function(ctx) vip.maintenance("glance", "all") end }
            """)
        _ = try await r.run()
        let vipURL = try VIPDirectory(region: r.engine.region, transport: r.engine.transport).url("glance")
        let all = try curl("-i \(vipURL)/v2/images")
        #expect(all.contains("503"), "\(all)")
        #expect(all.lowercased().contains("retry-after: 120"))
        let writes = try await lab("""
            runbook { name = "writes" }
            step "writes" { run = function(ctx) vip.maintenance("glance", "writes") end }
            """)
        _ = try await writes.run()
        // GET passes to the server (once its health check has it UP), POST gets the maintenance 503.
        let read = try await curl("-o /dev/null -w '%{http_code}' \(vipURL)/v2/images", until: { $0 == "200" })
        #expect(read == "200")
        #expect(try curl("-o /dev/null -w '%{http_code}' -X POST \(vipURL)/v2/images") == "503")
        let off = try await lab("""
            runbook { name = "off" }
            step "off" { run = function(ctx) vip.maintenance("glance", false) end }
            """)
        _ = try await off.run()
        let write = try await curl("-o /dev/null -w '%{http_code}' -X POST \(vipURL)/v2/images", until: { $0 == "200" })
        #expect(write == "200")
    }

    @Test func clearErrorsForAMissingServerAndAMissingSocket() async throws {
        let r = try await lab("""
            runbook { name = "bad" }
            step "switch" { run = function(ctx) vip.switch("glance", "glance-nope") end }
            """)
        let outcome = try await r.run()
        #expect(outcome.message?.contains("vip glance: backend glance_api has no server glance-nope") == true, "\(outcome.message ?? "")")
        #expect(outcome.message?.contains("runbook.lua:2:") == true)

        let gone = try await lab("""
            runbook { name = "gone" }
            step "get" { run = function(ctx) vip.get("glance") end }
            """, edit: { $0.replacingOccurrences(of: "admin.sock", with: "no-such.sock") })
        let failed = try await gone.run()
        #expect(failed.message?.contains("cannot reach HAProxy's runtime API") == true, "\(failed.message ?? "")")
        #expect(failed.message?.contains("no such socket") == true)
    }

    @Test func aSwitchToABackendThatDoesNotExistNamesIt() async throws {
        let r = try await lab("""
            runbook { name = "no-backend" }
            step "look" { run = function(ctx) ctx.state.before = vip.get("glance") end }
            step "switch" { run = function(ctx) vip.switch("ghost", "glance_new") end }
            """, edit: { lab in
                // A second VIP on the same HAProxy whose backend HAProxy does not have.
                lab.replacingOccurrences(of: "\nvips:\n", with: """

                    vips:
                      ghost: { driver: haproxy, socket: \(TestEnvironment.testenv)/haproxy/admin.sock, backend: ghost_api,
                               servers: { glance_old: [glance-old], glance_new: [glance-new] } }

                    """)
            })
        let outcome = try await r.run()
        #expect(outcome.status == .failed)
        let message = outcome.message ?? ""
        #expect(message.contains("vip ghost: HAProxy at \(TestEnvironment.testenv)/haproxy/admin.sock has no backend 'ghost_api'"), "\(message)")
        #expect(message.contains("runbook.lua:3:"), "\(message)")
        // Nothing changed on the real backend.
        let s = try await r.state(outcome)
        #expect(s["before"]["servers"]["glance-old"]["state"].stringValue != nil, "\(s["before"])")
        let look = try await lab("""
            runbook { name = "look" }
            step "look" { run = function(ctx) ctx.state.vip = vip.get("glance") end }
            """)
        let looked = try await look.run()
        let after = try await look.state(looked)["vip"]
        #expect(after["servers"] == s["before"]["servers"], "\(after)")
    }

    @Test func theRuntimeAPIOverSSHOnTheBalancerHost() async throws {
        let host = try TestEnvironment.addresses(1)[0].name
        let r = try await LabRun(runbook: """
            runbook { name = "via" }
            step "get" { run = function(ctx) ctx.state.vip = vip.get("glance") end }
            """, requiring: "\nvips:", transport: "nio", regionEdit: { lab in
                lab.replacingOccurrences(of: "driver: haproxy,", with: "driver: haproxy, via: \(host),")
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        #expect(try await r.state(outcome)["vip"]["backend"] == "glance_api")
        await r.engine.transport.shutdown()
    }
}

@Suite(.serialized) struct VIPDriverVariantTests {
    @Test func theTCPStatsSocketAndTheCommandDriver() async throws {
        // The command driver's "balancer": a file its commands write and read.
        let log = NSTemporaryDirectory() + "ferry-hw-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: log) }
        func pool() -> String? {
            (try? String(contentsOfFile: log, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let r = try await LabRun(runbook: """
            runbook { name = "variants" }
            step "tcp" { run = function(ctx) ctx.state.tcp = vip.get("glance").backend end }
            step "command" {
              run = function(ctx)
                ctx.state.previous = vip.switch("hw", { "pool-b" })
                ctx.state.now = vip.get("hw").output
              end,
              undo = function(ctx) vip.restore(ctx.state.previous) end,
            }
            """, requiring: "\nvips:", regionEdit: { lab in
                var edited = lab.replacingOccurrences(of: #"socket: [^,]*admin\.sock,"#, with: "address: 127.0.0.1:29999,", options: .regularExpression)
                edited = editSection(edited, "vips", "\nvips:\n", "\nvips:\n")
                edited = edited.replacingOccurrences(of: "\nvips:\n", with: """

                    vips:
                      hw: { driver: command, get: "cat \(log) 2>/dev/null || echo pool-a", switch: "echo {targets} > \(log)", restore: "echo {before} > \(log)", maintenance: "true" }

                    """)
                return edited
            })
        #expect(pool() == nil, "the balancer starts on its default pool (no file yet)")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["tcp"] == "glance_api")
        #expect(s["previous"]["before"] == "pool-a\n")
        #expect(s["previous"]["targets"] == ["pool-b"])
        // The switch command really ran: the balancer is on pool-b.
        #expect(s["now"] == "pool-b\n")
        #expect(pool() == "pool-b")
        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
        // The restore command really ran with the state from before the switch.
        #expect(pool() == "pool-a", "\(pool() ?? "(no file)")")
    }
}
}
