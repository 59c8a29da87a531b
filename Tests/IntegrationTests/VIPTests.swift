import FerryCore
import Foundation
import LuaBridge
import Testing

func curl(_ args: String) throws -> String { try shellOutput("curl -s -m 5 \(args)") }

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
        #expect(try curl("\(url)/v2/images").contains("glance-new"))
        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack)
        #expect(try curl("\(url)/v2/images").contains("glance-old"))
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
        #expect(try curl("-o /dev/null -w '%{http_code}' \(vipURL)/v2/images") == "200")
        #expect(try curl("-o /dev/null -w '%{http_code}' -X POST \(vipURL)/v2/images") == "503")
        let off = try await lab("""
            runbook { name = "off" }
            step "off" { run = function(ctx) vip.maintenance("glance", false) end }
            """)
        _ = try await off.run()
        #expect(try curl("-o /dev/null -w '%{http_code}' -X POST \(vipURL)/v2/images") == "200")
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
        let r = try await LabRun(runbook: """
            runbook { name = "variants" }
            step "tcp" { run = function(ctx) ctx.state.tcp = vip.get("glance").backend end }
            step "command" {
              run = function(ctx) ctx.state.previous = vip.switch("hw", { "pool-b" }) end,
              undo = function(ctx) vip.restore(ctx.state.previous) end,
            }
            """, requiring: "\nvips:", regionEdit: { lab in
                var edited = lab.replacingOccurrences(of: #"socket: [^,]*admin\.sock,"#, with: "address: 127.0.0.1:29999,", options: .regularExpression)
                let log = NSTemporaryDirectory() + "ferry-hw-\(UUID().uuidString)"
                edited = editSection(edited, "vips", "\nvips:\n", "\nvips:\n")
                edited = edited.replacingOccurrences(of: "\nvips:\n", with: """

                    vips:
                      hw: { driver: command, get: "cat \(log) 2>/dev/null || echo pool-a", switch: "echo {targets} > \(log)", restore: "echo {before} > \(log)", maintenance: "true" }

                    """)
                return edited
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["tcp"] == "glance_api")
        #expect(s["previous"]["before"] == "pool-a\n")
        let rolled = try await r.engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack, "\(rolled.message ?? "")")
    }
}
