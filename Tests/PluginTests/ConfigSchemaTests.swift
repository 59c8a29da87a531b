import FerryCore
import FerrySimulation
@testable import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// Issue 12, "a strict simulation": a unit's configuration judged against its release's schema
/// (Sources/Plugins/<Component>/Schemas, scripts/knowledge/config-schema.py; docs/simulation.md
/// "Config files are judged").
@Suite struct ConfigSchemaTests {
    /// A runbook that edits nova.conf on the new controllers (code at Queens) and starts their nova-api.
    static func editAndStart(_ edits: [(String, String, String)]) throws -> String {
        let sets = edits.map { "host:ini(\"/etc/nova/nova.conf\"):set(\"\($0.0)\", \"\($0.1)\", \"\($0.2)\")" }.joined(separator: "\n      ")
        return try writeRunbook("""
            runbook { name = "config" }
            step "edit-and-start" {
              on = "nova_new",
              run = function(host)
                \(sets)
                host:run("systemctl restart openstack-nova-api")
              end,
            }
            """)
    }

    static func run(_ edits: [(String, String, String)]) async throws -> (LibraryTests.Sim, RunOutcome, [EventRecord]) {
        let s = try await LibraryTests.make(runbook: try Self.editAndStart(edits), release: "kilo", target: "queens", computes: 4)
        let outcome = try await s.engine.run(RunOptions())
        let events = try await s.engine.journal.events(outcome.runID).filter { $0.kind == "unjudged" }
        return (s, outcome, events)
    }

    @Test func aTypoedOptionFailsTheUnitStartSayingWhatItMeant() async throws {
        let (s, outcome, _) = try await Self.run([("placement", "auth_ur", "http://keystone.sim:5000/v3")])
        #expect(outcome.status == .failed)
        #expect(outcome.failedHosts.count == 3)   // every new controller
        let message = outcome.failedHosts.first?.message ?? ""
        #expect(message.contains("Job for openstack-nova-api.service failed: /etc/nova/nova.conf: [placement] auth_ur is not an option of nova queens"), "\(message)")
        #expect(message.contains("did you mean auth_url?"), "\(message)")
        #expect(message.contains("nova 17.0.13's oslo.config.opts (Schemas/nova-queens.txt)"), "\(message)")
        // The unit stays stopped.
        let host = try #require(Sim.hosts(s.sim.state, in: "nova_new").first)
        #expect(s.sim.state.hosts[host]?.services["openstack-nova-api"]?.running == false)

        let (_, transport, _) = try await Self.run([("DEFAULT", "transport_ur", "rabbit://x")])
        #expect(transport.status == .failed)
        #expect(transport.failedHosts.first?.message.contains("[DEFAULT] transport_ur is not an option of nova queens") == true, "\(transport.failedHosts.first?.message ?? "")")
        #expect(transport.failedHosts.first?.message.contains("did you mean transport_url?") == true, "\(transport.failedHosts.first?.message ?? "")")
        // A misspelt section.
        let (_, section, _) = try await Self.run([("placment", "auth_url", "http://keystone.sim:5000/v3")])
        #expect(section.status == .failed)
        #expect(section.failedHosts.first?.message.contains("[placment] is not a section of nova queens") == true, "\(section.failedHosts.first?.message ?? "")")
        #expect(section.failedHosts.first?.message.contains("did you mean [placement]?") == true, "\(section.failedHosts.first?.message ?? "")")
    }

    @Test func anOptionAnotherReleaseHadIsRecordedNotFailed() async throws {
        // Ocata's [DEFAULT] verbose (gone by Queens) and Kilo's [neutron] admin_username (NovaKnowledge.config.older).
        let (_, outcome, events) = try await Self.run([("DEFAULT", "verbose", "True"), ("neutron", "admin_username", "neutron"),
                                                        ("DEFAULT", "network_api_class", "nova.network.neutronv2.api.API"),
                                                        ("DEFAULT", "transport_url", "rabbit://nova@rabbit-new-1:5672/")])
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let verbose = events.filter { $0.message.contains("/etc/nova/nova.conf [DEFAULT] verbose") }
        #expect(verbose.count == 1, "\(events.map(\.message))")   // two controllers, said once
        #expect(verbose.first?.message.contains("not an option of nova queens (removed by queens: ocata had it)") == true, "\(verbose.first?.message ?? "")")
        let admin = events.filter { $0.message.contains("[neutron] admin_username") }
        #expect(admin.count == 1)
        #expect(admin.first?.message.contains("kilo (openstack/nova@2015.1.0 nova/network/neutronv2/api.py) had it") == true, "\(admin.first?.message ?? "")")
        // Kilo's network_api_class (gone in Newton): no schema has it; the source scan of the releases without one does.
        let api = events.filter { $0.message.contains("[DEFAULT] network_api_class") }
        #expect(api.first?.message.contains("nova's source defines an option named network_api_class at kilo, liberty, mitaka (") == true,
                "\(api.first?.message ?? "")")
        #expect(!events.contains { $0.message.contains("transport_url") })
    }

    @Test func dynamicOptionsAreJudgedAsFarAsTheSchemaKnows() async throws {
        var state = SimState()
        state.hosts["c1"] = SimHost(groups: ["cinder_new"])
        state.hosts["c1"]?.files["/etc/cinder/cinder.conf"] = """
            [DEFAULT]
            enabled_backends = lvm-1, ceph
            [lvm-1]
            volume_backend_name = lvm
            volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
            volume_group = cinder-volumes
            [ceph]
            rbd_pool = volumes
            vendor_tuning = 3
            [keystone_authtoken]
            auth_type = v3applicationcredential
            application_credential_id = abc
            auth_url = http://keystone.sim:5000

            """
        let verdict = CinderKnowledge.config.judge(unit: "openstack-cinder-volume", host: "c1", release: "queens",
                                                   files: CinderKnowledge.configFiles, state: state)
        #expect(verdict.refusal == nil, "\(verdict.refusal ?? "")")
        // [backend_defaults] knows the drivers' options Queens lists (volume_driver, volume_group, rbd_pool); an option
        // no schema has in a backend section may be an out-of-tree driver's: recorded.
        #expect(verdict.unjudged.map(\.text) == ["/etc/cinder/cinder.conf [ceph] vendor_tuning"], "\(verdict.unjudged)")
        #expect(verdict.unjudged.allSatisfy { $0.why.contains("a backend section (enabled_backends)") }, "\(verdict.unjudged)")
        #expect(!verdict.unjudged.contains { $0.text.contains("volume_backend_name") || $0.text.contains("keystone_authtoken") })
        // A section that is no backend and no schema's: a typo of a known one fails, nothing like one is recorded.
        state.hosts["c1"]?.files["/etc/cinder/cinder.conf"] = "[DEFAULT]\nenabled_backends = lvm\n[lvm]\nvolume_driver = x\n[databse]\nconnection = x\n"
        let typo = CinderKnowledge.config.judge(unit: "openstack-cinder-volume", host: "c1", release: "queens", files: CinderKnowledge.configFiles, state: state)
        #expect(typo.refusal?.contains("[databse] is not a section of cinder queens") == true, "\(typo.refusal ?? "")")
        #expect(typo.refusal?.contains("did you mean [database]?") == true)
        // A release without a schema: recorded, not judged.
        let rocky = CinderKnowledge.config.judge(unit: "openstack-cinder-volume", host: "c1", release: "rocky", files: CinderKnowledge.configFiles, state: state)
        #expect(rocky.refusal == nil)
        #expect(rocky.unjudged.first?.why.contains("no config schema of cinder rocky (schemas: ocata, pike, queens)") == true, "\(rocky.unjudged)")
    }

    @Test func aKeystoneauthPluginOptionInPlacementPasses() async throws {
        let (_, outcome, events) = try await Self.run([("placement", "auth_type", "v3applicationcredential"),
                                                        ("placement", "application_credential_secret", "s")])
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        #expect(!events.contains { $0.message.contains("nova.conf") }, "\(events.map(\.message))")
    }

    /// What the library writes passes the schemas: both library runbooks succeed, and the configuration notes they
    /// leave are only those of releases without a schema.
    @Test(arguments: [("kilo-to-queens", "kilo", "queens"), ("queens-to-rocky", "queens", "rocky")])
    func theLibraryRunbooksWriteNoUnknownOption(_ runbook: String, _ from: String, _ to: String) async throws {
        let s = try await LibraryTests.make(runbook: runbook, release: from, target: to, computes: 20)
        let outcome = try await LibraryIssue12Tests.run(s)
        #expect(outcome.status == .succeeded, "\(outcome.step ?? ""): \(outcome.message ?? "")")
        let notes = try await s.engine.journal.events(outcome.runID).filter { $0.kind == "unjudged" }.map(\.message)
            .filter { $0.contains(".conf") || $0.contains(".ini") }
        print("\(runbook) config notes:\n" + notes.joined(separator: "\n"))
        #expect(notes.allSatisfy { $0.contains("no config schema of") }, "\(notes)")
    }

    /// The schema file's format: parsed, looked up, and every @file has sections.
    @Test func aSchemaFileRoundTrips() throws {
        let schema = ConfigSchema(release: "queens", text: String(decoding: PackageResources.nova_queens_txt, as: UTF8.self), file: "nova-queens.txt")
        #expect(schema.source == "nova 17.0.13's oslo.config.opts (Schemas/nova-queens.txt)")
        #expect(schema.kind("nova.conf", "placement", "auth_url") == .option)
        #expect(schema.kind("nova.conf", "placement", "application_credential_id") == .plugin)
        #expect(schema.kind("nova.conf", "DEFAULT", "rabbit_hosts") == .deprecated("oslo_messaging_rabbit/rabbit_hosts"))
        #expect(schema.kind("nova.conf", "placement", "os_region_name") == .removal)
        #expect(schema.kind("nova.conf", "PLACEMENT", "auth_url") == .option)   // oslo.config lower-cases group names
        #expect(schema.kind("nova.conf", "placement", "auth_ur") == nil)
        #expect(schema.kind("neutron.conf", "DEFAULT", "debug") == nil)
        let neutron = ConfigSchema(release: "queens", text: String(decoding: PackageResources.neutron_queens_txt, as: UTF8.self), file: "neutron-queens.txt")
        for file in ["neutron.conf", "ml2_conf.ini", "openvswitch_agent.ini", "dhcp_agent.ini", "l3_agent.ini", "metadata_agent.ini"] {
            #expect(!neutron.sections(file).isEmpty, "\(file)")
        }
        #expect(neutron.kind("openvswitch_agent.ini", "ovs", "bridge_mappings") == .option)
        #expect(neutron.kind("neutron.conf", "DEFAULT", "allow_automatic_dhcp_failover") == .option)
        #expect(ConfigJudge.closest("auth_ur", among: ["auth_url", "auth_type", "username"]) == "auth_url")
        #expect(ConfigJudge.closest("zzzzzz", among: ["auth_url"]) == nil)
    }

    /// The committed schema is what the generator makes in the virtualenv its header names (skipped where that
    /// virtualenv or the upstream mirror is not on this machine).
    static let generator: (venv: String, mirror: String)? = {
        let text = String(decoding: PackageResources.nova_queens_txt, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("# in the virtualenv ~/.cache/ferry/releases/") }),
              let name = line.split(separator: "/").dropFirst(4).first?.split(separator: " ").first
        else { return nil }
        let venv = (ProcessInfo.processInfo.environment["FERRY_CACHE"] ?? NSHomeDirectory() + "/.cache/ferry") + "/releases/" + name
        let mirror = ProcessInfo.processInfo.environment["FERRY_MIRROR"] ?? "/work/.mirror"
        guard FileManager.default.fileExists(atPath: venv + "/bin/python"),
              FileManager.default.fileExists(atPath: mirror + "/openstack+nova/repo") else { return nil }
        return (venv, mirror)
    }()

    @Test(.enabled(if: generator != nil, "the Queens virtualenv named in nova-queens.txt's header or the openstack/nova mirror (FERRY_MIRROR, default /work/.mirror) is not on this machine"))
    func theGeneratorMakesTheCommittedSchema() async throws {
        let g = try #require(Self.generator)
        let out = try await ChildProcess.run(g.venv + "/bin/python", [Repository.root + "/scripts/knowledge/config-schema.py", "--release", "queens",
                                                                       "--project", "nova", "--mirror", g.mirror])
        #expect(out.code == 0, "\(out.stderr)")
        let committed = try String(contentsOfFile: Repository.root + "/Sources/Plugins/Nova/Schemas/nova-queens.txt", encoding: .utf8)
        #expect(out.stdout == committed)
        #expect(out.stdout.contains("\nauth_url\n"))
    }
}
