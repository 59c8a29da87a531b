import FerryCore
import FerrySimulation
@testable import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// Issue 12 item 5: computes switch code but keep Kilo's config. Queens nova-compute raises PlacementNotConfigured
/// without [placement] os_region_name (openstack/nova@17.0.0 nova/compute/manager.py init_host), Kilo's [neutron]
/// admin_* options are gone (@15.0.0 nova/conf/neutron.py), and its libvirt driver refuses libvirt < 1.2.9 or
/// QEMU < 2.1.0 (@17.0.0 nova/virt/libvirt/driver.py MIN_LIBVIRT_VERSION, MIN_QEMU_VERSION).
@Suite struct LibraryIssue12ComputeTests {
    static let conf = "/etc/nova/nova.conf"

    /// What the old runbook needs to get to the computes: a Keystone that substitutes project_id (its endpoints)
    /// and no Kilo Cinder rows (Queens Cinder starts): items 1 and 2, fixed elsewhere.
    static func pastItemsOneAndTwo(_ s: inout SimState) {
        LibraryIssue12Tests.withoutKiloCinderRows(&s)
        for (name, host) in s.hosts {
            for (unit, svc) in host.services where svc.component == "keystone" { s.hosts[name]?.services[unit]?.release = "mitaka" }
        }
    }

    /// Kilo computes' nova.conf: the [neutron] credentials in Kilo's form.
    static func kiloComputeConf(_ s: inout SimState) {
        for h in Sim.hosts(s, in: "computes") {
            s.hosts[h]?.files[conf] = "[neutron]\nurl = http://neutron.sim:9696\nadmin_username = neutron\nadmin_password = kilo-secret\n"
                + "admin_tenant_name = service\nadmin_auth_url = http://keystone.sim:35357/v2.0\n"
        }
    }

    /// The model: the release ranges and minimums, and `virsh version`.
    @Test func queensComputeRefusesWithoutPlacementAndOnOldHypervisors() async throws {
        #expect(NovaKnowledge.requiresPlacementSection("ocata") && NovaKnowledge.requiresPlacementSection("queens"))
        #expect(!NovaKnowledge.requiresPlacementSection("newton") && !NovaKnowledge.requiresPlacementSection("rocky"))
        #expect(NovaKnowledge.hypervisorMinimum["queens"]?.libvirt == "1.2.9" && NovaKnowledge.hypervisorMinimum["queens"]?.qemu == "2.1.0")
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        var state = s.sim.state
        let host = try #require(Sim.hosts(state, in: "computes").first)
        let unit = "openstack-nova-compute"
        #expect(NovaSimulation.computeRefusal(unit: unit, host: host, release: "kilo", state: state) == nil)
        #expect(NovaSimulation.computeRefusal(unit: unit, host: host, release: "queens", state: state)?
            .contains("PlacementNotConfigured: This compute is not configured to talk to the placement service") == true)
        state.hosts[host]?.files[Self.conf] = "[placement]\nos_region_name = RegionOne\n"
        #expect(NovaSimulation.computeRefusal(unit: unit, host: host, release: "queens", state: state) == nil)
        state.databases["nova"]?.flags["libvirt_version:\(host)"] = "1.2.8"
        #expect(NovaSimulation.computeRefusal(unit: unit, host: host, release: "queens", state: state)?
            .contains("Nova requires libvirt version 1.2.9 or greater.") == true)
        #expect(NovaSimulation.computeRefusal(unit: unit, host: host, release: "ocata", state: state) == nil)   // 1.2.1 there
        state.databases["nova"]?.flags["libvirt_version:\(host)"] = "1.2.10"
        state.databases["nova"]?.flags["qemu_version:\(host)"] = "2.0.0"
        #expect(NovaSimulation.computeRefusal(unit: unit, host: host, release: "queens", state: state)?
            .contains("Nova requires QEMU version 2.1.0 or greater.") == true)
        #expect(NovaSimulation.older("1.2.10", than: "1.2.9") == false && NovaSimulation.older("1.2.8", than: "1.2.9"))
    }

    /// The old runbook switched the computes' code and the broker only: every Queens nova-compute of its first wave
    /// refuses to start. The fixed runbook ships the new controllers' [placement] and [neutron] and removes Kilo's
    /// admin_*, which its rollback puts back.
    @Test func oldRunbookComputesRefuseAndTheFixedOneShipsTheQueensConfig() async throws {
        let old = try await LibraryTests.make(runbook: LibraryIssue12Tests.before, release: "kilo", target: "queens", computes: 20) {
            Self.pastItemsOneAndTwo(&$0)
            Self.kiloComputeConf(&$0)
        }
        let run = try await LibraryIssue12Tests.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "switch-nova-compute", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.failedHosts.count == 2, "\(run.failedHosts.count)")   // the first wave, 10 % of 20
        #expect(run.failedHosts.first?.message.contains("Job for openstack-nova-compute.service failed: PlacementNotConfigured") == true,
                "\(run.failedHosts.first?.message ?? "")")

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20,
                                                adjust: Self.kiloComputeConf)
        let before = fixed.sim.state
        let good = try await LibraryIssue12Tests.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        for h in Sim.hosts(fixed.sim.state, in: "computes") {
            let ini = IniDocument(fixed.sim.state.hosts[h]?.files[Self.conf] ?? "")
            #expect(ini.get("placement", "os_region_name") == "RegionOne" && ini.get("placement", "auth_type") == "password", "\(h)")
            #expect(ini.get("neutron", "auth_type") == "password" && ini.get("neutron", "username") == "neutron", "\(h)")
            #expect(ini.get("neutron", "admin_username") == nil && ini.get("neutron", "admin_password") == nil, "\(h)")
            #expect(fixed.sim.state.hosts[h]?.services["openstack-nova-compute"]?.release == "queens")
        }
        let back = try await fixed.engine.rollback(good.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        // The same entries as before (undo leaves emptied section headers behind).
        for h in Sim.hosts(fixed.sim.state, in: "computes") {
            let now = IniDocument(fixed.sim.state.hosts[h]?.files[Self.conf] ?? ""), was = IniDocument(before.hosts[h]?.files[Self.conf] ?? "")
            for (section, key) in [("neutron", "admin_username"), ("neutron", "admin_password"), ("neutron", "admin_tenant_name"),
                                   ("neutron", "admin_auth_url"), ("neutron", "url"), ("neutron", "auth_type"), ("neutron", "password"),
                                   ("placement", "os_region_name"), ("placement", "password"), ("DEFAULT", "transport_url")] {
                #expect(now.get(section, key) == was.get(section, key), "\(h) [\(section)] \(key)")
            }
        }
    }

    /// A compute with libvirt 1.2.8: the old runbook's Queens nova-compute refuses on it mid-window; the fixed one's
    /// preflight names it before anything changes.
    @Test func anOldLibvirtStopsThePreflightNotTheWindow() async throws {
        func oldLibvirt(_ s: inout SimState) {
            let h = Sim.hosts(s, in: "computes")[0]
            s.databases["nova"]?.flags["libvirt_version:\(h)"] = "1.2.8"
        }
        let old = try await LibraryTests.make(runbook: LibraryIssue12Tests.before, release: "kilo", target: "queens", computes: 20) {
            Self.pastItemsOneAndTwo(&$0)
            for h in Sim.hosts($0, in: "computes") { $0.hosts[h]?.files[Self.conf] = "[placement]\nos_region_name = RegionOne\n" }
            oldLibvirt(&$0)
        }
        let host = try #require(Sim.hosts(old.sim.state, in: "computes").first)
        let run = try await LibraryIssue12Tests.run(old)
        #expect(run.status == .failed)
        #expect(run.step == "switch-nova-compute", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.failedHosts.map(\.host) == [host])
        #expect(run.failedHosts.first?.message.contains("InternalError: Nova requires libvirt version 1.2.9 or greater. (libvirt 1.2.8") == true,
                "\(run.failedHosts.first?.message ?? "")")

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20, adjust: oldLibvirt)
        let stopped = try await LibraryIssue12Tests.run(fixed)
        #expect(stopped.status == .failed)
        #expect(stopped.step == "preflight", "\(stopped.step ?? ""): \(stopped.message ?? "")")
        #expect(stopped.message?.contains("libvirt 1.2.8 is older than 1.2.9, which queens's nova-compute requires") == true,
                "\(stopped.message ?? "")")
        #expect(fixed.sim.state.databases["glance"]?.schema["main"] == "kilo")
    }

    /// The canary wave: with QEMU too old everywhere and the preflight skipped, the first two computes fail and the
    /// rest are never touched.
    @Test func theCanaryWaveStopsTheComputesAfterTwoHosts() async throws {
        let s = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20) { st in
            for h in Sim.hosts(st, in: "computes") { st.databases["nova"]?.flags["qemu_version:\(h)"] = "2.0.0" }
        }
        let run = try await LibraryIssue12Tests.run(s, skipTags: ["preflight"])
        #expect(run.status == .failed)
        #expect(run.step == "switch-nova-compute-canary", "\(run.step ?? ""): \(run.message ?? "")")
        #expect(run.failedHosts.count == 2)
        #expect(run.failedHosts.first?.message.contains("Nova requires QEMU version 2.1.0 or greater.") == true)
        let computes = Sim.hosts(s.sim.state, in: "computes")
        let touched = computes.filter { s.sim.state.hosts[$0]?.code["nova"] != "kilo" }
        #expect(touched.count <= 2, "\(touched)")
    }
}

/// Issue 12 item 10: archive_deleted_rows before the schema walk; the metadata API's VIP (8775) moves with Nova's.
@Suite struct LibraryIssue12MetadataTests {
    /// The old runbook dumps and walks every soft-deleted instance row; the fixed one archives them first with Kilo's
    /// nova-manage (which needs --max_rows: without it Kilo's DB API raises TypeError, openstack/nova@2015.1.0
    /// nova/db/sqlalchemy/api.py archive_deleted_rows), in batches until none is left.
    @Test func deletedRowsAreArchivedBeforeTheWalk() async throws {
        let old = try await LibraryTests.make(runbook: LibraryIssue12Tests.before, release: "kilo", target: "queens", computes: 20,
                                              adjust: LibraryIssue12ComputeTests.pastItemsOneAndTwo)
        #expect(old.sim.state.databases["nova"]?.counters["deleted_instances"] == 400)
        _ = try await LibraryIssue12Tests.run(old)
        #expect(old.sim.state.databases["nova"]?.schema["main"] == "queens")
        #expect(old.sim.state.databases["nova"]?.counters["deleted_instances"] == 400)

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let good = try await LibraryIssue12Tests.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        #expect(fixed.sim.state.databases["nova"]?.counters["deleted_instances"] == 0)
    }

    /// Kilo's archive without --max_rows fails as Kilo does; with it, the batch moves the rows and prints nothing.
    @Test func kiloArchiveNeedsMaxRows() {
        var sim = SimSandbox(release: "kilo")
        let total = sim.state.databases["nova"]?.counters["deleted_instances"] ?? 0
        #expect(total > 150)
        let bare = sim.run("nova-manage db archive_deleted_rows", tool: "kilo")
        #expect(bare.exitCode == 1 && bare.stderr.contains("TypeError: unsupported operand type(s) for -: 'NoneType' and 'int'"), "\(bare)")
        let batch = sim.run("nova-manage db archive_deleted_rows --max_rows 150", tool: "kilo")
        #expect(batch.exitCode == 0 && batch.stdout.isEmpty, "\(batch)")
        #expect(sim.state.databases["nova"]?.counters["deleted_instances"] == total - 150)
    }

    /// The hosts that would answer behind a VIP: ready, with a running nova service.
    static func serving(_ state: SimState, vip: String) -> [String] {
        (state.vips[vip]?.servers ?? [:]).filter { $0.value == "ready" }.keys.sorted().filter { server in
            state.hosts[server]?.services.values.contains { $0.component == "nova" && $0.running } ?? false
        }
    }

    /// The old runbook, on a region where its other defects are out of the way (items 1, 2, 5 and 6), completes and
    /// leaves the metadata VIP on the stopped Kilo controllers: nothing answers instances' metadata requests. The
    /// fixed runbook switches it to the Queens controllers after Nova's, and its check reads it.
    @Test func theMetadataVIPFollowsNovas() async throws {
        let old = try await LibraryTests.make(runbook: LibraryIssue12Tests.before, release: "kilo", target: "queens", computes: 20) { s in
            LibraryIssue12NeutronTests.pastItemsOneTwoAndFive(&s)
            for h in Sim.hosts(s, in: "neutron_new") {
                s.hosts[h]?.files["/etc/neutron/neutron.conf"] = "[DEFAULT]\nallow_automatic_dhcp_failover = False\n"
            }
        }
        #expect(Self.serving(old.sim.state, vip: "metadata") == Sim.hosts(old.sim.state, in: "nova_old"))
        let run = try await LibraryIssue12Tests.run(old)
        #expect(run.status == .succeeded, "\(run.step ?? ""): \(run.message ?? "")")
        #expect(Self.serving(old.sim.state, vip: "nova") == Sim.hosts(old.sim.state, in: "nova_new"))
        #expect(Self.serving(old.sim.state, vip: "metadata").isEmpty)

        let fixed = try await LibraryTests.make(runbook: "kilo-to-queens", release: "kilo", target: "queens", computes: 20)
        let good = try await LibraryIssue12Tests.run(fixed)
        #expect(good.status == .succeeded, "\(good.step ?? ""): \(good.message ?? "")")
        #expect(Self.serving(fixed.sim.state, vip: "metadata") == Sim.hosts(fixed.sim.state, in: "nova_new"))
        let back = try await fixed.engine.rollback(good.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(Self.serving(fixed.sim.state, vip: "metadata") == Sim.hosts(fixed.sim.state, in: "nova_old"))
    }
}
