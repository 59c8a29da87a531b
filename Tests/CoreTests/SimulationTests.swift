import FerryCore
import FerrySimulation
import Foundation
import LuaBridge
import Testing
import FerryTestSupport

/// The simulated region: rollback identity, injected faults, the load model with
/// adaptive waves, drills. Without the component plugins: the repository's sim-agents
/// runbook needs `lib.compute` (plugin modules) and Nova's simulation, so these run its
/// core-only shape, `agents` (CLISimulationTests runs the runbook itself, plugins and all).
struct SimulationTests {
    static let root = Repository.root

    /// The repository's scripts/runbooks/sim-agents before it shipped Queens' [placement]
    /// (a model without Nova's plugin does not refuse a nova-compute without it).
    static let agents = """
        runbook {
          name = "sim-agents",
          from = "kilo", to = "queens",
          description = "Ship the Queens virtualenv to every compute node and switch nova-compute and the OVS agent to it",
        }

        check "neutron-db-load" {
          desc = "the Neutron database is not overloaded (Threads_running below 28)",
          within = "15m", every = "30s",
          probe = function(ctx)
            local threads = tonumber(db.connect("neutron"):status("Threads_running"))
            return threads < 28, "Threads_running " .. threads
          end,
        }

        check "compute-api" {
          desc = "the compute API answers through its VIP",
          within = "2m", every = "10s",
          probe = function(ctx)
            local r = http.get(vip.url("nova") .. "/")
            return r.status == 200, "HTTP " .. r.status
          end,
        }

        step "backup-databases" {
          desc = "Back up the Nova and Neutron databases before anything changes",
          run = function(ctx)
            ctx.state.nova = db.backup("nova")
            ctx.state.neutron = db.backup("neutron")
          end,
          undo = function(ctx)
            db.restore(ctx.state.neutron, { force = true })
            db.restore(ctx.state.nova, { force = true })
          end,
        }

        step "ship-venv" {
          desc = "Unpack the Queens virtualenv beside the running one",
          on = "computes", parallel = 500,
          run = function(host, ctx)
            host:run("tar -xzf " .. ctx.vars.venv_cache .. "/openstack-queens.tgz -C /opt/venvs/queens")
          end,
          undo = function(host, ctx) host:run("rm -rf /opt/venvs/queens") end,
        }

        step "switch-compute" {
          desc = "Point openstack-nova-compute at the Queens code and restart it",
          on = "computes", batch = "25%", parallel = 500, max_fail = "1%",
          run = function(host, ctx)
            host:run("ln -sfn /opt/venvs/queens /opt/openstack/nova && systemctl restart openstack-nova-compute")
          end,
          undo = function(host, ctx)
            host:run("ln -sfn /opt/venvs/kilo /opt/openstack/nova && systemctl restart openstack-nova-compute")
          end,
        }

        step "switch-agents" {
          desc = "Restart the OVS agents on the new code in waves the Neutron database can take",
          on = "computes", batch = 50, adaptive = true, gate = "neutron-db-load", parallel = 1000, max_fail = "1%",
          after = { "compute-api" },
          run = function(host, ctx)
            host:run("ln -sfn /opt/venvs/queens /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent")
          end,
          undo = function(host, ctx)
            host:run("ln -sfn /opt/venvs/kilo /opt/openstack/neutron && systemctl restart neutron-openvswitch-agent")
          end,
        }
        """

    struct Sim {
        let sim: SimRegion
        let engine: Engine
        let directory: String
    }

    /// A simulated region from `simulate` settings, and an engine for `runbook` on it.
    static func make(runbook: String? = nil, simulate: String, computes: Int) async throws -> Sim {
        let dir = NSTemporaryDirectory() + "ferry-sim-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/rb", withIntermediateDirectories: true)
        let rbPath: String
        if let runbook {
            rbPath = dir + "/rb/main.lua"
            try runbook.write(toFile: rbPath, atomically: true, encoding: .utf8)
        } else {
            rbPath = dir + "/rb/main.lua"
            try Self.agents.write(toFile: rbPath, atomically: true, encoding: .utf8)
        }
        try """
            region: simtest
            simulate:
            \(simulate.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            vars: { venv_cache: /var/cache/ferry }
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let sim = try SimRegion(region: try RegionLoader.load(path: dir + "/region.yaml"), computes: computes, components: SimFixture.components, stateDirectory: dir + "/sim")
        let engine = Engine(runbook: try await RunbookLoader.load(path: rbPath), region: sim.region, transport: sim.transport,
                            journal: try RunJournal(path: dir + "/journal.db"), databases: sim.databaseDriver, clock: sim.clock,
                            drivers: sim.drivers)
        return Sim(sim: sim, engine: engine, directory: dir)
    }

    @Test func rollbackAfterAFullRunLeavesTheRegionAsItBegan() async throws {
        let s = try await Self.make(simulate: "seed: 7", computes: 300)
        let before = s.sim.state
        var options = RunOptions()
        options.virtualTime = true
        let run = try await s.engine.run(options)
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let changed = SimRegion.differences(before, s.sim.state, limit: 5000)
        // Every compute node runs the new code, and the databases were dumped.
        #expect(changed.contains { $0.contains("cmp0001: service neutron-openvswitch-agent running queens (was running kilo)") }, "\(changed.prefix(5))")
        #expect(s.sim.state.hosts["cmp0300"]?.services["openstack-nova-compute"]?.release == "queens")
        let back = try await s.engine.rollback(run.runID, yes: true)
        #expect(back.status == .rolledBack, "\(back.message ?? "")")
        #expect(SimRegion.differences(before, s.sim.state).isEmpty, "\(SimRegion.differences(before, s.sim.state))")
        #expect(before == s.sim.state)
        // Simulated time: the journal holds minutes of work although the test took about a second.
        let steps = try await s.engine.journal.steps(run.runID)
        let total = (steps.compactMap(\.endedAt).max() ?? Date()).timeIntervalSince(steps.compactMap(\.startedAt).min() ?? Date())
        #expect(total > 600, "simulated total \(total)s")
        // The model outlives the process: saved, then read back by a new simulation.
        try s.sim.save()
        let again = try SimRegion(region: try RegionLoader.load(path: s.directory + "/region.yaml"), computes: 300, components: SimFixture.components, stateDirectory: s.directory + "/sim")
        #expect(again.state == s.sim.state)
    }

    /// A dump's simulated length follows the seed and the seconds since the region's timeline began,
    /// never the wall-clock minute the virtual clock started from: two regions of one seed whose
    /// timelines begin 4,321 s apart take exactly as long (keyed on the absolute clock, a drill's whole
    /// timeline, and so which restarts met an overloaded database, changed from one minute to the next).
    @Test func dumpLengthsDoNotDependOnTheWallClock() async throws {
        let a = try await Self.make(simulate: "seed: 3", computes: 20)
        let b = try await Self.make(simulate: "seed: 3", computes: 20)
        b.sim.clock.advance(4321, host: nil)
        try b.sim.reset()   // b's timeline begins 4,321 s later
        var lengths: [[Double]] = []
        for s in [a, b] {
            let backups = try #require(s.sim.drivers.backups)
            var took: [Double] = []
            for name in ["neutron", "nova", "neutron"] {
                let t = s.sim.clock.seconds
                _ = try await backups.backup(name, via: nil)
                took.append(s.sim.clock.seconds - t)
            }
            lengths.append(took)
        }
        #expect(lengths[0] == lengths[1])
        #expect(Set(lengths[0]).count > 1)   // they do vary (by the seed and the time since the timeline began)
    }

    @Test func injectedFaultsHitTheNamedHostsRepeatably() async throws {
        let runbook = """
            runbook { name = "faults" }
            step "ship" { on = "computes", max_fail = "50%", run = function(host, ctx) host:run("tar -xzf /x.tgz -C /opt/venvs/queens") end }
            step "restart" { on = "computes", max_fail = "50%", run = function(host, ctx) host:run("systemctl restart openstack-nova-compute") end }
            """
        let faults = """
            seed: 11
            faults:
              - { host: cmp0007, step: ship, kind: unreachable }
              - { group: computes, step: restart, kind: fail, probability: 0.1, message: "nova-compute: cannot reach the conductor" }
            """
        var failedSets: [[String]] = []
        for _ in 0..<2 {
            let s = try await Self.make(runbook: runbook, simulate: faults, computes: 100)
            let run = try await s.engine.run(RunOptions())
            #expect(run.status == .succeeded, "\(run.message ?? "")")
            let ship = try await s.engine.journal.hosts(run.runID, step: 0, phase: .run).filter { $0.status == .failed }
            #expect(ship.map(\.host) == ["cmp0007"])
            #expect(ship.first?.message?.contains("no route to host") == true, "\(ship.first?.message ?? "")")
            let restart = try await s.engine.journal.hosts(run.runID, step: 1, phase: .run).filter { $0.status == .failed }
            #expect(restart.count > 2 && restart.count < 25, "\(restart.count) failed")
            #expect(restart.allSatisfy { $0.stderrTail?.contains("cannot reach the conductor") == true || $0.message?.contains("cannot reach the conductor") == true })
            failedSets.append(restart.map(\.host).sorted())
        }
        // Seeded: the same hosts fail every time.
        #expect(failedSets[0] == failedSets[1])
    }

    static func agents(batch: String, adaptive: Bool) -> String {
        """
        runbook { name = "agents" }
        check "load" { within = "15m", every = "30s", probe = function(ctx)
          local t = tonumber(db.connect("neutron"):status("Threads_running"))
          return t < 28, "Threads_running " .. t
        end }
        step "restart-agents" {
          on = "computes", batch = \(batch), gate = "load", adaptive = \(adaptive), parallel = 1000, max_fail = "1%",
          run = function(host, ctx) host:run("systemctl restart neutron-openvswitch-agent") end,
        }
        """
    }

    @Test func aFixedWaveOf500OverloadsTheDatabaseAndAdaptiveWavesDoNot() async throws {
        let fixed = try await Self.make(runbook: Self.agents(batch: "500", adaptive: false), simulate: "seed: 3", computes: 2000)
        let breach = try await fixed.engine.run(RunOptions())
        #expect(breach.status == .failed)
        #expect(breach.message?.contains("host(s) failed") == true, "\(breach.message ?? "")")
        let failedFixed = try await fixed.engine.journal.hosts(breach.runID, step: 0, phase: .run).filter { $0.status == .failed }
        #expect(failedFixed.count > 20)
        let reasons = failedFixed.map { ($0.stderrTail ?? "") + ($0.message ?? "") }
        #expect(reasons.allSatisfy { $0.contains("Neutron database overloaded") }, "\(reasons.filter { !$0.contains("overloaded") }.prefix(2))")

        let adaptive = try await Self.make(runbook: Self.agents(batch: "50", adaptive: true), simulate: "seed: 3", computes: 2000)
        let run = try await adaptive.engine.run(RunOptions())
        #expect(run.status == .succeeded, "\(run.message ?? "")")
        let hosts = try await adaptive.engine.journal.hosts(run.runID, step: 0, phase: .run)
        #expect(hosts.count == 2000)
        #expect(hosts.allSatisfy { $0.status == .ok })
        // The waves really adapted: more than one size was used, and every agent runs.
        let events = try await adaptive.engine.journal.events(run.runID).filter { $0.kind == "adaptive" }
        #expect(events.contains { $0.message.contains("wave size now") })
        #expect(adaptive.sim.state.hosts.values.filter { $0.services["neutron-openvswitch-agent"]?.running == true }.count >= 2000)
    }

    @Test func aDrillOfThreeRepetitionsGivesThreeTimedPairsAndAReport() async throws {
        let s = try await Self.make(simulate: "seed: 5", computes: 200)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 3).run()
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "")")
        #expect(outcome.repetitions.count == 3)
        for r in outcome.repetitions {
            #expect(r.upgrade.status == .succeeded)
            #expect(r.rollback?.status == .rolledBack)
            #expect(r.upgradeSeconds > 60 && r.rollbackSeconds > 60, "\(r.upgradeSeconds) \(r.rollbackSeconds)")
            #expect(r.differences.isEmpty)
        }
        let report = try await Report.load(outcome.id, from: s.engine.journal)
        #expect(report.drill?.repetitions.count == 3)
        let html = HTMLReport.render(report)
        for step in s.engine.runbook.steps { #expect(html.contains(step.name), "report lacks \(step.name)") }
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))
    }

    @Test func aCheckFailingAfterTheUpgradeFailsTheDrillButTheRollbackIsStillRehearsed() async throws {
        // The upgrade leaves a marker the check refuses; the rollback removes it.
        let runbook = """
            runbook { name = "unhealthy" }
            check "no-marker" { probe = function(ctx)
              local r = inventory.host("cmp0001"):run("test -e /etc/marker", { check = false })
              return r.code ~= 0, "/etc/marker is there"
            end }
            step "mark" { on = "cmp0001",
              run = function(host, ctx) host:run("echo x > /etc/marker") end,
              undo = function(host, ctx) host:run("rm -f /etc/marker") end }
            """
        let s = try await Self.make(runbook: runbook, simulate: "seed: 2", computes: 5)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 2).run()
        #expect(!outcome.succeeded)
        #expect(outcome.stoppedBecause == nil, "\(outcome.stoppedBecause ?? "")")
        #expect(outcome.failedUpgrades.isEmpty)
        #expect(outcome.failedChecksAfterUpgrade.map(\.repetition) == [1, 2])
        #expect(outcome.failedChecksAfterUpgrade.first?.check.message?.contains("/etc/marker is there") == true)
        for r in outcome.repetitions {
            #expect(r.rollback?.status == .rolledBack)
            #expect(r.checksAfterRollback.allSatisfy { $0.passed })
        }
    }

    @Test func aDrillStopsWhenARepetitionLeavesTheRegionChanged() async throws {
        // The undo forgets to switch the link back: the region keeps the new code.
        let runbook = """
            runbook { name = "leaky" }
            step "switch" { on = "computes",
              run = function(host, ctx) host:run("ln -sfn /opt/venvs/queens /opt/openstack/nova && systemctl restart openstack-nova-compute") end,
              undo = function(host, ctx) host:run("systemctl restart openstack-nova-compute") end }
            """
        let s = try await Self.make(runbook: runbook, simulate: "seed: 1", computes: 20)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 3).run()
        #expect(!outcome.succeeded)
        #expect(outcome.repetitions.count == 1)
        #expect(outcome.stoppedBecause?.contains("cmp0001: nova code queens (was kilo)") == true, "\(outcome.stoppedBecause ?? "")")
    }

    @Test func configEditsUndoAndFanOutRunsSideBySideInSimulatedTime() async throws {
        let runbook = """
            runbook { name = "conf" }
            step "conf" { on = "computes",
              run = function(host, ctx)
                host:ini("/etc/nova/nova.conf"):set("DEFAULT", "debug", "true")
                host:ini("/etc/nova/nova.conf"):set("DEFAULT", "transport_url", "rabbit://new")
              end }
            step "fan" { run = function(ctx)
              ssh.run("computes", "systemctl restart neutron-openvswitch-agent", { parallel = 50, check = true })
            end }
            """
        let s = try await Self.make(runbook: runbook, simulate: "seed: 2", computes: 100)
        let outcome = try await Drill(engine: s.engine, model: s.sim, times: 1).run()
        // The config edits are put back from their backups: the drill finds the region as it began.
        #expect(outcome.succeeded, "\(outcome.stoppedBecause ?? "")")
        let steps = try await s.engine.journal.steps(outcome.repetitions[0].runID).filter { $0.phase == .run }
        let fan = try #require(steps.first { $0.name == "fan" }?.duration)
        // 100 restarts, 50 at a time: two groups of about 8 s, not 100 one after another.
        #expect(fan > 10 && fan < 60, "fan-out took \(fan)s of simulated time")
        // The file did not exist before the run: the rollback removed it again.
        #expect(s.sim.state.hosts["cmp0042"]?.files["/etc/nova/nova.conf"] == nil, "\(s.sim.state.hosts["cmp0042"]?.files ?? [:])")
        let arts = try await s.engine.journal.artifacts(outcome.repetitions[0].runID)
        #expect(arts.filter { $0.kind == "ini-change" }.count == 200, "\(arts.count) artifacts")
    }

    @Test func stepTimeoutsCountSimulatedTime() async throws {
        let slow = """
            runbook { name = "slow" }
            step "slow" { on = "cmp0001", timeout = "30s",
              run = function(host, ctx) host:run("sleep 20"); host:run("sleep 20") end }
            """
        let s = try await Self.make(runbook: slow, simulate: "seed: 4", computes: 5)
        let outcome = try await s.engine.run(RunOptions())
        #expect(outcome.status == .failed)
        #expect(outcome.failedHosts.first?.message.contains("did not finish within") == true, "\(outcome.failedHosts)")

        // Many quick commands on many hosts: no real-time timer may cut them off.
        let quick = """
            runbook { name = "quick" }
            step "quick" { on = "computes", parallel = 500, timeout = "2s",
              run = function(host, ctx) for i = 1, 20 do host:run("true") end end }
            """
        let q = try await Self.make(runbook: quick, simulate: "seed: 4", computes: 500)
        let fine = try await q.engine.run(RunOptions())
        #expect(fine.status == .succeeded, "\(fine.message ?? "")")
    }

    @Test func driverCallsInsideAHostStepCountOnThatHostsLane() async throws {
        // Each host asks the database 500 times (2 ms each): 1 s per host, all hosts at once.
        let runbook = """
            runbook { name = "queries" }
            step "ask" { on = "computes", parallel = 100,
              run = function(host, ctx)
                local c = db.connect("nova")
                for i = 1, 500 do c:scalar("SELECT 1") end
                c:close()
              end }
            """
        let s = try await Self.make(runbook: runbook, simulate: "seed: 6", computes: 100)
        let outcome = try await s.engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let step = try #require(try await s.engine.journal.steps(outcome.runID).first?.duration)
        #expect(step > 0.9 && step < 5, "the step took \(step)s of simulated time")
    }

    @Test func sshRunFromAHostStepOverlapsOnTheCallersLane() async throws {
        // Each compute asks the four network nodes to sleep 60 s at once: about a minute per
        // compute, not four minutes, and the computes run side by side.
        let runbook = """
            runbook { name = "fan" }
            step "fan" { on = "computes", parallel = 3,
              run = function(host, ctx)
                ssh.run("network_nodes", "sleep 60", { check = true })
              end }
            """
        let s = try await Self.make(runbook: runbook, simulate: "seed: 12", computes: 3)
        let outcome = try await s.engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let step = try #require(try await s.engine.journal.steps(outcome.runID).first?.duration)
        #expect(step > 50 && step < 75, "the step took \(step)s of simulated time")
        for h in try await s.engine.journal.hosts(outcome.runID, step: 0, phase: .run) {
            let d = h.duration ?? 0
            #expect(d > 50 && d < 75, "\(h.host) took \(d)s")
        }
    }

    @Test func parallelItemsOverlapInSimulatedTime() async throws {
        let runbook = """
            runbook { name = "par" }
            step "par" { run = function(ctx)
              parallel({ "cmp0001", "cmp0002", "cmp0003", "cmp0004" }, function(name)
                inventory.host(name):run("sleep 60")
                sleep("30s")
              end, { limit = 2 })
            end }
            """
        let s = try await Self.make(runbook: runbook, simulate: "seed: 8", computes: 10)
        let outcome = try await s.engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let step = try #require(try await s.engine.journal.steps(outcome.runID).first?.duration)
        // Two groups of two, each about 90 s (commands ±15 %): not four items one after another (360 s).
        #expect(step > 150 && step < 230, "the step took \(step)s of simulated time")
    }
}
