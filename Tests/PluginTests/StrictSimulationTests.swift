import FerryCore
import FerrySimulation
import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// The strict simulation (docs/simulation.md#what-is-judged): what the model does not know
/// fails as a real host would, and what it cannot judge it records and says once.
@Suite struct StrictSimulationTests {
    /// A Kilo region (new controllers at Queens) with a runbook that does nothing, for commands run on it directly.
    static func kilo() async throws -> LibraryTests.Sim {
        try await LibraryTests.make(runbook: try writeRunbook(#"runbook { name = "noop" } step "noop" { run = function() end }"#), release: "kilo", target: "queens", computes: 4)
    }

    static func run(_ s: LibraryTests.Sim, _ command: String, on host: String = "nova-old-1") async throws -> CommandResult {
        let target = try #require(s.sim.region.hosts[host])
        return try await s.sim.transport.run(HostCommand(command), on: target, output: OutputCapture())
    }

    @Test func aMisspeltProgramIsNotFoundAsTheShellSays() async throws {
        let s = try await Self.kilo()
        let typo = try await Self.run(s, "glance-manag db sync", on: "glance-old-1")
        #expect(typo.exitCode == 127)
        #expect(typo.stderr.contains("glance-manag: command not found"), "\(typo.stderr)")
        // A path that does not exist: the shell's other answer.
        let path = try await Self.run(s, "/opt/venvs/queens/bin/glance-manag db sync", on: "glance-old-1")
        #expect(path.exitCode == 127)
        #expect(path.stderr.contains("/opt/venvs/queens/bin/glance-manag: No such file or directory"), "\(path.stderr)")
        // After &&, nothing more runs; the misspelt program's status is the command's.
        let chained = try await Self.run(s, "systemctl stop openstack-glance-api && glance-manag db sync && systemctl start openstack-glance-api", on: "glance-old-1")
        #expect(chained.exitCode == 127)
        // The real one is interpreted.
        let real = try await Self.run(s, "glance-manage db_sync", on: "glance-old-1")
        #expect(real.exitCode == 0, "\(real.stderr)")
    }

    @Test func aMisspeltSystemctlVerbOrUnitFailsAsSystemdSays() async throws {
        let s = try await Self.kilo()
        let verb = try await Self.run(s, "systemctl restrat openstack-nova-api")
        #expect(verb.exitCode == 1)
        #expect(verb.stderr.contains("Unknown command verb restrat."), "\(verb.stderr)")
        let unit = try await Self.run(s, "systemctl restart openstack-nova-apii")
        #expect(unit.exitCode == 5)
        #expect(unit.stderr.contains("Unit openstack-nova-apii.service not found."), "\(unit.stderr)")
        // Options before the verb do not hide it.
        let quiet = try await Self.run(s, "systemctl --no-block restrat openstack-nova-api")
        #expect(quiet.exitCode == 1)
        let ok = try await Self.run(s, "systemctl --no-block restart openstack-nova-api")
        #expect(ok.exitCode == 0, "\(ok.stderr)")
        // A real verb the model does not interpret succeeds, recorded.
        let shown = try await Self.run(s, "systemctl is-enabled openstack-nova-api")
        #expect(shown.exitCode == 0)
    }

    @Test func aManageSubcommandItsReleaseLacksFailsAsArgparseDoes() async throws {
        let s = try await Self.kilo()
        // A typo in the action, and in the category.
        let action = try await Self.run(s, "nova-manage db synk")
        #expect(action.exitCode == 2)
        #expect(action.stderr.contains("nova-manage db: error: argument action: invalid choice: 'synk' (choose from "), "\(action.stderr)")
        #expect(action.stderr.contains("'migrate_flavor_data'"), "Kilo's db actions are listed: \(action.stderr)")
        let category = try await Self.run(s, "nova-manage dbb sync")
        #expect(category.exitCode == 2)
        #expect(category.stderr.contains("nova-manage: error: argument category: invalid choice: 'dbb'"), "\(category.stderr)")
        // A command of a later release: Kilo's nova-manage has no cell_v2 (openstack/nova@2015.1.0 nova/cmd/manage.py).
        let later = try await Self.run(s, "nova-manage cell_v2 discover_hosts")
        #expect(later.exitCode == 2)
        #expect(later.stderr.contains("invalid choice: 'cell_v2'"), "\(later.stderr)")
        // Queens' tool, from its virtualenv, has it; and no longer has migrate_flavor_data.
        let queens = try await Self.run(s, "/opt/venvs/queens/bin/nova-manage db migrate_flavor_data")
        #expect(queens.exitCode == 2)
        #expect(queens.stderr.contains("invalid choice: 'migrate_flavor_data'"), "\(queens.stderr)")
        let cinder = try await Self.run(s, "cinder-manage servce list", on: "cinder-old-1")
        #expect(cinder.exitCode == 2)
        #expect(cinder.stderr.contains("cinder-manage: error: argument category: invalid choice: 'servce'"), "\(cinder.stderr)")
        let keystone = try await Self.run(s, "keystone-manage db-sync", on: "keystone-old-1")
        #expect(keystone.exitCode == 2)
        #expect(keystone.stderr.contains("keystone-manage: error: argument command: invalid choice: 'db-sync'"), "\(keystone.stderr)")
        let neutron = try await Self.run(s, "neutron-db-manage upgrad heads", on: "neutron-old-1")
        #expect(neutron.exitCode == 2)
        // A command the release has but the model does not interpret succeeds (recorded).
        let archive = try await Self.run(s, "nova-manage db archive_deleted_rows --max_rows 1000")
        #expect(archive.exitCode == 0, "\(archive.stderr)")
    }

    @Test func sqlMariaDBCannotParseFailsWithItsSyntaxError() async throws {
        let s = try await Self.kilo()
        let conn = try await s.sim.databaseDriver.connect("nova")
        for typo in ["SELEC 1", "SELECT COUNT(*) FORM instances", "SELECT COUNT(*) FROM instances WHERE vm_state IN ('resized', 'rescued'",
                     "SELECT COUNT(*) FROM instances WHER task_state IS NOT NULL", "SELECT COUNT(*) FROM instances WHERE task_state IS NOT NUL",
                     "SELECT 'unclosed FROM instances", "SELECT 1; DROP DATABASE nova"]
        {
            do {
                _ = try await conn.query(typo, [])
                Issue.record("\(typo) was accepted")
            } catch let e as DatabaseError {
                #expect(e.code == 1064, "\(typo): \(e)")
                #expect(e.message.hasPrefix("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version"), "\(e.message)")
            }
        }
        // What MariaDB parses, the simulation parses.
        for sql in ["SELECT 1", "select count(*) from instances where deleted = 0 and (task_state is not null or vm_state in ('resized','rescued'))",
                    "SELECT COUNT(*) AS n FROM `volumes` v WHERE v.status NOT IN ('available', 'in-use') AND deleted = 0;",
                    "SELECT version FROM migrate_version", "SELECT DATABASE()", "SHOW GLOBAL STATUS LIKE 'Threads_running'",
                    "SELECT h.host, COUNT(*) FROM services h LEFT JOIN compute_nodes c ON c.host = h.host GROUP BY h.host HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 10",
                    "GRANT ALL PRIVILEGES ON nova_cell0.* TO 'nova'@'%'"]
        {
            do { _ = try await conn.query(sql, []) } catch { Issue.record("\(sql): \(error)") }
        }
    }

    /// A runbook whose step runs an unmodelled command on every host, twice, and a statement the model does not answer.
    static let recording = """
        runbook { name = "recording" }
        step "fetch" {
          on = "computes",
          run = function(host)
            host:run("curl -fsS -o /tmp/venv.tgz http://mirror/venv.tgz")
            host:run("curl -fsS -o /tmp/venv.tgz http://mirror/venv.tgz")
            host:run("sh -c 'echo hi'")
          end,
        }
        step "grant" {
          run = function()
            local c = db.connect("nova")
            c:exec("GRANT ALL PRIVILEGES ON nova_cell0.* TO 'nova'@'%'")
          end,
        }
        """

    @Test func aCommandItCannotJudgeIsRecordedAndWarnedOncePerRunAndReported() async throws {
        let s = try await LibraryTests.make(runbook: try writeRunbook(Self.recording), release: "kilo", target: "queens", computes: 4)
        let outcome = try await s.engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let events = try await s.engine.journal.events(outcome.runID).filter { $0.kind == "unjudged" }
        // Four hosts, each running the same curl twice: one warning. One for the script, one for the statement.
        #expect(events.count == 3, "\(events.map(\.message))")
        let curl = events.filter { $0.message.contains("curl -fsS -o /tmp/venv.tgz http://mirror/venv.tgz") }
        #expect(curl.count == 1)
        #expect(curl.first?.message.hasPrefix("recorded, not judged: `curl") == true, "\(curl.first?.message ?? "")")
        #expect(curl.first?.level == "warn")
        #expect(events.contains { $0.message.contains("sh -c") })
        #expect(events.contains { $0.message.contains("GRANT ALL PRIVILEGES") && $0.message.contains("nova:") })
        // The report lists them (and its HTML shows them), apart from the other events.
        let report = try await Report.load(outcome.runID, from: s.engine.journal)
        let run = try #require(report.runs.first)
        #expect(run.unjudged.count == 3)
        #expect(run.unjudged.first { $0.message.contains("curl") }?.stepName == "fetch")
        #expect(!run.events.contains { $0.kind == "unjudged" })
        let html = HTMLReport.render(report)
        #expect(html.contains("Recorded, not judged"))
        #expect(html.contains("curl -fsS -o /tmp/venv.tgz http://mirror/venv.tgz"))
    }
}
