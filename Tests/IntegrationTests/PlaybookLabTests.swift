import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// `ansible.playbook` driving the lab's sshd hosts (scripts/testenv/up hosts) over SSH, one
/// wave at a time, with the inventory's connection variables: a failing task and an
/// unreachable host are each named on their host, the others are done.
@Suite(.serialized) struct PlaybookLabTests {
    @Test func aPlaybookPerWaveOverSSHNamesTheFailedTaskAndTheUnreachableHost() async throws {
        let hosts = try TestEnvironment.addresses(3)
        let port = try TestEnvironment.region().ssh.port
        let directory = try TestEnvironment.directory()
        let key = TestEnvironment.ssh + "/id_ed25519"
        let common = "-o UserKnownHostsFile=\(TestEnvironment.ssh)/known_hosts -o StrictHostKeyChecking=yes"
        // lab-c's port is wrong on purpose: Ansible cannot reach it.
        try """
            [lab]
            lab-a ansible_ssh_host=\(hosts[0].address) ansible_ssh_port=\(port)
            lab-b ansible_ssh_host=\(hosts[1].address) ansible_ssh_port=\(port)
            lab-c ansible_ssh_host=\(hosts[2].address) ansible_ssh_port=1

            [lab:vars]
            ansible_ssh_user=root
            ansible_private_key_file=\(key)
            ansible_ssh_common_args='\(common)'
            ansible_python_interpreter=/usr/bin/python3
            """.write(toFile: directory + "/inventory", atomically: true, encoding: .utf8)
        try """
            - hosts: lab
              gather_facts: false
              tasks:
                - name: who
                  command: id -un
                  register: who
                - name: refuse lab-b
                  fail:
                    msg: "lab-b refused ({{ who.stdout }})"
                  when: inventory_hostname == 'lab-b'
            """.write(toFile: directory + "/site.yml", atomically: true, encoding: .utf8)
        try """
            region: playbook-lab
            inventory: { ansible: inventory }
            ssh:
              known_hosts: \(TestEnvironment.ssh)/known_hosts
              transport: openssh
            """.write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        try """
            runbook { name = "playbook-lab" }
            step "upgrade" {
              on = "lab", batch = 2, per = "wave", max_fail = 2,
              run = function(hosts, ctx)
                local r = ansible.playbook { playbook = "site.yml", inventory = "inventory", limit = hosts, fail = false,
                                             timeout = "10m" }
                ctx.state["changed_" .. hosts[1].name] = r.hosts[hosts[1].name] and r.hosts[hosts[1].name].changed
                return r.failed
              end,
            }
            """.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: directory + "/region.yaml")
        let engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"), region: region,
                            transport: try Transports.make(for: region, keyDirectory: directory),
                            journal: try RunJournal(path: directory + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let journaled = try await engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        let byHost = Dictionary(journaled.map { ($0.host, $0) }, uniquingKeysWith: { $1 })
        #expect(byHost["lab-a"]?.status == .ok)
        #expect(byHost["lab-a"]?.wave == 1)
        #expect(byHost["lab-b"]?.status == .failed)
        #expect(byHost["lab-b"]?.message == "task 'refuse lab-b': lab-b refused (root)")
        #expect(byHost["lab-c"]?.status == .failed)
        #expect(byHost["lab-c"]?.wave == 2)
        #expect(byHost["lab-c"]?.message?.hasPrefix("unreachable (task 'who'): ") == true, "\(byHost["lab-c"]?.message ?? "")")
        let state = try await engine.journal.run(outcome.runID).state
        #expect(state["changed_lab-a"] == 1)
        await engine.transport.shutdown()
    }
}
