import FerryCore
import FerrySimulation
@testable import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// Issue 12's library fixes, each drilled on the simulated region: the Kilo → Queens runbook as it
/// was before them (Fixtures/before-issue-12) fails where a real region would, the fixed one passes.
@Suite struct LibraryIssue12Tests {
    static let before = Repository.root + "/Tests/PluginTests/Fixtures/before-issue-12/scripts/runbooks/kilo-to-queens"

    static func run(_ s: LibraryTests.Sim, skipTags: [String] = []) async throws -> RunOutcome {
        var options = RunOptions()
        options.yes = true
        options.virtualTime = true
        options.skipTags = skipTags
        return try await s.engine.run(options)
    }

    /// What a new token's catalog shows of the service `type`'s public endpoint on the region as it is now.
    static func tokenURL(_ state: SimState, type: String) -> String? {
        let ids = Set(state.catalog.services.filter { $0.type == type }.map(\.id))
        let release = KeystoneSimulation.release(state)
        return state.catalog.endpoints.filter { ids.contains($0.serviceID) && $0.interface == "public" }
            .compactMap { KeystoneSimulation.tokenURL($0.url, release: release) }.first
    }

    /// The old cinder service rows gone (what the fixed runbook does, so the old one gets past Cinder).
    static func withoutKiloCinderRows(_ s: inout SimState) {
        let db = s.databases["cinder"]!
        for key in CinderSimulation.unversionedRows(db) { s.databases["cinder"]!.counters[key] = nil }
        CinderSimulation.mirrorRows(&s.databases["cinder"]!)
    }

    // MARK: 1. Endpoints on a Kilo Keystone

    /// openstack/keystone@2015.1.0 keystone/catalog/core.py format_url: no project_id before Mitaka (9.0.0).
    @Test func kiloKeystoneSubstitutesTenantIDOnly() {
        let id = KeystoneSimulation.projectID
        #expect(KeystoneSimulation.tokenURL("http://c:8776/v3/%(project_id)s", release: "kilo") == nil)
        #expect(KeystoneSimulation.tokenURL("http://c:8776/v3/%(project_id)s", release: "liberty") == nil)
        #expect(KeystoneSimulation.tokenURL("http://c:8776/v3/%(project_id)s", release: "mitaka") == "http://c:8776/v3/\(id)")
        #expect(KeystoneSimulation.tokenURL("http://c:8776/v2/%(tenant_id)s", release: "kilo") == "http://c:8776/v2/\(id)")
        #expect(KeystoneSimulation.tokenURL("http://c:8776/v2/$(tenant_id)s", release: "kilo") == "http://c:8776/v2/\(id)")
        #expect(KeystoneSimulation.tokenURL("http://c:8774/v2.1", release: "kilo") == "http://c:8774/v2.1")
        #expect(KeystoneSimulation.tokenURL("http://c/%(region)s", release: "queens") == nil)
        for r in Releases.names {
            #expect(KeystoneKnowledge.urlSubstitutions(r).contains(KeystoneKnowledge.projectKey(r)), "\(r)")
        }
        #expect(KeystoneKnowledge.projectKey("liberty") == "tenant_id" && KeystoneKnowledge.projectKey("mitaka") == "project_id")
    }

    /// ferry.keystone's project_key (what the library uses) agrees with the knowledge, release by release.
    @Test func keystoneModuleProjectKeyAgreesWithTheKnowledge() async throws {
        let keys = Releases.names.map { "\"\($0)\"" }.joined(separator: ", ")
        let runbook = try await loadRunbook("""
            local keystone = require "ferry.keystone"
            runbook { name = "keys" }
            local out = {}
            for _, r in ipairs({ \(keys) }) do out[#out + 1] = r .. "=" .. keystone.project_key(r) end
            step "x" { desc = table.concat(out, ","), run = function() end }
            """)
        let desc = try #require(runbook.steps.first?.desc)
        for r in Releases.names { #expect(desc.contains("\(r)=\(KeystoneKnowledge.projectKey(r))"), "\(r)") }
    }

    /// The old runbook registered volumev3 and re-pointed cinderv2 with %(project_id)s: a Kilo Keystone leaves both
    /// out of every token, and Nova's preflight, now reading a token's catalog, stops the run before Nova is touched.
    @Test func oldEndpointsVanishFromKiloTokensAndNovaIsNotTouched() async throws {
        let old = try await LibraryTests.make(runbook: Self.before, release: "kilo", target: "queens", computes: 20,
                                              adjust: Self.withoutKiloCinderRows)
        let run = try await Self.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "block-nova-writes", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.message?.contains("a token's catalog has no public volumev3 endpoint") == true, "\(run.message ?? "")")
        #expect(Self.tokenURL(old.sim.state, type: "volumev3") == nil)
        #expect(Self.tokenURL(old.sim.state, type: "volumev2") == nil)   // Kilo Nova loses Cinder v2 too
        #expect(old.sim.state.databases["nova"]?.schema["main"] == "kilo")

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let good = try await Self.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        #expect(Self.tokenURL(fixed.sim.state, type: "volumev3") == "http://cinder.sim:8776/v3/\(KeystoneSimulation.projectID)")
        #expect(Self.tokenURL(fixed.sim.state, type: "volumev2") == "http://cinder.sim:8776/v2/\(KeystoneSimulation.projectID)")
    }

    /// A region that says its Keystone is newer than it is gets project_id URLs; the step looks for them in a
    /// token's catalog and fails naming them (its undo puts the catalog back).
    @Test func registeredEndpointsAreCheckedInATokensCatalog() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20,
                                            vars: "keystone_release: queens")
        let before = s.sim.state.catalog
        let run = try await Self.run(s)
        #expect(run.status == .failed)
        #expect(run.step == "cinder-endpoints", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.message?.contains("a token's catalog lacks cinderv3 public (http://cinder.sim:8776/v3/%(project_id)s)") == true,
                "\(run.message ?? "")")
        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(s.sim.state.catalog.sameEntries(before))
    }

    /// The preflight reads a token's catalog, not /v3/endpoints: a volumev3 registered with %(project_id)s on Kilo
    /// (listed by /v3/endpoints, which the old check read) does not pass.
    @Test func volumev3PreflightReadsATokensCatalog() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) { state in
            let id = "svc-cinderv3-old"
            state.catalog.services.append(.init(id: id, name: "cinderv3", type: "volumev3", description: nil))
            for i in ["public", "internal", "admin"] {
                state.catalog.endpoints.append(.init(id: "ep-v3-\(i)", serviceID: id, interface: i, region: "RegionOne",
                                                     url: "http://cinder.sim:8776/v3/%(project_id)s"))
            }
        }
        let run = try await Self.run(s, skipTags: ["catalog"])
        #expect(run.status == .failed)
        #expect(run.step == "block-nova-writes", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.message?.contains("volumev3 is registered (http://cinder.sim:8776/v3/%(project_id)s) but a token's catalog") == true,
                "\(run.message ?? "")")
    }

    // MARK: 2. Queens Cinder and Kilo's service rows

    /// Cinder from Newton refuses to start beside a service row with a NULL rpc_current_version (Kilo's rows):
    /// the old runbook left them to a log line in cleanup, and Queens Cinder did not start.
    @Test func queensCinderRefusesKiloServiceRowsUntilTheyAreRemoved() async throws {
        let old = try await LibraryTests.make(runbook: Self.before, release: "kilo", target: "queens", computes: 20)
        let run = try await Self.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "start-cinder-queens", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.failedHosts.first?.message.contains("ServiceTooOld: Service cinder-scheduler is in Liberty version") == true,
                "\(run.failedHosts.first?.message ?? "")")
        let back = try await old.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let good = try await Self.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        let db = try #require(fixed.sim.state.databases["cinder"])
        #expect(CinderSimulation.unversionedRows(db).isEmpty, "\(CinderSimulation.unversionedRows(db))")
        #expect(db.counters["service:cinder-scheduler:cinder-old-1"] == nil)
        #expect(db.counters["service:cinder-volume:cinder-new-1@lvm"] == 1 && db.flags["rpc_version:cinder-volume:cinder-new-1@lvm"] == "queens")
        #expect(fixed.sim.state.hosts["cinder-new-1"]?.services["openstack-cinder-volume"]?.running == true)
    }

    /// Queens → Rocky moves Cinder to new hosts too: the volumes follow, the Queens rows of the old hosts go.
    @Test func queensToRockyRehomesVolumesAndRemovesTheOldRows() async throws {
        let s = try await LibraryTests.make(runbook: "queens-to-rocky", release: "queens", target: "rocky", computes: 20)
        let before = try #require(s.sim.state.databases["cinder"]?.counters["volumes_host:cinder-old-1@lvm"])
        let run = try await Self.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        let db = try #require(s.sim.state.databases["cinder"])
        #expect(db.counters["volumes_host:cinder-old-1@lvm"] == nil)
        #expect(db.counters["volumes_host:cinder-new-1@lvm"] == before)
        #expect(db.counters["service:cinder-volume:cinder-old-1@lvm"] == nil && db.counters["service:cinder-scheduler:cinder-old-1"] == nil)
        #expect(db.flags["rpc_version:cinder-volume:cinder-new-1@lvm"] == "rocky")
    }

    // MARK: 3. Nova's online migrations, per release

    /// 600 computes leave 1,200 rows to Mitaka's online migrations, more than a batch of 1,000: Mitaka exits 0 after
    /// the first batch, and only reading its output carries the library past Newton's migration 330.
    @Test func mitakaOnlineMigrationsRunUntilTheirOutputSaysDone() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 600)
        let run = try await Self.run(s)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(s.sim.state.databases["nova"]?.schema["main"] == "queens")
        #expect(s.sim.state.databases["nova"]?.pending(upTo: "queens") == 0)
    }

    /// "Error attempting to run" with exit 0 (Mitaka … Rocky) fails the step that ran it.
    @Test func errorAttemptingToRunFailsTheStep() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["nova"]?.counters["odm_errors"] = 1
        }
        let run = try await Self.run(s)
        #expect(run.status == .failed)
        #expect(run.step == "nova-db-sync-mitaka", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.message?.contains("Error attempting to run") == true, "\(run.message ?? "")")
        #expect(s.sim.state.databases["nova"]?.schema["main"] == "mitaka")
    }

    // MARK: 4. Kilo's flavor migration and the busy-volume preflight

    /// Instances with a task_state, or resized or rescued. The old runbook has no preflight for them: it moves Glance
    /// and Cinder, and only in the Nova phase Kilo's migrate_flavor_data skips them (exit 0, which the chain now reads
    /// by its counts; Liberty's 291 refused next: NovaTests.kiloFlavorMigrationSkipsUnsettledInstancesAndLibertyAborts).
    /// The fixed runbook stops at its preflight, before anything changes.
    @Test func unsettledInstancesStopThePreflightNotTheWindow() async throws {
        // The old runbook, on a region where its other defects do not stop it first (Keystone at Mitaka, Kilo's cinder rows gone).
        let old = try await LibraryTests.make(runbook: Self.before, release: "kilo", target: "queens", computes: 20) { s in
            s.databases["nova"]?.counters["unsettled_instances"] = 4
            Self.withoutKiloCinderRows(&s)
            for (name, host) in s.hosts {
                for (unit, svc) in host.services where svc.component == "keystone" { s.hosts[name]?.services[unit]?.release = "mitaka" }
            }
        }
        let run = try await Self.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "nova-db-sync-liberty", "\(run.step ?? ""): \(run.message ?? "")")
        let why = (run.message ?? "") + " " + run.failedHosts.map(\.message).joined(separator: " ")
        #expect(why.contains("migrate_flavor_data on tools1 exited 0 but completed 56 of the 60 matched"), "\(why)")
        #expect(old.sim.state.databases["glance"]?.schema["main"] == "queens")   // mid-window
        #expect(old.sim.state.databases["nova"]?.schema["main"] == "kilo")

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["nova"]?.counters["unsettled_instances"] = 4
        }
        let stopped = try await Self.run(fixed)
        #expect(stopped.status == .failed)
        #expect(stopped.step == "preflight", "\(stopped.step ?? ""): \(stopped.message ?? "")")
        #expect(stopped.message?.contains("4 instance(s) with a task_state, or resized or rescued") == true, "\(stopped.message ?? "")")
        #expect(fixed.sim.state.databases["glance"]?.schema["main"] == "kilo")
    }

    /// Kilo 2015.1.0 printed the counts after its unformatted message; the check reads both forms.
    @Test func flavorMigrationCountsAreReadInBothForms() {
        let patterns = NovaKnowledge.flavorMigrationCompletion.patterns
        func first(_ text: String) -> String? { patterns.first { luaPattern($0, matches: text) } }
        #expect(first("60 instances matched query, 56 completed") == patterns[0])
        #expect(first("%(total)i instances matched query, %(done)i completed {'total': 60, 'done': 56}") == patterns[1])
    }

    // MARK: 8. Package family per host

    /// The reference region: Ubuntu controllers (the region's `vars.family: deb`), CentOS computes with RDO packages
    /// (`inventory.families: { computes: rpm }`).
    static func mixed(_ runbook: String, computes: Int = 20, adjust: ((inout SimState) -> Void)? = nil) async throws -> LibraryTests.Sim {
        try await LibraryTests.make(runbook: runbook, release: "kilo", target: "queens", computes: computes, family: "deb",
                                    families: "computes: rpm", adjust: adjust)
    }

    /// The simulated region seeds each host with its own family's units: Ubuntu's nova package names them after the
    /// package (nova-compute.service, openstack/deb-nova@debian/ocata debian/nova-compute.init.in, the Debian packaging
    /// Ubuntu's follows), RDO's spec prefixes them (openstack-nova-compute.service, rdo-packages/nova-distgit@rpm-kilo
    /// and @queens-rdo openstack-nova.spec).
    @Test func aMixedRegionSeedsEachHostWithItsFamilysUnits() async throws {
        let s = try await Self.mixed("kilo-to-queens")
        let state = s.sim.state
        #expect(s.sim.region.hosts["cmp0001"]?.family == .rpm && s.sim.region.hosts["nova-old-1"]?.family == .deb)
        #expect(state.hosts["cmp0001"]?.services["openstack-nova-compute"] != nil && state.hosts["cmp0001"]?.services["nova-compute"] == nil)
        #expect(state.hosts["nova-old-1"]?.services["nova-api"] != nil && state.hosts["nova-old-1"]?.services["openstack-nova-api"] == nil)
        #expect(state.hosts["nova-new-1"]?.services["nova-conductor"]?.release == "queens")
        #expect(state.hosts["nova-new-1"]?.services["apache2"] != nil)   // Ubuntu's placement-api runs under apache2
        #expect(state.hosts["cinder-new-1"]?.services["cinder-volume"] != nil)
        #expect(state.hosts["net01"]?.services["neutron-l3-agent"] != nil)
    }

    /// The old library took the family from the region's vars for every host: on Ubuntu controllers and RDO computes it
    /// walked every schema to Queens and then failed on the computes, mid-window, restarting a unit they do not have.
    /// Its rollback failed the same way. The library now takes each host's family, and the drill passes both ways.
    @Test func aMixedRegionFailsThePerRegionFamilyAndPassesThePerHostOne() async throws {
        // The old runbook, on a region where its other defects do not stop it first (Keystone at Mitaka, Kilo's cinder rows gone).
        let old = try await Self.mixed(Self.before) { s in
            Self.withoutKiloCinderRows(&s)
            for (name, host) in s.hosts {
                for (unit, svc) in host.services where svc.component == "keystone" { s.hosts[name]?.services[unit]?.release = "mitaka" }
            }
        }
        let run = try await Self.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "switch-nova-compute", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.failedHosts.first?.message.contains("Failed to restart nova-compute.service: Unit nova-compute.service not found.") == true,
                "\(run.failedHosts.first?.message ?? "")")
        #expect(old.sim.state.databases["nova"]?.schema["main"] == "queens")   // mid-window: every schema walked
        // Nor can it walk back: its undo restarts the same unit.
        let back = try await old.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rollbackFailed)
        #expect(back.message?.contains("Unit nova-compute.service not found") == true, "\(back.message ?? "")")

        let fixed = try await Self.mixed("kilo-to-queens")
        let before = fixed.sim.state
        let outcome = try await Drill(engine: fixed.engine, model: fixed.sim, times: 1).run()
        let rep = try #require(outcome.repetitions.first)
        #expect(rep.upgrade.status == .succeeded, "\(rep.upgrade.step ?? ""): \(rep.upgrade.message ?? "")")
        #expect(rep.rollback?.status == .rolledBack, "\(rep.rollback?.message ?? "")")
        #expect(rep.differences.isEmpty, "\(rep.differences)")
        #expect(SimRegion.differences(before, fixed.sim.state).isEmpty)

        // Once more without the rollback: each host ends on Queens under its own unit names.
        let again = try await Self.mixed("kilo-to-queens")
        let good = try await Self.run(again)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        let state = again.sim.state
        #expect(state.hosts["cmp0001"]?.services["openstack-nova-compute"]?.release == "queens")
        #expect(state.hosts["nova-new-1"]?.services["nova-api"]?.running == true)
        #expect(state.hosts["nova-old-1"]?.services["nova-api"]?.running == false)
        #expect(state.hosts["cinder-new-1"]?.services["cinder-volume"]?.running == true)
    }

    // MARK: 11. Notification consumers and the new broker

    /// A billing consumer (ceilometer's notification agent on tel1, RDO's unit) reading the old cluster, and a broker
    /// node that holds `broker` of notifications before its resource alarm.
    static func withConsumer(_ runbook: String, broker: String, skipRabbit: Bool = false,
                             adjust: ((inout SimState) -> Void)? = nil) async throws -> LibraryTests.Sim {
        try await LibraryTests.make(
            runbook: runbook, release: "kilo", target: "queens", computes: 20,
            vars: "notification_queues: [notifications.info], notification_consumers: [{ name: ceilometer, group: telemetry, "
                + "file: /etc/ceilometer/ceilometer.conf, section: oslo_messaging_notifications, option: transport_url, "
                + "units: { rpm: [openstack-ceilometer-notification], deb: [ceilometer-agent-notification] } }]",
            groups: "telemetry: [tel1]", simulate: "broker: { \(broker) }") { s in
                s.hosts["tel1"]?.services["openstack-ceilometer-notification"] = SimService(component: "ceilometer", running: true, release: "kilo")
                s.hosts["tel1"]?.files["/etc/ceilometer/ceilometer.conf"] =
                    "[oslo_messaging_notifications]\ntransport_url = rabbit://ceilometer@rabbit-old-1:5672/\n"
                adjust?(&s)
            }
    }

    /// The old runbook moved every service to the new cluster and left billing on the old one: the new cluster's
    /// notifications.info had no consumer and grew (lazy: to disk) until the broker's disk alarm blocked its publishers,
    /// and the next service to start on it never came up. The fixed runbook mirrors the consumers' queues, moves the
    /// consumers first and checks their queues drain; the drill passes both ways.
    @Test func billingLeftOnTheOldBrokerFillsTheNewOneUntilItsAlarmBlocksPublishers() async throws {
        let broker = "notifications_per_host: 2, disk_free_mb: 300, disk_free_limit_mb: 50, message_bytes: 2048"
        let old = try await Self.withConsumer(Self.before, broker: broker) { s in
            Self.withoutKiloCinderRows(&s)
            for (name, host) in s.hosts {
                for (unit, svc) in host.services where svc.component == "keystone" { s.hosts[name]?.services[unit]?.release = "mitaka" }
            }
        }
        let run = try await Self.run(old)
        #expect(run.status == .failed)
        let why = (run.message ?? "") + " " + run.failedHosts.map(\.message).joined(separator: " ")
        #expect(why.contains("timed out publishing to RabbitMQ (connection.blocked by the broker's disk alarm"), "\(run.step ?? ""): \(why)")
        #expect(old.sim.state.brokers["default"]?.alarm?.contains("disk alarm") == true)
        #expect(old.sim.state.brokers["default"]?.queues.first { $0.name == "notifications.info" }.map { $0.messages > 100_000 } == true)

        let fixed = try await Self.withConsumer("kilo-to-queens", broker: broker)
        let before = fixed.sim.state
        let outcome = try await Drill(engine: fixed.engine, model: fixed.sim, times: 1).run()
        let rep = try #require(outcome.repetitions.first)
        #expect(rep.upgrade.status == .succeeded, "\(rep.upgrade.step ?? ""): \(rep.upgrade.message ?? "")")
        #expect(rep.rollback?.status == .rolledBack, "\(rep.rollback?.message ?? "")")
        #expect(rep.differences.isEmpty, "\(rep.differences)")
        #expect(SimRegion.differences(before, fixed.sim.state).isEmpty)

        let again = try await Self.withConsumer("kilo-to-queens", broker: broker)
        let good = try await Self.run(again)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        let b = try #require(again.sim.state.brokers["default"])
        #expect(b.alarm == nil)
        let mirrored = try #require(b.policies.first { $0.name == "notifications-mirrored" })
        #expect(mirrored.pattern == "^(notifications\\.info)$" && mirrored.priority == 2)
        #expect(mirrored.definition["ha-mode"] == "all" && mirrored.definition["ha-sync-mode"] == "automatic"
                && mirrored.definition["queue-mode"] == "lazy", "\(mirrored.definition)")
        #expect(again.sim.state.hosts["tel1"]?.files["/etc/ceilometer/ceilometer.conf"]?.contains("rabbit-new-1") == true)
    }

    /// A notification queue nobody reads, in default mode, holds its messages in RAM: past vm_memory_high_watermark
    /// (0.4 of the node's RAM by default, RabbitMQ 3.6) the memory alarm blocks every publisher, and a service that
    /// publishes there does not come up.
    @Test func anUnreadNotificationQueueInRAMTripsTheMemoryAlarm() async throws {
        let runbook = try writeRunbook("""
            runbook { name = "alarm" }
            step "publish" { on = "computes", run = function(host)
              host:ini("/etc/nova/nova.conf"):set("DEFAULT", "transport_url", "rabbit://nova@rabbit-new-1:5672/")
            end }
            step "wait" { run = function(ctx) sleep("2h") end }
            step "restart" { on = "computes", run = function(host) host:service("openstack-nova-compute"):restart() end }
            """)
        let s = try await Self.withConsumer(runbook, broker: "notifications_per_host: 2, memory_mb: 256, message_bytes: 2048")
        let run = try await Self.run(s)
        let why = run.failedHosts.map(\.message).joined(separator: " ")
        // 20 computes × 2 a second for 2 hours: 288,000 notifications of 2 KB, 562 MB, over 0.4 of 256 MB.
        #expect(why.contains("Job for openstack-nova-compute.service failed: timed out publishing to RabbitMQ (connection.blocked by the "
                             + "broker's memory alarm: queues hold"), "\(run.step ?? ""): \(why)")
        #expect(why.contains("over vm_memory_high_watermark 0.40 of 256 MB RAM"), "\(why)")
        #expect(s.sim.state.hosts["cmp0001"]?.services["openstack-nova-compute"]?.running == false)
    }

    /// simulate.broker: its keys are checked, its numbers read.
    @Test func simulatedBrokerSettingsAreChecked() throws {
        let c = try SimConfig(["broker": ["memory_mb": 512, "vm_memory_high_watermark": 0.5, "notifications_per_host": 1]], file: "r.yaml")
        #expect(c.broker.memoryMB == 512 && c.broker.watermark == 0.5 && c.broker.notificationsPerHost == 1 && c.broker.diskFreeLimitMB == 50)
        do {
            _ = try SimConfig(["broker": ["memry_mb": 512]], file: "r.yaml")
            Issue.record("no error")
        } catch let e as FerryError {
            #expect(e.message.contains("r.yaml: simulate.broker: unknown key 'memry_mb'; known: disk_free_limit_mb"), "\(e.message)")
        }
        #expect(throws: FerryError.self) { try SimConfig(["broker": ["memory_mb": "lots"]], file: "r.yaml") }
    }

    // MARK: 9. Newton's point release

    /// 14.0.0…14.0.3 need --transport-url, before 14.0.7 cell0 is named after the API database: the preflight reads the
    /// Newton tools' version and stops before anything changes (openstack/nova@14.0.3, @14.0.7 nova/cmd/manage.py).
    @Test func anOldNewtonPointReleaseStopsThePreflight() async throws {
        #expect(NovaKnowledge.newtonCellSetupMinimum == "14.0.7")
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["nova"]?.flags["tools_version:newton"] = "14.0.3"
        }
        let run = try await Self.run(s)
        #expect(run.status == .failed)
        #expect(run.step == "preflight", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.message?.contains("Newton's nova-manage on tools1 is 14.0.3, older than 14.0.7") == true, "\(run.message ?? "")")
        // 14.0.10 is newer than 14.0.7 (numbers, not text).
        let later = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) {
            $0.databases["nova"]?.flags["tools_version:newton"] = "14.0.10"
        }
        let fine = try await Self.run(later)
        #expect(fine.status == .succeeded, "\(fine.step ?? ""): \(fine.message ?? "")")
    }

    /// The busy-volume preflight names every transitional status a running operation holds a volume in.
    @Test func busyVolumesCoverEveryTransitionalStatus() {
        let source = CinderPlugin.luaSource
        for status in ["attaching", "creating", "deleting", "detaching", "migrating", "uploading", "downloading", "backing-up",
                       "restoring-backup", "extending", "retyping"] {
            #expect(source.contains("'\(status)'"), "\(status)")
        }
    }
}

/// Whether the Lua pattern `pattern` (only `%d+` classes and captures) matches somewhere in `text`.
func luaPattern(_ pattern: String, matches text: String) -> Bool {
    let regex = pattern.replacingOccurrences(of: "%d", with: "[0-9]")
    return text.range(of: regex, options: .regularExpression) != nil
}
