import FerryCore
import FerrySimulation
import Foundation
import LuaBridge
import Testing

/// The typed records at the driver seams: the tables runbooks see (docs/lua-api.md) and
/// the tables they hand back to `catalog.restore` / `vip.restore`.
@Suite struct DriverRecordTests {
    static func keys(_ v: LuaValue) -> Set<String> { Set(v.mapValue?.keys.map { $0 } ?? []) }

    static let contents = CatalogContents(
        services: [CatalogService(id: "s1", name: "glance", type: "image", enabled: true, description: "Image"),
                   CatalogService(id: "s2", name: nil, type: "volumev3", enabled: false)],
        endpoints: [CatalogEndpoint(id: "e1", serviceID: "s1", interface: "public", region: "RegionOne", url: "http://g:9292",
                                    enabled: true, service: "glance", type: "image"),
                    CatalogEndpoint(id: "e2", serviceID: "s2", interface: "admin", region: nil, url: "http://c:8776", enabled: false)],
        regions: [CatalogRegion(id: "RegionOne", description: ""), CatalogRegion(id: "kr2", description: "second", parentRegionID: "RegionOne")])

    @Test func aCatalogSnapshotIsTheDocumentedTableAndReadsBackTheSame() throws {
        let lua = CatalogSnapshot.contents(Self.contents).luaValue
        #expect(lua == [
            "services": [
                ["id": "s1", "name": "glance", "type": "image", "enabled": true, "description": "Image"],
                ["id": "s2", "type": "volumev3", "enabled": false],
            ],
            "endpoints": [
                ["id": "e1", "service_id": "s1", "interface": "public", "region": "RegionOne", "url": "http://g:9292", "enabled": true,
                 "service": "glance", "type": "image"],
                ["id": "e2", "service_id": "s2", "interface": "admin", "url": "http://c:8776", "enabled": false],
            ],
            "regions": [["id": "RegionOne", "description": ""], ["id": "kr2", "description": "second", "parent_region_id": "RegionOne"]],
        ])
        #expect(try CatalogSnapshot(lua: lua) == .contents(Self.contents))
        // Through the journal (JSON) and back: the same record.
        #expect(try CatalogSnapshot(lua: try LuaValue.fromJSON(lua.jsonString())) == .contents(Self.contents))
    }

    @Test func aSnapshotWithoutRegionsLeavesThemOutAndEnabledDefaultsToTrue() throws {
        let old: LuaValue = ["services": [["id": "s1", "name": "glance", "type": "image"]], "endpoints": [:]]
        guard case .contents(let c) = try CatalogSnapshot(lua: old) else { Issue.record("not contents"); return }
        #expect(c.regions == nil)
        #expect(c.endpoints.isEmpty)
        #expect(c.services == [CatalogService(id: "s1", name: "glance", type: "image", enabled: true)])
        #expect(Self.keys(CatalogSnapshot.contents(c).luaValue) == ["services", "endpoints"])
    }

    @Test func theSimulatedSnapshotStaysOpaque() throws {
        let lua: LuaValue = ["simulated": "{\"services\":[]}"]
        #expect(try CatalogSnapshot(lua: lua) == .opaque("{\"services\":[]}"))
        #expect(CatalogSnapshot.opaque("x").luaValue == ["simulated": "x"])
    }

    static func snapshotError(_ lua: LuaValue) -> String {
        do {
            _ = try CatalogSnapshot(lua: lua)
            return "no error"
        } catch { return String(describing: error) }
    }

    @Test func aMalformedSnapshotNamesTheKey() {
        #expect(Self.snapshotError("a string") == "expected a table, got string")
        #expect(Self.snapshotError([:]) == "services: missing")
        #expect(Self.snapshotError(["services": [:]]) == "endpoints: missing")
        #expect(Self.snapshotError(["services": "all", "endpoints": [:]]) == "services: expected a list, got string")
        #expect(Self.snapshotError(["services": [["name": "glance", "type": "image"]], "endpoints": [:]]) == "services[1].id: missing")
        #expect(Self.snapshotError(["services": [["id": "s1", "type": "image"], ["id": 7, "type": "image"]], "endpoints": [:]])
            == "services[2].id: expected a string, got number")
        #expect(Self.snapshotError(["services": [["id": "s1", "type": "image", "enabled": "yes"]], "endpoints": [:]])
            == "services[1].enabled: expected a boolean, got string")
        #expect(Self.snapshotError(["services": [:], "endpoints": [["id": "e1", "service_id": "s1", "interface": "public"]]])
            == "endpoints[1].url: missing")
        #expect(Self.snapshotError(["services": [:], "endpoints": [:], "regions": [["id": true]]]) == "regions[1].id: expected a string, got boolean")
        #expect(Self.snapshotError(["simulated": 5]) == "simulated: expected a string, got number")
        #expect(Self.snapshotError(["services": ["not a table"], "endpoints": [:]]) == "services[1]: expected a table, got string")
    }

    @Test func endpointsFilterAsCatalogEndpointsDoes() {
        let e = Self.contents.endpoints[0]
        #expect(e.matches(service: "glance", interface: nil, region: nil))
        #expect(e.matches(service: "image", interface: "public", region: "RegionOne"))
        #expect(e.matches(service: "s1", interface: nil, region: nil))
        #expect(!e.matches(service: "nova", interface: nil, region: nil))
        #expect(!e.matches(service: nil, interface: "admin", region: nil))
        #expect(e.luaValue(action: .updated)["action"] == "updated")
        #expect(Self.keys(e.luaValue(action: .created)) == ["id", "service_id", "interface", "region", "url", "enabled", "service", "type", "action"])
    }

    @Test func switchRecordsOfEachDriverAreTheDocumentedTablesAndReadBack() throws {
        let haproxy = VIPSwitchRecord(vip: "glance", backend: "glance_api", servers: ["glance-old": "ready", "glance-new": "maint"])
        #expect(haproxy.luaValue == ["vip": "glance", "backend": "glance_api", "servers": ["glance-old": "ready", "glance-new": "maint"]])
        let keepalived = VIPSwitchRecord(vip: "glance_ka", holder: "lb1", priorities: ["lb1": 150, "lb2": 100])
        #expect(keepalived.luaValue == ["vip": "glance_ka", "holder": "lb1", "priorities": ["lb1": 150, "lb2": 100]])
        let nobody = VIPSwitchRecord(vip: "glance_ka", priorities: ["lb1": 150])
        #expect(nobody.luaValue == ["vip": "glance_ka", "priorities": ["lb1": 150]])
        let command = VIPSwitchRecord(vip: "nova", before: "pool-a\n", targets: ["glq1", "glq2"])
        #expect(command.luaValue == ["vip": "nova", "before": "pool-a\n", "targets": ["glq1", "glq2"]])
        for record in [haproxy, keepalived, nobody, command] {
            #expect(try VIPSwitchRecord(lua: record.luaValue) == record)
            #expect(try VIPSwitchRecord(lua: try LuaValue.fromJSON(record.luaValue.jsonString())) == record)
        }
        // A priority that came back from Lua as a float without a fraction is still a priority.
        #expect(try VIPSwitchRecord(lua: ["vip": "ka", "priorities": ["lb1": .number(150)]]).priorities == ["lb1": 150])
        // Only `vip` is required: each driver asks for its own part.
        #expect(try VIPSwitchRecord(lua: ["vip": "nova"]) == VIPSwitchRecord(vip: "nova"))
    }

    static func switchError(_ lua: LuaValue) -> String {
        do {
            _ = try VIPSwitchRecord(lua: lua)
            return "no error"
        } catch { return String(describing: error) }
    }

    @Test func aMalformedSwitchRecordNamesTheKey() {
        #expect(Self.switchError(.array(["glance"])) == "expected a table, got a list")
        #expect(Self.switchError(["servers": ["a": "ready"]]) == "vip: missing")
        #expect(Self.switchError(["vip": 3]) == "vip: expected a string, got number")
        #expect(Self.switchError(["vip": "glance", "servers": "ready"]) == "servers: expected a table keyed by name, got string")
        #expect(Self.switchError(["vip": "glance", "servers": ["glance-old": 5]]) == "servers.glance-old: expected a string, got number")
        #expect(Self.switchError(["vip": "ka", "priorities": ["lb1": 1.5]]) == "priorities.lb1: expected an integer, got number")
        #expect(Self.switchError(["vip": "ka", "priorities": ["lb1": "150"]]) == "priorities.lb1: expected an integer, got string")
        #expect(Self.switchError(["vip": "nova", "targets": ["glq1", ["x": 1]]]) == "targets[2]: expected a string, got a table of named fields")
    }

    @Test func vipStatesAreTheDocumentedTables() {
        let haproxy = VIPState(vip: "glance", backend: "glance_api",
                               servers: ["glance-old": .init(state: "ready", address: "10.1.0.11", up: true)])
        #expect(haproxy.luaValue == ["vip": "glance", "backend": "glance_api",
                                     "servers": ["glance-old": ["state": "ready", "address": "10.1.0.11", "up": true]]])
        let simulated = VIPState(vip: "glance", backend: "glance", servers: [:], maintenance: "false")
        #expect(Self.keys(simulated.luaValue) == ["vip", "backend", "servers", "maintenance"])
        let keepalived = VIPState(vip: "glance_ka", address: "10.1.0.100", holder: "lb1",
                                  balancers: ["lb1": .init(priority: 150, holds: true), "lb2": .init(priority: 100, holds: false)])
        #expect(keepalived.luaValue == ["vip": "glance_ka", "address": "10.1.0.100", "holder": "lb1",
                                        "balancers": ["lb1": ["priority": 150, "holds": true], "lb2": ["priority": 100, "holds": false]]])
        // No holder: nil in Lua; the drill's region snapshot still reads a `holder` line, as before.
        let none = VIPState(vip: "glance_ka", address: "10.1.0.100", balancers: ["lb1": .init(priority: 150, holds: false)])
        #expect(none.luaValue["holder"].isNil && none.luaValue.mapValue?.keys.contains("holder") == true)
        #expect(VIPState(vip: "nova", output: "pool-a\n").luaValue == ["vip": "nova", "output": "pool-a\n"])
    }

    @Test func brokerRecordsAreTheDocumentedTables() {
        let listed = BrokerQueue(vhost: "/", name: "conductor", policy: nil, messages: 12, consumers: 0, durable: false)
        #expect(listed.luaValue == ["vhost": "/", "name": "conductor", "messages": 12, "consumers": 0, "durable": false])
        // broker.queue has no `durable`; a new queue has no `messages` yet.
        let one = BrokerQueue(vhost: "/", name: "conductor", policy: "ha-all", messages: nil, consumers: 1)
        #expect(one.luaValue == ["vhost": "/", "name": "conductor", "policy": "ha-all", "consumers": 1])
        let policy = BrokerPolicy(vhost: "/", name: "lazy", pattern: "^notifications\\.", applyTo: "queues",
                                  definition: ["queue-mode": "lazy"], priority: 1)
        #expect(policy.luaValue == ["vhost": "/", "name": "lazy", "pattern": "^notifications\\.", "definition": ["queue-mode": "lazy"],
                                    "apply_to": "queues", "priority": 1])
        let overview = BrokerOverview(rabbitmqVersion: "3.12.1", clusterName: "rabbit@x", node: "rabbit@x", messages: nil, queues: 3,
                                      connections: 4)
        #expect(overview.luaValue == ["rabbitmq_version": "3.12.1", "cluster_name": "rabbit@x", "node": "rabbit@x", "queues": 3, "connections": 4])
        #expect(BrokerVhost(name: "/").luaValue == ["name": "/"])
        #expect(CatalogRestoreSummary(created: 1, deleted: 2, updated: 3).luaValue == ["created": 1, "deleted": 2, "updated": 3])
    }

    /// The seams end to end on the simulated region: the tables a runbook sees, and a
    /// malformed table handed back raising an error that names its key.
    @Test func runbooksSeeTheSameTablesAndAMalformedRestoreSaysWhichKey() async throws {
        let dir = NSTemporaryDirectory() + "ferry-records-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            runbook { name = "records" }
            step "seams" { run = function(ctx)
              local s = ctx.state
              s.snapshot = catalog.snapshot()
              s.services = catalog.services()
              s.endpoints = catalog.endpoints { service = "glance", interface = "public" }
              s.ensured = catalog.ensure_endpoint { service = "glance", interface = "internal", url = "http://glance.sim:9292/x" }
              s.regions = catalog.regions()
              catalog.ensure_service { name = "extra", type = "extra" }
              s.restored = catalog.restore(s.snapshot)
              s.get = vip.get("glance")
              s.previous = vip.switch("glance", "glance_new")
              vip.restore(s.previous)
              s.after = vip.get("glance")
              broker.policy("/", "lazy", { pattern = "^notifications", definition = { ["queue-mode"] = "lazy" }, priority = 2 })
              s.policies = broker.policies { vhost = "/" }
              s.overview = broker.overview()
              s.vhosts = broker.vhosts()
              local ok, e = pcall(catalog.restore, { services = { { id = "s1", type = "image" }, { id = 7 } }, endpoints = {} })
              s.bad_snapshot = e
              ok, e = pcall(vip.restore, { vip = "glance", servers = { ["glance-old-1"] = 5 } })
              s.bad_previous = e
              ok, e = pcall(vip.restore, { servers = {} })
              s.no_vip = e
              ok, e = pcall(vip.restore, { vip = "glance" })
              s.no_servers = e
            end }
            """.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        try "region: records\nsimulate: { seed: 1 }\n".write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let sim = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), computes: 4, components: SimFixture.components, stateDirectory: dir + "/sim")
        let engine = Engine(runbook: try await RunbookLoader.load(path: dir + "/runbook.lua"), region: sim.region, transport: sim.transport,
                            journal: try RunJournal(path: dir + "/journal.db"), databases: sim.databaseDriver, clock: sim.clock,
                            drivers: sim.drivers)
        let before = sim.state.catalog
        let run = try await engine.run(RunOptions())
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let s = try await engine.journal.run(run.runID).state

        #expect(s["services"].arrayValue?.isEmpty == false)
        #expect(s["services"].arrayValue?.allSatisfy { Self.keys($0) == ["id", "name", "type", "enabled"] } == true, "\(s["services"])")
        #expect(s["endpoints"].arrayValue?.count == 1)
        #expect(Self.keys(s["endpoints"][0]) == ["id", "service_id", "interface", "region", "url", "enabled", "service", "type"])
        #expect(s["ensured"]["action"] == "updated")
        #expect(s["ensured"]["url"] == "http://glance.sim:9292/x")
        #expect(s["regions"].arrayValue?.contains(["id": "RegionOne"]) == true, "\(s["regions"])")
        #expect(Self.keys(s["snapshot"]) == ["simulated"])
        #expect(s["restored"] == ["created": 0, "deleted": 0, "updated": 1])
        #expect(sim.state.catalog.sameEntries(before))

        #expect(Self.keys(s["get"]) == ["vip", "backend", "servers", "maintenance"])
        #expect(s["get"]["servers"].mapValue?.values.allSatisfy { Self.keys($0) == ["state", "address", "up"] } == true)
        #expect(Self.keys(s["previous"]) == ["vip", "backend", "servers"])
        #expect(s["previous"]["servers"].mapValue?.values.allSatisfy { $0.stringValue != nil && $0.mapValue == nil } == true)
        #expect(s["after"] == s["get"])

        #expect(s["policies"] == [["vhost": "/", "name": "lazy", "pattern": "^notifications", "definition": ["queue-mode": "lazy"],
                                   "apply_to": "all", "priority": 2]])
        #expect(Self.keys(s["overview"]) == ["rabbitmq_version", "cluster_name", "node", "messages", "queues", "connections"])
        #expect(s["vhosts"] == [["name": "/"]])

        let badSnapshot = s["bad_snapshot"].stringValue ?? ""
        #expect(badSnapshot.contains("catalog.restore: expected what catalog.snapshot() returned (services[2].id: expected a string, got number)"),
                "\(badSnapshot)")
        let badPrevious = s["bad_previous"].stringValue ?? ""
        #expect(badPrevious.contains("vip glance: restore: expected what vip.switch returned (servers.glance-old-1: expected a string, got number)"),
                "\(badPrevious)")
        #expect((s["no_vip"].stringValue ?? "").contains("vip.restore(previous): expected the table vip.switch returned"), "\(s["no_vip"])")
        #expect((s["no_servers"].stringValue ?? "").contains("vip glance: restore: expected what vip.switch returned"), "\(s["no_servers"])")
    }
}
