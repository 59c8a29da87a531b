import FerryCore
import FerrySimulation
@testable import FerryPlugins
import Foundation
import LuaBridge
import Testing
import FerryTestSupport

/// Issue 12 item 7: after the last compute wave, the instances' placement allocations and the service rows.
/// Queens computes write allocations only while a nova-compute row older than Pike remains
/// (openstack/nova@17.0.0 nova/compute/resource_tracker.py `has_ocata_computes`; no heal_allocations before Rocky);
/// rows of retired computes cap the compute RPC API (a version-0 row: Mitaka's 4.11, nova/compute/rpcapi.py
/// `_determine_version_cap`) and block multiattach (27, nova/compute/api.py) while they stay.
@Suite struct LibraryIssue12ServicesTests {
    static func sql(_ s: LibraryTests.Sim, _ database: String, _ text: String, _ parameters: [LuaValue] = []) async throws
        -> [[String: LuaValue]]
    {
        let session = try await s.sim.databaseDriver.connect(database)
        defer { Task { await session.close() } }
        return try await session.query(text, parameters).rows
    }

    static func computeRows(_ s: LibraryTests.Sim) async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for r in try await sql(s, "nova", "SELECT host, version FROM services WHERE `binary` = 'nova-compute' AND deleted = 0") {
            out[r["host"]?.stringValue ?? ""] = r["version"]?.intValue
        }
        return out
    }

    /// The model: a Kilo region's rows (one retired compute per 200, at least one), the tables' columns as the
    /// schema has them, and allocations only on computes that healed.
    @Test func aKiloRegionHasItsComputesAndARetiredOneAtVersionZero() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        // Kilo's services table has no version column (Liberty's migration 299 adds it): MariaDB says so.
        await #expect(throws: DatabaseError.self) { try await Self.sql(s, "nova", "SELECT host, version FROM services") }
        let rows = try await Self.sql(s, "nova", "SELECT id, host, topic FROM services WHERE `binary` = 'nova-compute' AND deleted = 0 ORDER BY id")
        #expect(rows.count == 21)
        #expect(rows.contains { $0["host"]?.stringValue == "retired-compute-001" })
        #expect(rows.allSatisfy { $0["topic"]?.stringValue == "compute" })
        let counted = try await Self.sql(s, "nova", "SELECT COUNT(*) FROM services WHERE deleted = 0 AND `binary` IN ('nova-conductor', 'nova-scheduler')")
        #expect(counted.first?["COUNT(*)"]?.intValue == 2 * Sim.hosts(s.sim.state, in: "nova_old").count)
        // A column the model does not keep is not answered wrongly: the statement is recorded, not judged.
        let unjudged = try await Self.sql(s, "nova", "SELECT host, updated_at FROM services")
        #expect(unjudged.isEmpty)
    }

    /// The library's run: the guard row keeps every Queens compute writing its allocations, the check sees them all,
    /// the retired compute's row and the guard go, every row is Queens' 30; the rollback puts the region back.
    @Test func theFixedRunbookLeavesEveryInstanceAllocatedAndNoStaleRow() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let before = s.sim.state
        let run = try await LibraryIssue12Tests.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        let rows = try await Self.computeRows(s)
        #expect(rows.count == 20, "\(rows)")
        #expect(rows.values.allSatisfy { $0 == 30 }, "\(rows)")
        #expect(rows["retired-compute-001"] == nil && rows["ferry-allocation-heal-guard"] == nil)
        let nodes = try await Self.sql(s, "nova", "SELECT host FROM compute_nodes WHERE deleted != 0")
        #expect(nodes.map { $0["host"]?.stringValue } == ["retired-compute-001"])
        // Every compute's ten instances are in placement (three resource classes each).
        let allocations = try await Self.sql(s, "nova_api", "SELECT resource_provider_id, COUNT(DISTINCT consumer_id) AS consumers "
            + "FROM allocations GROUP BY resource_provider_id")
        #expect(allocations.count == 20 && allocations.allSatisfy { $0["consumers"]?.intValue == 10 }, "\(allocations)")
        let steps = try await s.engine.journal.steps(run.runID).map(\.name)
        #expect(steps.contains("nova-allocation-heal-guard") && steps.contains("nova-remove-stale-compute-services"))
        #expect(steps.contains("restart-nova-computes"))

        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(SimRegion.differences(before, s.sim.state).isEmpty, "\(SimRegion.differences(before, s.sim.state))")
    }

    /// In a region with no retired compute, the guard alone keeps the last computes writing their allocations.
    @Test func theGuardAloneKeepsTheLastComputesHealing() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20,
                                            simulate: "retired_computes: 0")
        let run = try await LibraryIssue12Tests.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        let allocations = try await Self.sql(s, "nova_api", "SELECT resource_provider_id, COUNT(DISTINCT consumer_id) AS consumers "
            + "FROM allocations GROUP BY resource_provider_id")
        #expect(allocations.count == 20 && allocations.allSatisfy { $0["consumers"]?.intValue == 10 }, "\(allocations)")
        let guardRows = try await Self.sql(s, "nova", "SELECT id, deleted FROM services WHERE host = 'ferry-allocation-heal-guard'")
        #expect(guardRows.count == 1 && guardRows.allSatisfy { ($0["deleted"]?.intValue ?? 0) != 0 }, "\(guardRows)")
    }

    /// Without the guard, in a region with no retired compute: the last compute to switch finds every other row at 30,
    /// writes no allocation for its instances, and the check names it (where the old library went on silently).
    @Test func withoutTheGuardTheLastComputeLeavesItsInstancesOutOfPlacement() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20,
                                            simulate: "retired_computes: 0")
        let run = try await LibraryIssue12Tests.run(s, skipTags: ["placement"])
        #expect(run.status == .failed)
        #expect(run.step == "nova-remove-stale-compute-services", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.message?.contains("compute nodes have instances without allocations in placement") == true, "\(run.message ?? "")")
        #expect(run.message?.contains("(10 instances, 0 allocated)") == true, "\(run.message ?? "")")
        // The rows stay: nothing was deleted before the allocations were right.
        #expect(try await Self.computeRows(s).count == 20)
    }

    /// A row of a host the region no longer has fails the service check, naming it and what it caps.
    @Test func aStaleRowFailsTheServiceCheck() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let run = try await LibraryIssue12Tests.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        let passed = try await s.engine.runChecks(["nova-service-versions"])
        #expect(passed.first?.passed == true, "\(passed.first?.message ?? "")")
        _ = try await Self.sql(s, "nova", "UPDATE services SET deleted = 0, deleted_at = NULL WHERE host = ?", [.string("retired-compute-001")])
        let failed = try await s.engine.runChecks(["nova-service-versions"])
        #expect(failed.first?.passed == false)
        #expect(failed.first?.message?.contains("1 row(s) of hosts not in computes: retired-compute-001 (version 0)") == true,
                "\(failed.first?.message ?? "")")
        #expect(failed.first?.message?.contains("the minimum (0) caps the compute RPC API and blocks multiattach") == true)
    }

    /// Neutron's agents: a retired compute's OVS agent is dead (its heartbeat a day old), the run deletes it and the
    /// check then passes; put back, the check names it; an agent of the region that stops reporting is named too.
    @Test func staleAndDeadAgentsFailTheAgentCheck() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let dead = "SELECT id, host, `binary`, agent_type FROM agents WHERE heartbeat_timestamp < UTC_TIMESTAMP() - INTERVAL 75 SECOND"
        let before = try await Self.sql(s, "neutron", dead)
        #expect(before.map { $0["host"]?.stringValue } == ["retired-compute-001"], "\(before)")
        #expect(before.first?["agent_type"]?.stringValue == "Open vSwitch agent")
        let run = try await LibraryIssue12Tests.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(try await Self.sql(s, "neutron", dead).isEmpty)
        #expect(try await s.engine.runChecks(["neutron-agents"]).first?.passed == true)
        let row = try #require(before.first)
        _ = try await Self.sql(s, "neutron", "INSERT INTO agents (id, agent_type, `binary`, topic, host, admin_state_up, created_at, "
            + "started_at, heartbeat_timestamp, configurations, `load`) VALUES (?, ?, ?, 'N/A', ?, 1, NOW(), NOW(), NOW(), '{}', 0)",
            [row["id"] ?? .nil, row["agent_type"] ?? .nil, row["binary"] ?? .nil, row["host"] ?? .nil])
        var failed = try #require(try await s.engine.runChecks(["neutron-agents"]).first)
        #expect(!failed.passed && failed.message?.contains("1 agent(s) of hosts not in the region (neutron.remove_stale_agents): "
            + "retired-compute-001 neutron-openvswitch-agent") == true, "\(failed.message ?? "")")
        // An agent of the region whose unit stops no longer reports.
        let host = try #require(Sim.hosts(s.sim.state, in: "computes").first)
        let target = try #require(s.sim.region.hosts[host])
        _ = try await s.sim.transport.run(HostCommand("systemctl stop neutron-openvswitch-agent"), on: target, output: OutputCapture())
        failed = try #require(try await s.engine.runChecks(["neutron-agents"]).first)
        #expect(failed.message?.contains("1 agent(s) of the region's hosts are down: \(host) neutron-openvswitch-agent") == true,
                "\(failed.message ?? "")")
    }

    /// The Lua module's facts are the simulation's: `nova.service_version` and `nova.hypervisor_minimum`.
    @Test func novaLuaFactsAgreeWithTheModel() throws {
        let lua = NovaPlugin.luaSource
        func table(_ name: String) throws -> String {
            let start = try #require(lua.range(of: "M.\(name) = {"))
            var depth = 0
            var i = lua.index(before: start.upperBound)
            while i < lua.endIndex {
                if lua[i] == "{" { depth += 1 }
                if lua[i] == "}" { depth -= 1; if depth == 0 { break } }
                i = lua.index(after: i)
            }
            return String(lua[start.upperBound..<i])
        }
        var versions: [String: Int] = [:]
        for m in try table("service_version").matches(of: /([a-z]+) = (\d+)/) { versions[String(m.1)] = Int(m.2) }
        #expect(versions == NovaServices.serviceVersion)
        var minimums: [String: String] = [:]
        for m in try table("hypervisor_minimum").matches(of: /([a-z]+) = \{ libvirt = "([\d.]+)"/) { minimums[String(m.1)] = String(m.2) }
        #expect(!minimums.isEmpty)
        for (release, libvirt) in minimums { #expect(NovaKnowledge.hypervisorMinimum[release]?.libvirt == libvirt, "\(release)") }
    }

    /// The statements the simulation evaluates over modelled tables, and those it leaves alone.
    @Test func simQueryEvaluatesItsSubsetAndLeavesTheRest() throws {
        let table = SimTable(columns: ["id", "host", "version", "deleted"], rows: [
            ["id": 1, "host": "a", "version": 0, "deleted": 0], ["id": 2, "host": "b", "version": 30, "deleted": 0],
            ["id": 3, "host": "c", "version": 30, "deleted": 3], ["id": 4, "host": "D", "version": .nil, "deleted": 0],
        ], unmodelled: ["updated_at"])
        func rows(_ sql: String, _ p: [LuaValue] = []) throws -> [[String: LuaValue]] {
            let q = try #require(SimQuery.parse(sql, parameters: p))
            try q.check(against: table)
            return try #require(q.select(table, now: 0)).rows
        }
        #expect(try rows("SELECT host FROM services WHERE deleted = 0 AND version < 22").map { $0["host"] } == ["a"])
        #expect(try rows("SELECT host FROM services WHERE host IN ('d', ?)", ["b"]).map { $0["host"] } == ["b", "D"])
        #expect(try rows("SELECT host FROM services WHERE version IS NULL").map { $0["host"] } == ["D"])
        #expect(try rows("SELECT MIN(version) AS v, COUNT(*) FROM services WHERE deleted = 0").first?["v"] == 0)
        #expect(try rows("SELECT version, COUNT(*) AS n FROM services GROUP BY version ORDER BY n DESC LIMIT 1").first?["version"] == 30)
        #expect(try rows("SELECT `s`.`host` FROM nova.services s ORDER BY id DESC").map { $0["host"] } == ["D", "c", "b", "a"])
        // Outside the subset: left to the rest of the simulation.
        #expect(SimQuery.parse("SELECT host FROM services WHERE deleted = 0 OR version = 1") == nil)
        #expect(SimQuery.parse("SELECT s.host FROM services s JOIN compute_nodes c ON c.host = s.host") == nil)
        #expect(SimQuery.parse("SELECT UPPER(host) FROM services") == nil)
        // Columns: unknown (MariaDB's 1054) and unmodelled (not judged).
        #expect(throws: SimQuery.Refusal.unknownColumn("uuid")) { try SimQuery.parse("SELECT uuid FROM services")!.check(against: table) }
        #expect(throws: SimQuery.Refusal.unmodelled("updated_at")) {
            try SimQuery.parse("SELECT host FROM services WHERE updated_at < NOW() - INTERVAL 60 SECOND")!.check(against: table)
        }
        let change = SimQuery.parse("UPDATE services SET deleted = id, deleted_at = UTC_TIMESTAMP() WHERE id IN (1, 2) AND deleted = 0")?
            .change(table, now: 86400)
        guard case .update(_, let matched, let set)? = change else { Issue.record("no update"); return }
        #expect(matched.map { $0["host"] } == ["a", "b"] && set.map { $0["deleted"] } == [1, 2])
        #expect(set.first?["deleted_at"] == "1970-01-02 00:00:00")
    }
}
