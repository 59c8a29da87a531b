import FerryCore
import Foundation
import Testing
import FerryTestSupport

/// The lab region (docs/design-facts.md#the-lab-region): `ferry run X -r .testenv/region.yaml` runs a runbook against
/// the real services scripts/testenv/up started (sshd hosts, MariaDB, HAProxy, Keystone,
/// RabbitMQ), through the command line as an operator would.
@Suite struct CLILabTests {
    static let root = Repository.root
    static var region: String { (ProcessInfo.processInfo.environment["TESTENV_DIR"] ?? root + "/.testenv") + "/region.yaml" }

    @Test func aRunbookRunsAgainstTheLabRegionFromTheCommandLine() async throws {
        let region = Self.region
        let text = try #require(try? String(contentsOfFile: region, encoding: .utf8),
                                "no lab region at \(region): scripts/testenv/up hosts mariadb haproxy keystone rabbitmq")
        for section in ["inventory:", "databases:", "vips:", "keystone:", "broker:"] {
            try #require(text.contains("\n" + section), "the lab region has no \(section) (start every service)")
        }
        let dir = NSTemporaryDirectory() + "ferry-cli-lab-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            runbook { name = "lab" }
            -- Any HTTP answer will do (another suite may hold the VIP in maintenance: 503).
            check "glance-vip" { probe = function(ctx) return http.get(vip.url("glance") .. "/").status > 0, "glance VIP" end }
            step "touch-everything" {
              after = { "glance-vip" },
              run = function(ctx)
                local c = db.connect("glance")
                ctx.state.one = c:scalar("SELECT 1")
                c:close()
                local v = vip.get("glance")
                ctx.state.servers = v.servers["glance-old"] ~= nil and v.servers["glance-new"] ~= nil
                local types = {}
                for _, s in ipairs(catalog.services()) do types[#types + 1] = s.type end
                ctx.state.identity = table.concat(types, ","):find("identity") ~= nil
                ctx.state.rabbit = broker.overview().rabbitmq_version
                local host = inventory.group("computes")[1]
                ctx.state.host = host.name
                ctx.state.echo = host:run("echo lab-ok").stdout
              end,
            }
            """.write(toFile: dir + "/lab.lua", atomically: true, encoding: .utf8)
        let r = try await FerryProcess.run(["run", "lab.lua", "-r", region, "--yes", "--journal", "j.db"], in: dir)
        #expect(r.code == 0, "\(r.stdout)\(r.stderr)")
        let run = try #require(try await RunJournal(path: dir + "/j.db").runs().first)
        #expect(run.status == .succeeded)
        #expect(run.state["one"] == 1)
        #expect(run.state["servers"] == true, "\(run.state)")
        #expect(run.state["identity"] == true)
        #expect(run.state["rabbit"].stringValue?.isEmpty == false, "\(run.state)")
        #expect(run.state["echo"] == "lab-ok\n")
        // And the named check on its own, as `ferry check` runs it.
        let check = try await FerryProcess.run(["check", "lab.lua", "-r", region, "glance-vip", "--journal", "j.db"], in: dir)
        #expect(check.code == 0, "\(check.stdout)\(check.stderr)")
    }
}
