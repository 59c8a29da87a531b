import FerryCore
import FerrySimulation
import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// The runbook library (scripts/lib) and the runbooks built from it
/// (scripts/runbooks/kilo-to-queens, queens-to-rocky) on the simulated region.
@Suite struct LibraryTests {
    static let root = Repository.root

    struct Sim {
        let sim: SimRegion
        let engine: Engine
        let directory: String
    }

    /// The saved form of a simulated region (SimRegion reads it back from its state directory).
    struct Saved: Codable {
        var clock: Double
        var state: SimState
    }

    /// A simulated region starting at `release` (the new controllers prebuilt with `target`),
    /// with the repository's `runbook`; `adjust` edits the region's model before the run.
    /// `family`: the region's package family (`vars.family`); `families`: `inventory.families` (group → family).
    static func make(runbook: String, release: String, target: String, computes: Int, faults: String = "[]", vars: String = "",
                     family: String = "rpm", families: String = "", groups: String = "", simulate: String = "",
                     adjust: ((inout SimState) -> Void)? = nil) async throws -> Sim
    {
        let dir = NSTemporaryDirectory() + "ferry-library-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            region: simlib
            simulate:
              release: \(release)
              target: \(target)
              components: [keystone, glance, cinder, nova, neutron, rabbitmq]
              seed: 42
              faults: \(faults)\(simulate.isEmpty ? "" : "\n  " + simulate)
            inventory:
              groups:
                tools: [tools1]\(groups.isEmpty ? "" : "\n    " + groups)\(families.isEmpty ? "" : "\n  families: { \(families) }")
            releases:
            \(["kilo", "liberty", "mitaka", "newton", "ocata", "pike", "queens", "rocky"]
                .map { "  \($0): { host: tools1, venv: /opt/venvs/\($0) }" }.joined(separator: "\n"))
            vars: { family: \(family), venv_cache: /var/cache/ferry, rabbit_start_new: true\(vars.isEmpty ? "" : ", " + vars) }
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: dir + "/region.yaml")
        if let adjust {
            let first = try SimRegion(region: region, computes: computes, components: PluginRegistry.simComponents,
                                      stateDirectory: dir + "/sim")
            var state = first.state
            adjust(&state)
            let path = try #require(first.statePath)
            try FileManager.default.createDirectory(atPath: dir + "/sim", withIntermediateDirectories: true)
            try JSONEncoder().encode(Saved(clock: first.clock.seconds, state: state)).write(to: URL(fileURLWithPath: path))
        }
        let sim = try SimRegion(region: region, computes: computes, components: PluginRegistry.simComponents,
                                stateDirectory: dir + "/sim")
        let engine = Engine(
            runbook: try await RunbookLoader.load(path: runbook.hasPrefix("/") ? runbook : root + "/scripts/runbooks/" + runbook,
                                                  extensions: PluginRegistry.extensions),
            region: sim.region, transport: sim.transport, journal: try RunJournal(path: dir + "/journal.db"),
            databases: sim.databaseDriver, clock: sim.clock, drivers: sim.drivers)
        return Sim(sim: sim, engine: engine, directory: dir)
    }

    static let components = ["glance", "cinder", "nova", "neutron"]
    static let kiloToQueens = ["liberty", "mitaka", "newton", "ocata", "pike", "queens"]

    @Test func kiloToQueensDrillOn2000ComputesPassesBothWaysWithSchemaStepsInReleaseOrder() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 2000)
        let before = s.sim.state
        let started = Date()
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 1).run()
        let wall = Date().timeIntervalSince(started)
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "")")
        let rep = try #require(outcome.repetitions.first)
        #expect(rep.upgrade.status == .succeeded, "\(rep.upgrade.message ?? "")")
        #expect(rep.rollback?.status == .rolledBack, "\(rep.rollback?.message ?? "")")
        #expect(rep.differences.isEmpty, "\(rep.differences)")
        #expect(SimRegion.differences(before, s.sim.state).isEmpty)
        // Simulated hours of upgrade, and a rollback that restores instead of replaying.
        #expect(rep.upgradeSeconds > 3 * 3600, "upgrade \(rep.upgradeSeconds)s")
        #expect(rep.rollbackSeconds > 600 && rep.rollbackSeconds < rep.upgradeSeconds, "rollback \(rep.rollbackSeconds)s")
        print("kilo-to-queens drill on 2000 computes: wall \(Int(wall))s, upgrade \(Int(rep.upgradeSeconds))s, rollback \(Int(rep.rollbackSeconds))s (simulated)")

        // The journal: each component's schema steps ran, in release order, each on its release's tools,
        // components in the runbook's order (Glance, Cinder, then Nova and Neutron).
        let steps = try await s.engine.journal.steps(rep.runID).filter { $0.phase == .run }
        func order(_ c: String) -> [String] {
            steps.filter { $0.name.hasPrefix("\(c)-db-sync-") && $0.status == .done }.sorted { $0.index < $1.index }
                .map { String($0.name.dropFirst("\(c)-db-sync-".count)) }
        }
        for c in Self.components { #expect(order(c) == Self.kiloToQueens, "\(c): \(order(c))") }
        let startedAt = { (name: String) in steps.first { $0.name == name }?.startedAt ?? .distantFuture }
        #expect(startedAt("glance-db-sync-queens") < startedAt("cinder-db-sync-liberty"))
        #expect(startedAt("cinder-db-sync-queens") < startedAt("nova-db-sync-liberty"))
        for (a, b) in zip(Self.kiloToQueens, Self.kiloToQueens.dropFirst()) {
            #expect(startedAt("nova-db-sync-\(a)") < startedAt("nova-db-sync-\(b)"))
        }
        // Every step that ran has been undone, except the one-way schema steps.
        let undone = Set(try await s.engine.journal.steps(rep.runID).filter { $0.phase == .undo && $0.status == .done }.map(\.name))
        let irreversible = steps.filter { $0.name.contains("-db-sync-") }.map(\.name)
        for st in steps where st.status == .done && !irreversible.contains(st.name) {
            #expect(undone.contains(st.name), "\(st.name) was not undone")
        }
        // The agents restarted in adaptive waves, and the 2000 compute nodes all ran the switch.
        let switched = try await s.engine.journal.hosts(rep.runID, step: try #require(steps.first { $0.name == "switch-ovs-agents" }).index, phase: .run)
        #expect(switched.filter { $0.status == .ok }.count == 2000)
        let events = try await s.engine.journal.events(rep.runID)
        #expect(events.contains { $0.kind == "adaptive" })
    }

    @Test func theUpgradeLeavesQueensEverywhere() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 40)
        var options = RunOptions()
        options.yes = true
        options.virtualTime = true
        let run = try await s.engine.run(options)
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let state = s.sim.state
        for name in ["glance", "cinder", "nova", "nova_api", "nova_cell0", "neutron"] {
            #expect(state.databases[name]?.schema["main"] == "queens", "\(name): \(state.databases[name]?.schema ?? [:])")
        }
        // Placement (nova's, under httpd until Stein) moved with Nova to the new controllers.
        #expect(state.hosts["nova-new-1"]?.services["httpd"]?.running == true && state.hosts["nova-new-1"]?.services["httpd"]?.release == "queens")
        #expect(state.hosts["nova-old-1"]?.services["httpd"] == nil)   // Kilo had no placement
        // Kilo's nova-cert (gone in Pike) stopped with the old controllers; Queens has none.
        #expect(state.hosts["nova-old-1"]?.services["openstack-nova-cert"]?.running == false)
        #expect(state.hosts["nova-new-1"]?.services["openstack-nova-cert"] == nil)
        #expect(state.hosts["cmp0040"]?.services["openstack-nova-compute"]?.release == "queens")
        #expect(state.hosts["cmp0040"]?.services["neutron-openvswitch-agent"]?.release == "queens")
        #expect(state.hosts["net01"]?.services["neutron-l3-agent"]?.release == "queens")
        #expect(state.hosts["cmp0001"]?.files["/etc/nova/nova.conf"]?.contains("transport_url = rabbit://nova@rabbit-new-1:5672") == true)
        // nova-api reaches the cell through the new broker too (the mapping made on Newton named the old one).
        #expect(state.databases["nova_api"]?.flags["cell1_transport_url"]?.contains("rabbit-new-1") == true,
                "\(state.databases["nova_api"]?.flags["cell1_transport_url"] ?? "none")")
        #expect(state.vips["glance"]?.servers["glance-new-1"] == "ready" && state.vips["glance"]?.servers["glance-old-1"] == "maint")
        #expect(state.vips["nova"]?.maintenance == "false")
        // volumev3 and placement registered, Cinder v1 gone, volumev2 behind the cinder VIP.
        func endpoints(_ type: String) -> [SimCatalog.Endpoint] {
            let ids = Set(state.catalog.services.filter { $0.type == type }.map(\.id))
            return state.catalog.endpoints.filter { ids.contains($0.serviceID) }
        }
        // Keystone stays at Kilo: the project key is tenant_id, the only one Kilo substitutes.
        #expect(endpoints("volumev3").count == 3)
        #expect(endpoints("volumev3").allSatisfy { $0.url == "http://cinder.sim:8776/v3/%(tenant_id)s" })
        #expect(endpoints("placement").count == 3)
        #expect(endpoints("volume").isEmpty)
        #expect(endpoints("volumev2").allSatisfy { $0.url == "http://cinder.sim:8776/v2/%(tenant_id)s" })
        #expect(state.catalog.endpoints.contains { $0.url == "http://nova.sim:8774/v2.1" })
        #expect(state.databases["cinder"]?.counters["volumes_host:cinder-new-1@lvm"] ?? 0 > 0)
        #expect(state.databases["cinder"]?.counters["volumes_host:cinder-old-1@lvm"] == nil)
        let policies = state.brokers["default"]?.policies.map(\.name).sorted()
        #expect(policies == ["notifications-lazy", "rpc-queues"], "\(policies ?? [])")
    }

    @Test func preflightBlocksOnABusyVolume() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["cinder"]?.counters["busy_volumes"] = 3
        }
        let run = try await s.engine.run(RunOptions())
        #expect(run.status == .failed)
        #expect(run.step == "preflight", "\(run.step ?? "")")
        #expect(run.message?.contains("3 volume(s) attaching, creating, deleting, detaching, migrating, uploading, downloading, backing-up, restoring-backup, extending or retyping") == true, "\(run.message ?? "")")
        #expect(s.sim.state.databases["glance"]?.schema["main"] == "kilo")
    }

    @Test func glanceWaitsForUploadsAndItsVisibilityCheckIsReal() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["glance"]?.counters["images_saving"] = 2
        }
        // Before ocata01 there is no visibility column: the check's query would fail, as on MariaDB.
        let kilo = try await s.sim.databaseDriver.connect("glance")
        await #expect { _ = try await kilo.query("SELECT COUNT(*) FROM images WHERE visibility IS NULL AND deleted = 0", []) } throws: {
            "\($0)".contains("Unknown column 'visibility'")
        }
        await kilo.close()
        var options = RunOptions()
        options.yes = true
        let run = try await s.engine.run(options)
        #expect(run.status == .failed)
        #expect(run.message?.contains("2 image upload(s) in progress") == true, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(s.sim.state.databases["glance"]?.schema["main"] == "kilo")
        #expect(s.sim.state.hosts["glance-old-1"]?.services.values.allSatisfy(\.running) == true)
    }

    @Test func theBrokerIsReshapedMirroringRemovedAndPutBackByTheRollback() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.brokers["default"]?.policies.append(.init(vhost: "/", name: "ha-all", pattern: "^(?!amq\\.).*", applyTo: "all",
                                                         definition: ["ha-mode": "all", "ha-sync-mode": "automatic"], priority: 0))
        }
        let before = s.sim.state
        var options = RunOptions()
        options.yes = true
        options.virtualTime = true
        let run = try await s.engine.run(options)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        let policies = s.sim.state.brokers["default"]?.policies ?? []
        #expect(!policies.contains { $0.definition["ha-mode"] != .nil }, "\(policies)")
        let rpc = try #require(policies.first { $0.name == "rpc-queues" })
        #expect(rpc.definition["queue-master-locator"] == "min-masters" && rpc.pattern == ".*" && rpc.priority == 0)
        let lazy = try #require(policies.first { $0.name == "notifications-lazy" })
        #expect(lazy.definition["queue-mode"] == "lazy" && lazy.definition["queue-master-locator"] == "min-masters" && lazy.priority == 1)
        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(s.sim.state.brokers["default"]?.policies == before.brokers["default"]?.policies)
        #expect(SimRegion.differences(before, s.sim.state).isEmpty, "\(SimRegion.differences(before, s.sim.state))")
    }

    @Test func simulatedAPIsAnswerTheirVersionDocumentsAsTheRealOnesDo() async throws {
        let runbook = try writeRunbook("""
            runbook { name = "versions" }
            step "ask" { run = function(ctx)
              ctx.state.glance = http.get(vip.url("glance") .. "/versions").status
              ctx.state.cinder = http.get(vip.url("cinder") .. "/").status
              ctx.state.nova = http.get(vip.url("nova") .. "/").status
              ctx.state.image = http.get(vip.url("glance") .. "/v2/images").status
              vip.maintenance("glance", "all")
              ctx.state.blocked = http.get(vip.url("glance") .. "/versions").status
              vip.maintenance("glance", false)
            end }
            """)
        let s = try await Self.make(runbook: runbook, release: "queens", target: "rocky", computes: 5)
        let run = try await s.engine.run(RunOptions())
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let state = try await s.engine.journal.run(run.runID).state
        #expect(state["glance"] == 300 && state["cinder"] == 300 && state["nova"] == 200 && state["image"] == 200, "\(state)")
        #expect(state["blocked"] == 503)
    }

    @Test func simulatedRPCQueuesDrainWhileUnreadNotificationsStay() async throws {
        let runbook = try writeRunbook("""
            runbook { name = "drain" }
            step "drain" { run = function(ctx)
              broker.wait_drained("/", "conductor", { within = "5m", every = "5s" })
            end }
            step "no-conductor" { run = function(ctx)
              ctx.state.conductor_before = broker.queue("/", "conductor").consumers
              ssh.run("nova_old", "systemctl stop openstack-nova-conductor", { check = true })
              ctx.state.conductor_after = broker.queue("/", "conductor").consumers
              ctx.state.scheduler_after = broker.queue("/", "scheduler").consumers
            end }
            step "notifications" { run = function(ctx)
              local ok, err = pcall(broker.wait_drained, "/", "notifications.info", { within = "1m", every = "10s" })
              ctx.state.notifications_ok = ok
              ctx.state.notifications_error = tostring(err)
            end }
            """)
        let s = try await Self.make(runbook: runbook, release: "queens", target: "rocky", computes: 10) {
            if let i = $0.brokers["default"]?.queues.firstIndex(where: { $0.name == "conductor" }) {
                $0.brokers["default"]?.queues[i].messages = 10_000
            }
        }
        var options = RunOptions()
        options.virtualTime = true
        let run = try await s.engine.run(options)
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let state = try await s.engine.journal.run(run.runID).state
        // 10,000 messages at 200 a second: about 50 simulated seconds, seen every 5.
        let after = try await s.engine.journal.steps(run.runID).first { $0.name == "drain" }?.duration ?? -1
        #expect(after >= 45 && after <= 60, "\(after)")
        // With the conductors stopped nothing reads their queue (nor drains it); the schedulers still read theirs.
        #expect(state["conductor_before"] == 1 && state["conductor_after"] == 0 && state["scheduler_after"] == 1, "\(state)")
        #expect(state["notifications_ok"] == false)
        #expect(state["notifications_error"].stringValue?.contains("message(s) left in notifications.info") == true, "\(state)")
        #expect(state["notifications_error"].stringValue?.contains("runbook.lua:") == true, "\(state)")
    }

    @Test func updateCellsRefusesSeveralCellsBeforeChangingAnything() async throws {
        let runbook = try writeRunbook("""
            local nova = require "ferry.nova"
            runbook { name = "cells" }
            step "cells" { run = function(ctx) nova.update_cells(inventory.group("nova_new")[1]) end }
            """)
        let s = try await Self.make(runbook: runbook, release: "queens", target: "rocky", computes: 5) {
            $0.databases["nova_api"]?.counters["cell_mappings"] = 3
        }
        let before = s.sim.state.databases["nova_api"]?.flags["cell1_transport_url"]
        let run = try await s.engine.run(RunOptions())
        #expect(run.status == .failed)
        #expect(run.message?.contains("lists 2 cells besides cell0") == true && run.message?.contains("nothing was changed") == true,
                "\(run.message ?? "")")
        #expect(s.sim.state.databases["nova_api"]?.flags["cell1_transport_url"] == before)
    }

    @Test func aDryRunOfKiloToQueensGoesThroughEveryStep() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let before = s.sim.state
        var options = RunOptions()
        options.dryRun = true
        options.yes = true
        let run = try await s.engine.run(options)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(SimRegion.differences(before, s.sim.state).isEmpty, "\(SimRegion.differences(before, s.sim.state))")
        // Nova's volumev3 check needs the endpoint an earlier step would have made: a warning, not a stop.
        let warnings = try await s.engine.journal.events(run.runID).filter { $0.kind == "warning" }.map(\.message)
        #expect(warnings.contains { $0.contains("[dry run] check") && $0.contains("before block-nova-writes would fail now") }, "\(warnings)")
    }

    @Test func rabbitmqPolicyHelpersPutOnePolicyEachAndRestoreIt() async throws {
        let runbook = try writeRunbook("""
            local rabbitmq = require "ferry.rabbitmq"
            runbook { name = "policies" }
            step "put" { run = function(ctx)
              ctx.state.lazy = rabbitmq.lazy_notifications { locator = "min-masters" }
              ctx.state.locator = rabbitmq.queue_master_locator { pattern = "^conductor" }
              ctx.state.during = broker.policies { vhost = "/" }
            end }
            step "restore" { run = function(ctx)
              rabbitmq.restore_policies(ctx.state.locator)
              rabbitmq.restore_policies(ctx.state.lazy)
            end }
            """)
        let s = try await Self.make(runbook: runbook, release: "queens", target: "rocky", computes: 5)
        let before = s.sim.state.brokers["default"]?.policies ?? []
        let run = try await s.engine.run(RunOptions())
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let state = try await s.engine.journal.run(run.runID).state
        let during = state["during"].arrayValue ?? []
        let lazy = try #require(during.first { $0["name"] == "notifications-lazy" })
        #expect(lazy["pattern"] == "^notifications\\." && lazy["priority"] == 1 && lazy["apply_to"] == "queues", "\(lazy)")
        #expect(lazy["definition"]["queue-mode"] == "lazy" && lazy["definition"]["queue-master-locator"] == "min-masters")
        let locator = try #require(during.first { $0["name"] == "queue-master-locator" })
        #expect(locator["pattern"] == "^conductor" && locator["priority"] == 0 && locator["definition"]["queue-master-locator"] == "min-masters")
        #expect(state["lazy"]["name"] == "notifications-lazy" && state["lazy"]["vhost"] == "/")
        // Both undone: the vhost has the policies it had.
        #expect(s.sim.state.brokers["default"]?.policies == before)
    }

    @Test func mirroredQueuesAreFoundBeforeTheyBlockAnUpgrade() async throws {
        let runbook = try writeRunbook("""
            local rabbitmq = require "ferry.rabbitmq"
            runbook { name = "mirrors" }
            check "no-mirrored-queues" { probe = rabbitmq.preflight.no_mirrored_queues }
            step "x" { run = function(ctx) end }
            """)
        let mirrored = try await Self.make(runbook: runbook, release: "2024.1", target: "2024.2", computes: 5) {
            $0.brokers["default"]?.policies.append(.init(vhost: "/", name: "ha-all", pattern: ".*", applyTo: "all",
                                                         definition: ["ha-mode": "all"], priority: 0))
        }
        let found = try await mirrored.engine.runChecks(["no-mirrored-queues"], runID: nil)
        #expect(found.first?.passed == false)
        #expect(found.first?.message?.contains("1 policy(ies) still mirror classic queues: / ha-all (ha-mode all)") == true,
                "\(found.first?.message ?? "")")
        let clean = try await Self.make(runbook: runbook, release: "2024.1", target: "2024.2", computes: 5)
        #expect(try await clean.engine.runChecks(["no-mirrored-queues"], runID: nil).first?.passed == true)
    }

    @Test func preflightBlocksWhenANewControllerLacksItsServices() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.hosts["glance-new-2"]?.services.removeValue(forKey: "openstack-glance-api")
        }
        let run = try await s.engine.run(RunOptions())
        #expect(run.status == .failed)
        #expect(run.step == "preflight", "\(run.step ?? "")")
        #expect(run.message?.contains("glance-new-2: not installed: openstack-glance-api") == true, "\(run.message ?? "")")
    }

    @Test func preflightBlocksOnUnfinishedOnlineMigrations() async throws {
        // Queens → Rocky: Nova's online migrations of Queens left rows behind.
        let nova = try await Self.make(runbook: "queens-to-rocky", release: "queens", target: "rocky", computes: 20) {
            $0.databases["nova"]?.addPending("queens", 500)
        }
        let run = try await nova.engine.run(RunOptions())
        #expect(run.status == .failed)
        #expect(run.step == "preflight", "\(run.step ?? "")")
        #expect(run.message?.contains("nova: online data migrations of queens not complete") == true,
                "\(run.message ?? "")")
        #expect(nova.sim.state.databases["nova"]?.schema["main"] == "queens")

        // Consistency groups left by Ocata's migrations (possible only from Ocata on).
        let cinder = try await Self.make(runbook: "queens-to-rocky", release: "queens", target: "rocky", computes: 20) {
            $0.databases["cinder"]?.counters["rows:consistencygroups"] = 12
        }
        let second = try await cinder.engine.run(RunOptions())
        #expect(second.status == .failed)
        #expect(second.step == "preflight", "\(second.step ?? "")")
        #expect(second.message?.contains("cinder: 12 consistency group") == true, "\(second.message ?? "")")
    }

    @Test func kiloConsistencyGroupsDoNotBlockAndAreMovedOnTheWay() async throws {
        // On Kilo, consistency groups are ordinary data: preflight lets them be, and
        // Ocata's online migrations in the chain move them before Pike's 097 needs it.
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["cinder"]?.addPending("ocata", 12)
            $0.databases["cinder"]?.counters["rows:consistencygroups"] = 12
        }
        var options = RunOptions()
        options.yes = true
        options.virtualTime = true
        let run = try await s.engine.run(options)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(s.sim.state.databases["cinder"]?.schema["main"] == "queens")
        #expect(s.sim.state.databases["cinder"]?.counters["rows:consistencygroups"] == 0)
    }

    @Test func novaRefusesToStartWithoutAVolumev3Endpoint() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        var options = RunOptions()
        options.yes = true
        options.skipTags = ["catalog"]   // the operator left out the endpoint registrations
        let run = try await s.engine.run(options)
        #expect(run.status == .failed)
        #expect(run.step == "block-nova-writes", "\(run.step ?? "")")
        #expect(run.message?.contains("no volumev3 endpoint") == true, "\(run.message ?? "")")
        // Glance and Cinder moved; Nova was not touched.
        #expect(s.sim.state.databases["cinder"]?.schema["main"] == "queens")
        #expect(s.sim.state.databases["nova"]?.schema["main"] == "kilo")
        #expect(s.sim.state.hosts["nova-old-1"]?.services["openstack-nova-api"]?.running == true)
        // And the rollback of what did run leaves the region as it was.
        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
    }

    @Test func aRunThatFailsMidwayRollsBackToTheKiloRegion() async throws {
        let s = try await Self.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 30,
                                    faults: #"[{ command: "cinder-manage db sync", release: newton, kind: fail, message: "OperationalError: (1205, Lock wait timeout exceeded)" }]"#)
        let before = s.sim.state
        var options = RunOptions()
        options.yes = true
        options.virtualTime = true
        let run = try await s.engine.run(options)
        #expect(run.status == .failed)
        #expect(run.step == "cinder-db-sync-newton", "\(run.step ?? "")")
        #expect(s.sim.state.databases["glance"]?.schema["main"] == "queens")
        #expect(s.sim.state.databases["cinder"]?.schema["main"] == "mitaka")
        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(SimRegion.differences(before, s.sim.state).isEmpty, "\(SimRegion.differences(before, s.sim.state))")
    }

    @Test func theExampleRegionsPlanTheKiloToQueensRunbook() async throws {
        let runbook = try await RunbookLoader.load(path: Self.root + "/scripts/runbooks/kilo-to-queens", extensions: PluginRegistry.extensions)
        for (file, computes) in [("kr1.example.yaml", "computes (1880 hosts)"), ("kr2.example.yaml", "computes (480 hosts)")] {
            let region = try RegionLoader.load(path: Self.root + "/scripts/regions/" + file)
            let plan = try Plan.build(runbook, region: region).render()
            #expect(plan.contains("switch-ovs-agents  on " + computes), "\(file)")
            #expect(plan.contains("glance-db-sync-liberty"), "\(file)")
        }
    }

    @Test func queensToRockyPlansAndDrillsFromTheSameLibrary() async throws {
        let s = try await Self.make(runbook: "queens-to-rocky", release: "queens", target: "rocky", computes: 200)
        let plan = try Plan.build(s.engine.runbook, region: s.sim.region).render()
        for expected in ["glance-db-sync-rocky", "cinder-db-sync-rocky", "nova-db-sync-rocky", "neutron-db-sync-rocky",
                         "backup-nova", "switch-ovs-agents", "adaptive", "switch-vip-glance", "keystone-fernet"] {
            #expect(plan.contains(expected), "plan lacks \(expected)")
        }
        #expect(!plan.contains("db-sync-queens"))
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 1).run()
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "")")
        let rep = try #require(outcome.repetitions.first)
        let steps = try await s.engine.journal.steps(rep.runID).filter { $0.phase == .run && $0.status == .done }
        for c in Self.components { #expect(steps.contains { $0.name == "\(c)-db-sync-rocky" }, "\(c)") }
        #expect(rep.differences.isEmpty, "\(rep.differences)")
    }
}
