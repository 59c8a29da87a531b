import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// Issue 15, "Inputs": `-e KEY=VALUE` and `--vars FILE` on run/plan/validate/drill, seen by
/// the runbook as `ctx.vars` (read-only, over the region's vars), journaled with the run (a
/// secret reference as the reference), shown by status and report, and kept by a resume.
@Suite struct CLIInputsTests {
    static let runbook = """
        runbook { name = "inputs" }
        step "record" { run = function(ctx)
          local ok, err = pcall(function() ctx.vars.release = "x" end)
          ctx.state.seen = {
            release = ctx.vars.release, venv_root = ctx.vars.venv_root, out = ctx.vars.out,
            password_ok = #secret(ctx.vars.db_password) == 6 and secret(ctx.vars.db_password):sub(1, 2) == "s3", read_only = not ok and tostring(err) or "written",
          }
        end, undo = function(ctx) end }
        step "gate" { on = "ctl1", run = function(host, ctx)
          host:run("test -e " .. ctx.vars.out .. "/go")
          ctx.state.release_at_gate = ctx.vars.release
        end }
        """

    @Test func inputsReachTheRunbookAreJournaledAndAResumeKeepsThem() async throws {
        let dir = try workspace(runbook: Self.runbook)
        try "s3cret\n".write(toFile: dir + "/pw.txt", atomically: true, encoding: .utf8)
        try "release: queens\nvenv_root: /opt/venvs\n".write(toFile: dir + "/vars.yaml", atomically: true, encoding: .utf8)
        let inputs = ["--vars", "vars.yaml", "-e", "venv_root=/opt/override", "-e", "db_password={file: pw.txt}"]

        let validate = try await FerryProcess.run(["validate", "runbook.lua"] + inputs, in: dir)
        #expect(validate.code == 0, "\(validate.stderr)")
        let plan = try await FerryProcess.run(["plan", "runbook.lua", "-r", "region.yaml"] + inputs, in: dir)
        #expect(plan.stdout.contains("Inputs: db_password={file: \(dir)/pw.txt} (secret reference), release=queens, venv_root=/opt/override"),
                "\(plan.stdout)")

        // The gate fails (no `go` file yet): the run stops, resumable.
        let first = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"] + inputs, in: dir)
        #expect(first.code == 1, "\(first.stderr)")
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir)
        let value = try LuaValue.fromJSON(status.stdout)
        let seen = value["state"]["seen"]
        #expect(seen["release"] == "queens")
        #expect(seen["venv_root"] == "/opt/override")   // -e over --vars
        #expect(seen["out"] == .string(dir + "/out"))    // the region's vars stay
        #expect(seen["password_ok"] == true)
        #expect(seen["read_only"].stringValue?.contains("runbook.lua:3: ctx.vars is read-only: cannot set 'release'") == true, "\(seen)")
        #expect(value["inputs"]["db_password"] == .map(["file": .string(dir + "/pw.txt")]))
        #expect(value["inputs"]["release"] == "queens")
        let text = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(text.stdout.contains("inputs:  db_password={file: \(dir)/pw.txt} (secret reference), release=queens, venv_root=/opt/override"),
                "\(text.stdout)")
        let report = try await FerryProcess.run(["report", "last", "--journal", "j.db"], in: dir)
        #expect(report.stdout.contains("inputs: db_password={file: \(dir)/pw.txt} (secret reference)"), "\(report.stdout)")
        // The secret's value is nowhere in the journal.
        let journal = try Data(contentsOf: URL(fileURLWithPath: dir + "/j.db"))
        #expect(journal.range(of: Data("s3cret".utf8)) == nil)

        // A resume with other inputs is refused; without any it runs with the journaled ones.
        try "".write(toFile: dir + "/out/go", atomically: true, encoding: .utf8)
        let other = try await FerryProcess.run(["resume", "last", "-e", "release=rocky", "--journal", "j.db"], in: dir)
        #expect(other.code == 2)
        #expect(other.stderr.contains("started with the inputs db_password={file: \(dir)/pw.txt} (secret reference), release=queens"),
                "\(other.stderr)")
        #expect(other.stderr.contains("a resume runs with the run's own inputs"), "\(other.stderr)")
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        let after = try LuaValue.fromJSON(try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir).stdout)
        #expect(after["state"]["release_at_gate"] == "queens")
    }

    @Test func malformedInputsAreUsageErrors() async throws {
        let dir = try workspace(runbook: Self.runbook)
        let noEquals = try await FerryProcess.run(["validate", "runbook.lua", "-e", "release"], in: dir)
        #expect(noEquals.code == 2)
        #expect(noEquals.stderr.contains("-e release: expected KEY=VALUE"), "\(noEquals.stderr)")
        let missing = try await FerryProcess.run(["plan", "runbook.lua", "-r", "region.yaml", "--vars", "nope.yaml"], in: dir)
        #expect(missing.code == 2)
        #expect(missing.stderr.contains("--vars nope.yaml: cannot read it"), "\(missing.stderr)")
        let badRef = try await FerryProcess.run(["validate", "runbook.lua", "-e", "pw={env: PW, kye: x}"], in: dir)
        #expect(badRef.code != 0)
        #expect(badRef.stderr.contains("a secret reference is"), "\(badRef.stderr)")
    }

    /// Issue 15: a typo in a library or plugin helper's spec fails `ferry validate` at the
    /// runbook's line (it validated cleanly, and `rolse` widened the step to every unit).
    @Test func validateRefusesAHelpersUnknownKeyAtTheRunbooksLine() async throws {
        let dir = try workspace(runbook: """
            local lib = require "lib.upgrade"
            local glance = require "ferry.glance"
            runbook { name = "typos", from = "kilo", to = "queens" }
            lib.stop_services { component = "glance", group = "glance_old", release = "kilo", rolse = { "api" } }
            glance.db_sync { from = "kilo", to = "queens", timeot = "1h" }
            """)
        try FileManager.default.createDirectory(atPath: dir + "/scripts", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repository.root + "/scripts/lib", toPath: dir + "/scripts/lib")
        let first = try await FerryProcess.run(["validate", "runbook.lua"], in: dir)
        #expect(first.code == 1)
        #expect(first.stderr.contains("runbook.lua:4: lib.stop_services: unknown field 'rolse' (did you mean 'roles'?)"), "\(first.stderr)")
        try String(contentsOfFile: dir + "/runbook.lua", encoding: .utf8).replacingOccurrences(of: "rolse", with: "roles")
            .write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        let second = try await FerryProcess.run(["validate", "runbook.lua"], in: dir)
        #expect(second.code == 1)
        #expect(second.stderr.contains("runbook.lua:5: glance.db_sync: unknown field 'timeot' (did you mean 'timeout'?)"), "\(second.stderr)")
    }
}
