import FerryCore
import FerryTestSupport
import Foundation
import LuaBridge
import Testing

/// Steps run once per wave (`per = "wave"`) and `ansible.playbook`, against the real
/// ansible-playbook of this machine (scripts/setup installs ansible-core) on an inventory
/// whose hosts are reached with `ansible_connection=local`.
@Suite struct PlaybookStepTests {
    /// cmp001…cmp010 of the fixture's region, each run locally by Ansible.
    static let inventory = (1...10).map { String(format: "cmp%03d ansible_connection=local ansible_python_interpreter=/usr/bin/python3", $0) }
        .joined(separator: "\n") + "\n"

    static let playbook = """
        - hosts: all
          gather_facts: false
          tasks:
            - name: record the host
              shell: echo "{{ inventory_hostname }} {{ word }}" >> "{{ out }}/ran"
            - name: refuse cmp006
              fail:
                msg: "cmp006 is not ready"
              when: inventory_hostname == 'cmp006'
        """

    static var ansible: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/ansible-playbook") }

    @Test func aWaveStepRunsOncePerWaveAndJournalsEachHostAsItSays() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "waves" }
            step "upgrade" {
              on = "computes", batch = 4, per = "wave", max_fail = 1,
              run = function(hosts, ctx)
                local names = {}
                for i, h in ipairs(hosts) do names[i] = h.name; h.state.seen = "yes-" .. h.name end
                inventory.host("ctl1"):run("echo run " .. table.concat(names, ",") .. " >> " .. ctx.vars.out .. "/waves")
                for _, h in ipairs(hosts) do if h.name == "cmp006" then return { cmp006 = "cmp006 refused" } end end
              end,
              undo = function(hosts, ctx)
                local names = {}
                for i, h in ipairs(hosts) do names[i] = h.name .. "=" .. tostring(h.state.seen) end
                inventory.host("ctl1"):run("echo undo " .. table.concat(names, ",") .. " >> " .. ctx.vars.out .. "/waves")
              end,
            }
            """)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded)
        #expect(f.lines("waves") == ["run cmp001,cmp002,cmp003,cmp004", "run cmp005,cmp006,cmp007,cmp008", "run cmp009,cmp010"])
        let hosts = try await engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        #expect(hosts.count == 10)
        #expect(hosts.filter { $0.status == .failed }.map(\.host) == ["cmp006"])
        #expect(hosts.first { $0.host == "cmp006" }?.message == "cmp006 refused")
        #expect(hosts.sorted { $0.host < $1.host }.compactMap(\.wave) == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3])

        // Undo runs once per wave too, with the hosts the run touched and the state each kept.
        let rolled = try await engine.rollback(outcome.runID, yes: true)
        #expect(rolled.status == .rolledBack)
        let undo = f.lines("waves").filter { $0.hasPrefix("undo ") }
        let undone = undo.flatMap { $0.dropFirst(5).split(separator: ",").map(String.init) }.sorted()
        #expect(undone.count == 10)
        #expect(undone.contains("cmp001=yes-cmp001"))
        #expect(undone.contains("cmp010=yes-cmp010"))
    }

    @Test func aRaisingWaveFailsEveryHostOfItAndResumeRunsOnlyThose() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "raise" }
            step "upgrade" {
              on = "computes", batch = 5, per = "wave",
              run = function(hosts, ctx)
                local names = {}
                for i, h in ipairs(hosts) do names[i] = h.name end
                inventory.host("ctl1"):run("echo " .. table.concat(names, ",") .. " >> " .. ctx.vars.out .. "/waves")
                if hosts[1].name == "cmp006" and not ctx.vars.fixed then
                  local r = inventory.host("ctl1"):run("test -e " .. ctx.vars.out .. "/fixed", { check = false })
                  if r.code ~= 0 then fail("the second wave's playbook broke") end
                end
              end,
            }
            """)
        let engine = try await f.engine()
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .failed)
        let hosts = try await engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        let failed = hosts.filter { $0.status == .failed }.map(\.host).sorted()
        #expect(failed == ["cmp006", "cmp007", "cmp008", "cmp009", "cmp010"])
        #expect(hosts.first { $0.host == "cmp008" }?.message?.contains("the second wave's playbook broke") == true)
        FileManager.default.createFile(atPath: f.out + "/fixed", contents: nil)
        let resumed = try await engine.resume(outcome.runID, yes: true)
        #expect(resumed.status == .succeeded)
        #expect(f.lines("waves") == ["cmp001,cmp002,cmp003,cmp004,cmp005", "cmp006,cmp007,cmp008,cmp009,cmp010",
                                     "cmp006,cmp007,cmp008,cmp009,cmp010"])
    }

    @Test func waveStepMistakesAreNamedAtTheirLine() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "bad" }
            step "a" { per = "wave", run = function(ctx) end }
            step "b" { on = "computes", per = "wave", retries = 2, run = function(hosts, ctx) end }
            step "c" { on = "computes", per = "waves", run = function(hosts, ctx) end }
            step "d" { on = "computes", per = "wave", run = function(hosts, ctx) return { "cmp999" } end }
            """)
        var problems: [String] = []
        do { _ = try await f.load() } catch let e as ValidationErrors { problems = e.problems } catch { problems = ["\(error)"] }
        #expect(problems.contains { $0.contains("runbook.lua:2: step \"a\": per = \"wave\" needs on = ...") })
        #expect(problems.contains { $0.contains("runbook.lua:3: step \"b\": retries apply to one host") })
        #expect(problems.contains { $0.contains("runbook.lua:4: step \"c\": per must be \"host\"") })
        #expect(problems.count == 3, "\(problems)")
    }

    @Test func aWaveCannotBlameAHostOutsideIt() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "blame" }
            step "d" { on = "cmp001", per = "wave", run = function(hosts, ctx) return { "cmp999" } end }
            """)
        let outcome = try await f.engine().run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.failedHosts.first?.message.contains("says cmp999 failed, which is not a host of this wave (cmp001)") == true)
    }

    @Test(.enabled(if: PlaybookStepTests.ansible, "ansible-playbook is not installed (scripts/setup installs ansible-core)"))
    func aPlaybookPerWaveNamesTheFailedHostAndTaskAndKeepsExtraVarsOffTheCommandLine() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "playbook" }
            step "upgrade" {
              on = "computes", batch = 4, per = "wave", max_fail = 1,
              run = function(hosts, ctx)
                local r = ansible.playbook {
                  playbook = "site.yml", inventory = "inventory.ini", limit = hosts, fail = false,
                  extra_vars = { word = "s3cr3t-word", out = ctx.vars.out },
                }
                ctx.state.commands = ctx.state.commands or {}
                table.insert(ctx.state.commands, r.command)
                ctx.state.events = r.events
                ctx.state.tasks = r.tasks
                ctx.state["hosts_" .. hosts[1].name] = r.hosts[hosts[1].name].changed
                return r.failed
              end,
            }
            """, extraFiles: ["rb/site.yml": Self.playbook, "rb/inventory.ini": Self.inventory])
        let recorder = Recorder()
        let engine = try await f.engine(observer: recorder)
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded)
        let ran = f.lines("ran").sorted()
        #expect(ran == (1...10).map { String(format: "cmp%03d s3cr3t-word", $0) })
        let hosts = try await engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        #expect(hosts.filter { $0.status == .failed }.map(\.host) == ["cmp006"])
        #expect(hosts.first { $0.host == "cmp006" }?.message == "task 'refuse cmp006': cmp006 is not ready")
        let state = try await engine.journal.run(outcome.runID).state
        let commands = (state["commands"].arrayValue ?? []).compactMap(\.stringValue)
        #expect(commands.count == 3)
        #expect(commands.first?.hasPrefix("ansible-playbook site.yml -i inventory.ini --limit cmp001,cmp002,cmp003,cmp004 --extra-vars @") == true)
        #expect(!commands.contains { $0.contains("s3cr3t") })
        #expect(!recorder.logs.contains { $0.contains("s3cr3t") })
        #expect(recorder.logs.contains { $0 == "cmp006: task 'refuse cmp006': cmp006 is not ready" })
        #expect(state["tasks"] == 2)
        #expect(state["hosts_cmp001"] == 1)
        // The event stream is kept beside the step's output, private; the extra vars file is gone.
        let events = try #require(state["events"].stringValue)
        let stream = try String(contentsOfFile: events, encoding: .utf8)
        #expect(stream.contains("\"event\": \"stats\""))
        let mode = try FileManager.default.attributesOfItem(atPath: events)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let folder = (events as NSString).deletingLastPathComponent
        let left = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(!left.contains { $0.contains("extra-vars") })
    }

    @Test(.enabled(if: PlaybookStepTests.ansible, "ansible-playbook is not installed (scripts/setup installs ansible-core)"))
    func aFailingPlaybookRaisesNamingHostAndTaskAndBadSpecsAreRefused() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "raise" }
            step "one" { run = function(ctx)
              ansible.playbook { playbook = "site.yml", inventory = "inventory.ini", limit = { "cmp005", "cmp006" },
                                 extra_vars = { word = "w", out = ctx.vars.out } }
            end }
            """, extraFiles: ["rb/site.yml": Self.playbook, "rb/inventory.ini": Self.inventory])
        let outcome = try await f.engine().run(RunOptions())
        #expect(outcome.status == .failed)
        let message = try #require(outcome.message)
        #expect(message.contains("1 host(s) failed: cmp006: task 'refuse cmp006': cmp006 is not ready"), "\(message)")
        #expect(f.lines("ran").sorted() == ["cmp005 w", "cmp006 w"])

        // A host of --limit the inventory does not have ran nothing: that is a failure, not a success.
        let missing = try Fixture(runbook: """
            runbook { name = "missing" }
            step "one" { run = function(ctx)
              local r = ansible.playbook { playbook = "site.yml", inventory = "inventory.ini", limit = { "cmp001", "ctl1" },
                                           extra_vars = { word = "w", out = ctx.vars.out }, fail = false }
              ctx.state.ok, ctx.state.why = r.ok, r.failed.ctl1
            end }
            """, extraFiles: ["rb/site.yml": Self.playbook, "rb/inventory.ini": Self.inventory])
        let m = try await missing.engine().run(RunOptions())
        let state = try await (try missing.journal()).run(m.runID).state
        #expect(state["ok"] == false)
        #expect(state["why"].stringValue?.contains("ran no task") == true)

        for (spec, expected) in [
            ("{ playbook = 'site.yml', limt = 'cmp001' }", "ansible.playbook: unknown field 'limt' (did you mean 'limit'?)"),
            ("{ command = { 'rm', '-rf', '/tmp/x' } }", "command runs rm, which is none of ansible-playbook, kolla-ansible, openstack-ansible"),
            ("{ playbook = 'nowhere.yml', inventory = 'inventory.ini' }", "could not be found"),
            ("{ playbook = 'site.yml', env = { ANSIBLE_STDOUT_CALLBACK = 'default' } }", "ANSIBLE_STDOUT_CALLBACK is Ferry's"),
            ("{ playbook = 'site.yml', limit = {} }", "limit is an empty list"),
        ] {
            let bad = try Fixture(runbook: """
                runbook { name = "bad" }
                step "one" { run = function(ctx) ansible.playbook \(spec) end }
                """, extraFiles: ["rb/site.yml": Self.playbook, "rb/inventory.ini": Self.inventory])
            let o = try await bad.engine().run(RunOptions())
            #expect(o.status == .failed)
            #expect(o.message?.contains(expected) == true, "\(spec): \(o.message ?? "")")
        }
    }
}
