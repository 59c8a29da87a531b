import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// The lab's sshd hosts (scripts/testenv/up hosts) reached only through an Ansible
/// inventory's connection variables: `ansible_ssh_host`, `ansible_ssh_port`,
/// `ansible_ssh_user` and `ansible_private_key_file`; the region's `ssh:` names none of them.
@Suite(.serialized) struct AnsibleInventoryLabTests {
    @Test(arguments: ["nio", "openssh"]) func labHostsThroughAnsibleSSHVariables(transport: String) async throws {
        let hosts = try TestEnvironment.addresses(2)
        let port = try TestEnvironment.region().ssh.port
        let directory = try TestEnvironment.directory()
        let key = TestEnvironment.ssh + "/id_ed25519"
        // The second host's port is wrong on purpose: it proves the variable is the one used.
        try """
            [lab]
            ansible-a ansible_ssh_host=\(hosts[0].address) ansible_ssh_port=\(port) ansible_ssh_user=root ansible_private_key_file=\(key)
            ansible-b ansible_ssh_host=\(hosts[1].address) ansible_ssh_port=1 ansible_ssh_user=root ansible_private_key_file=\(key)

            [lab:vars]
            ansible_become=true
            """.write(toFile: directory + "/inventory", atomically: true, encoding: .utf8)
        try """
            region: ansible-lab
            inventory: { ansible: inventory }
            ssh:
              known_hosts: \(TestEnvironment.ssh)/known_hosts
              record_known_hosts: \(directory)/ferry_known_hosts
              transport: \(transport)
              connect_timeout: 20s
            """.write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        try """
            runbook { name = "ansible-lab" }
            step "who" { on = "lab", run = function(host, ctx)
              host.state.who = host:run("id -un").stdout
            end }
            """.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: directory + "/region.yaml")
        #expect(region.hosts["ansible-a"]?.port == port)
        #expect(region.hosts["ansible-a"]?.identity == key)
        let engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"), region: region,
                            transport: try Transports.make(for: region, keyDirectory: directory),
                            journal: try RunJournal(path: directory + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.failedHosts.map(\.host) == ["ansible-b"], "\(outcome.failedHosts)")
        let ok = try await engine.journal.hosts(outcome.runID, step: 0, phase: .run).first { $0.host == "ansible-a" }
        // Through sudo -n (ansible_become) as root over the key the inventory names.
        #expect(ok?.hostState?["who"] == "root\n")
        await engine.transport.shutdown()
    }
}
