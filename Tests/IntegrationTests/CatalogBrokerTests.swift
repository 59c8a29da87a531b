import FerryCore
import Foundation
import LuaBridge
import Testing

/// catalog.* against the lab's Keystone (scripts/testenv/up keystone).
@Suite(.serialized) struct CatalogTests {
    static func normalized(_ endpoints: LuaValue) -> Set<String> {
        Set((endpoints.arrayValue ?? []).map {
            "\($0["service"].stringValue ?? "?")|\($0["type"].stringValue ?? "?")|\($0["interface"].stringValue ?? "?")|\($0["region"].stringValue ?? "?")|\($0["url"].stringValue ?? "?")"
        })
    }

    @Test func restoreAfterCreateUpdateAndDeleteReturnsTheExactCatalog() async throws {
        let suffix = UInt32.random(in: 0..<UInt32.max)
        let r = try await LabRun(runbook: """
            runbook { name = "catalog" }
            step "change" { run = function(ctx)
              ctx.state.before = catalog.snapshot()
              catalog.ensure_service { name = "cinderv3-\(suffix)", type = "volumev3-\(suffix)" }
              local made = catalog.ensure_endpoint { service = "cinderv3-\(suffix)", interface = "public", url = "http://new:8776/v3/%(project_id)s" }
              ctx.state.created = made.action
              ctx.state.again = catalog.ensure_endpoint { service = "cinderv3-\(suffix)", interface = "public", url = "http://new:8776/v3/%(project_id)s" }.action
              ctx.state.changed = catalog.ensure_endpoint { service = "cinderv3-\(suffix)", interface = "public", url = "http://newer:8776/v3" }.action
              -- Change and delete endpoints that existed before.
              local keystone = catalog.endpoints { service = "identity", interface = "internal" }[1]
              catalog.update_endpoint(keystone.id, keystone.url .. "/changed")
              local admin = catalog.endpoints { service = "identity", interface = "admin" }[1]
              catalog.delete_endpoint(admin.id)
              ctx.state.during = catalog.endpoints()
              ctx.state.restored = catalog.restore(ctx.state.before)
              ctx.state.after = catalog.snapshot()
            end }
            """, requiring: "\nkeystone:")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["created"] == "created")
        #expect(s["again"] == "unchanged")
        #expect(s["changed"] == "updated")
        #expect(Self.normalized(s["during"]) != Self.normalized(s["before"]["endpoints"]))
        #expect(Self.normalized(s["after"]["endpoints"]) == Self.normalized(s["before"]["endpoints"]))
        let names = { (v: LuaValue) in Set((v.arrayValue ?? []).map { "\($0["name"].stringValue ?? "")|\($0["type"].stringValue ?? "")" }) }
        #expect(names(s["after"]["services"]) == names(s["before"]["services"]))
        #expect((s["restored"]["deleted"].intValue ?? 0) >= 2)
    }

    @Test func aConflictIsReportedNamingKeystoneTheCallAndTheReason() async throws {
        let id = "ferry-region-\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await LabRun(runbook: """
            runbook { name = "conflict" }
            step "regions" { run = function(ctx)
              catalog.create_region { id = "\(id)" }
              ctx.state.ensured = catalog.ensure_region { id = "\(id)" }.id
              local ok, err = pcall(catalog.create_region, { id = "\(id)" })
              ctx.state.error = err
              catalog.delete_region("\(id)")
            end }
            """, requiring: "\nkeystone:")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["ensured"] == .string(id))
        let error = s["error"].stringValue ?? ""
        #expect(error.contains("catalog: Keystone at http://127.0.0.1:25000/v3: POST /regions: conflict:"), "\(error)")
        #expect(error.contains("runbook.lua:5:"))
    }

    @Test func anExpiredTokenIsRenewedAndAWrongPasswordIsClear() async throws {
        let region = try RegionLoader.load(path: TestEnvironment.testenv + "/region.yaml")
        let catalog = try KeystoneCatalog(region: region)
        let before = try await catalog.services()
        #expect(!before.isEmpty)
        // Revoke the cached token behind the client's back: the next call gets 401 and renews.
        let token = try await catalog.currentTokenForTests()
        let revoke = try await HTTPService.shared.request(
            method: "DELETE", url: region.keystone["auth_url"].stringValue! + "/auth/tokens",
            headers: ["X-Auth-Token": token, "X-Subject-Token": token])
        #expect(revoke.status == 204)
        let after = try await catalog.services()
        #expect(after.count == before.count)
        #expect(try await catalog.currentTokenForTests() != token)

        let r = try await LabRun(runbook: """
            runbook { name = "wrong" }
            step "list" { run = function(ctx) catalog.services() end }
            """, requiring: "\nkeystone:", regionEdit: { replacePassword($0, entry: "keystone", topLevel: true, with: "not-the-password") })
        let failed = try await r.run()
        #expect(failed.message?.contains("authentication as admin rejected") == true, "\(failed.message ?? "")")
    }
}

/// broker.* against the lab's RabbitMQ (scripts/testenv/up rabbitmq).
@Suite(.serialized) struct BrokerTests {
    @Test func policiesQueuesAndOverview() async throws {
        let name = "ferry-test-\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await LabRun(runbook: """
            runbook { name = "broker" }
            step "policies" {
              run = function(ctx)
                ctx.state.version = broker.overview().rabbitmq_version
                broker.ensure_vhost("/")
                broker.policy("/", "\(name)", { pattern = "^notifications\\\\.", definition = { ["queue-mode"] = "lazy" }, apply_to = "queues", priority = 1 })
                local found = false
                for _, p in ipairs(broker.policies { vhost = "/" }) do
                  if p.name == "\(name)" then found = p.definition["queue-mode"] == "lazy" end
                end
                ctx.state.found = found
                http.request { method = "PUT", url = ctx.vars.rabbit .. "/api/queues/%2F/notifications.\(name)",
                  headers = { Authorization = ctx.vars.rabbit_auth }, json = { durable = true } }
                broker.wait_drained("/", "notifications.\(name)", { within = "20s", every = "1s" })
                local q = broker.queue("/", "notifications.\(name)")
                ctx.state.messages = q.messages
                broker.delete_policy("/", "\(name)")
                http.request { method = "DELETE", url = ctx.vars.rabbit .. "/api/queues/%2F/notifications.\(name)",
                  headers = { Authorization = ctx.vars.rabbit_auth } }
                for _, p in ipairs(broker.policies { vhost = "/" }) do
                  if p.name == "\(name)" then ctx.state.left = true end
                end
              end,
            }
            """, requiring: "\nbroker:", regionEdit: { lab in
                let url = Self.setting(lab, "url") ?? "?"
                let password = (try? String(contentsOfFile: TestEnvironment.testenv + "/rabbitmq/password", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                let auth = "Basic " + Data("ferry:\(password)".utf8).base64EncodedString()
                return lab + "\nvars: { rabbit: \"\(url)\", rabbit_auth: \"\(auth)\" }\n"
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await r.state(outcome)
        #expect(s["version"].stringValue?.isEmpty == false)
        #expect(s["found"] == true)
        #expect(s["messages"] == 0)
        #expect(s["left"].isNil)
    }

    @Test func unreachableAndWrongPasswordAreClear() async throws {
        let down = try await LabRun(runbook: """
            runbook { name = "down" }
            step "o" { run = function(ctx) broker.overview() end }
            """, requiring: "\nbroker:", regionEdit: { lab in
                guard let url = Self.setting(lab, "url") else { return lab }
                return lab.replacingOccurrences(of: url, with: "http://127.0.0.1:1")
            })
        let failed = try await down.run()
        #expect(failed.message?.contains("broker: RabbitMQ management API at http://127.0.0.1:1 unreachable") == true, "\(failed.message ?? "")")
    }

    /// A value of the `broker:` section (written as a flow mapping by scripts/testenv).
    static func setting(_ lab: String, _ key: String) -> String? {
        guard let line = lab.split(separator: "\n").first(where: { $0.hasPrefix("broker:") }) ?? nil else { return nil }
        guard let range = line.range(of: "\(key): ") else { return nil }
        return String(line[range.upperBound...].prefix { $0 != "," && $0 != " " && $0 != "}" })
    }
}
