import FerryCore
import Foundation
import FerryTestSupport
import Testing

/// Issue 14, "Credentials the usual way": `--os-cloud NAME` on the commands that reach Keystone picks a cloud of
/// clouds.yaml as `OS_CLOUD` does (here ./clouds.yaml, openstacksdk's first place), where the region has no
/// `keystone:` section.
@Suite struct CLIOSCloudTests {
    @Test func osCloudPicksTheCloudOfCloudsYaml() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "catalog" }
            step "services" { run = function(ctx) catalog.services() end }
            """)
        // A Keystone that is not there: the login fails, naming the cloud's URL, which only clouds.yaml gives.
        try """
            clouds:
              kr1:
                auth: { auth_url: "http://127.0.0.1:9/v3", username: admin, password: pw, project_name: admin,
                        user_domain_name: Default, project_domain_name: Default }
                region_name: RegionOne
            """.write(toFile: dir + "/clouds.yaml", atomically: true, encoding: .utf8)
        let without = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(without.code == 1)
        #expect((without.stdout + without.stderr).contains("neither OS_CLOUD nor OS_AUTH_URL is set"), "\(without.stdout)\(without.stderr)")

        let with = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j2.db", "--os-cloud", "kr1"], in: dir)
        #expect(with.code == 1)
        let text = with.stdout + with.stderr
        #expect(text.contains("127.0.0.1:9") && !text.contains("neither OS_CLOUD nor OS_AUTH_URL"), "\(text)")

        let unknown = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j3.db", "--os-cloud", "nope"], in: dir)
        #expect(unknown.code == 1)
        #expect((unknown.stdout + unknown.stderr).contains("nope"), "\(unknown.stdout)\(unknown.stderr)")
    }
}
