import FerryCore
import Foundation
import FerryTestSupport
import Testing

/// What hosts and runbooks send back, as the `ferry` process shows it and stores it.
@Suite struct CLIHostileOutputTests {
    static func mode(_ path: String) -> Int? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o777)
    }

    /// Control characters a terminal acts on: ESC, BEL, CR, backspace, the C1 CSI.
    static func controls(_ text: String) -> [String] {
        text.unicodeScalars.filter { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x0D || $0.value == 0x08 || $0.value == 0x9B }
            .map { String($0.value, radix: 16) }
    }

    @Test func escapeSequencesFromHostsAndRunbooksNeverReachTheTerminal() async throws {
        let dir = try workspace(runbook: #"""
            runbook { name = "ansi" }
            step "paint" {
              on = "ctl1",
              run = function(host, ctx)
                log.info("log: \27[31mred\27[0m \27]0;pwned\7 \194\155 2J")
                print("print: \27[2J\27[H")
                host:run("printf 'out: \\033[32mgreen\\033[0m\\r\\n'; printf 'err: \\033[2J\\033[3J\\b\\n' >&2; exit 3")
              end,
            }
            """#)
        let r = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j/journal.db"], in: dir)
        #expect(r.code == 1, "\(r.stderr)")
        #expect(Self.controls(r.stdout).isEmpty, "stdout: \(Self.controls(r.stdout)) in \(r.stdout.debugDescription)")
        #expect(Self.controls(r.stderr).isEmpty, "stderr: \(Self.controls(r.stderr)) in \(r.stderr.debugDescription)")
        // Shown as visible escapes, so the operator still sees that they were there.
        #expect(r.stderr.contains("log: \\x1b[31mred\\x1b[0m \\x1b]0;pwned\\x07 \\x9b 2J"), "\(r.stderr)")
        #expect(r.stderr.contains("err: \\x1b[2J\\x1b[3J\\x08"), "\(r.stderr)")
        #expect(r.stdout.contains("print: \\x1b[2J\\x1b[H"), "\(r.stdout)")

        let status = try await FerryProcess.run(["status", "last", "--journal", "j/journal.db"], in: dir)
        #expect(Self.controls(status.stdout + status.stderr).isEmpty, "\(status.stdout.debugDescription)")
        #expect(status.stdout.contains("\\x1b[2J"), "\(status.stdout)")

        let exec = try await FerryProcess.run(["exec", "ctl1", "-r", "region.yaml", "--journal", "j/journal.db", "--",
                                                "printf", "'\\033]0;title\\007x\\n'"], in: dir)
        #expect(exec.code == 0, "\(exec.stderr)")
        #expect(Self.controls(exec.stdout + exec.stderr).isEmpty, "\(exec.stdout.debugDescription)")
        #expect(exec.stdout.contains("\\x1b]0;title\\x07x"), "\(exec.stdout)")

        // The files keep what the host sent, byte for byte.
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir + "/j/runs")
        let err = try String(contentsOfFile: "\(dir)/j/runs/\(runs[0])/000-paint/ctl1.err", encoding: .utf8)
        #expect(err.contains("err: \u{1B}[2J\u{1B}[3J\u{08}\n"), "\(err.debugDescription)")
    }

    @Test func aSimulatedRunLeavesOnlyOwnerOnlyFiles() async throws {
        let dir = NSTemporaryDirectory() + "ferry-cli-modes-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            runbook { name = "dump" }
            step "dump" { run = function(ctx) ctx.state.dump = db.backup("glance") end }
            step "talk" { on = "glance_old", run = function(host, ctx) host:run("true") end }
            """.write(toFile: dir + "/dump.lua", atomically: true, encoding: .utf8)
        let r = try await FerryProcess.run(["run", "dump.lua", "-r", "sim", "--computes", "5"], in: dir)
        #expect(r.code == 0, "\(r.stdout)\(r.stderr)")
        let ferry = dir + "/.ferry"
        var checked = 0
        for path in (FileManager.default.enumerator(atPath: ferry)?.allObjects as? [String] ?? []) + [""] {
            let full = path.isEmpty ? ferry : ferry + "/" + path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
            let expected = isDirectory.boolValue ? 0o700 : 0o600
            #expect(Self.mode(full) == expected, "\(path.isEmpty ? ".ferry" : path): \(String(Self.mode(full) ?? -1, radix: 8))")
            checked += 1
        }
        // The journal, the saved model, the artifact (a dump) and its directories at least.
        let all = FileManager.default.enumerator(atPath: ferry)?.allObjects as? [String] ?? []
        #expect(all.contains { $0.hasPrefix("sim/") && $0.hasSuffix(".json") && !$0.contains("artifacts") }, "\(all)")
        #expect(all.contains { $0.hasPrefix("sim/artifacts/") }, "\(all)")
        #expect(all.contains("journal.db"), "\(all)")
        #expect(checked >= 6)
    }
}
