import FerryCore
import FerryTestSupport
import Foundation
import LuaBridge
import Testing

/// `ferry` on a terminal (a pseudo-terminal driven by Python's `pty`): what an operator
/// types at a `confirm` question, Ctrl-C included, as the terminal delivers it.
@Suite struct CLITerminalTests {
    /// Runs `ferry args` on a new pseudo-terminal in `directory`; once its output contains
    /// `prompt`, types `keys` (a Ctrl-C is "\u{03}": the terminal turns it into SIGINT).
    /// Returns everything it wrote (stdout and stderr, as the terminal shows them) and its
    /// exit code. A guard of two minutes kills it should it never end.
    static func onTerminal(_ args: [String], in directory: String, whenShown prompt: String, type keys: String) async throws
        -> (code: Int32, screen: String)
    {
        let driver = directory + "/pty-driver.py"
        try """
            import os, pty, select, sys, time
            ferry, cwd, prompt, keys = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
            pid, fd = pty.fork()
            if pid == 0:
                os.chdir(cwd)
                os.execv(ferry, [ferry] + sys.argv[5:])
            screen, typed, guard = b"", False, time.monotonic() + 120
            while True:
                if time.monotonic() > guard:
                    os.kill(pid, 9)
                    screen += b"\\n[pty-driver: killed after 120 s]"
                    break
                ready, _, _ = select.select([fd], [], [], 1)
                if fd not in ready:
                    continue
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                screen += data
                if not typed and prompt in screen:
                    os.write(fd, keys)
                    typed = True
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(screen.decode("utf-8", "replace"))
            sys.stdout.write("\\n[exit %d]\\n" % os.waitstatus_to_exitcode(status))
            """.write(toFile: driver, atomically: true, encoding: .utf8)
        let out = try await ChildProcess.run("/usr/bin/python3", [driver, FerryProcess.binary, directory, prompt, keys] + args)
        let screen = out.stdout
        guard let tail = screen.range(of: "\n[exit ", options: .backwards),
            let code = Int32(screen[tail.upperBound...].prefix(while: { $0 == "-" || $0.isNumber }))
        else { throw FerryError.failed("the pty driver did not finish: \(screen) \(out.stderr)") }
        return (code, String(screen[..<tail.lowerBound]))
    }

    static let runbook = """
        runbook { name = "asked" }
        step "before" { on = "computes", run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/before") end }
        step "go" {
          confirm = "Upgrade the computes?",
          run = function(ctx) end,
        }
        step "hosts" { on = "computes", run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/ran") end }
        """

    /// Ctrl-C at a `confirm` question stops the run at once, interrupted and resumable
    /// (it used to wait for Enter: `readLine` blocked). The resumed run asks again.
    @Test func ctrlCAtAConfirmQuestionStopsTheRunResumably() async throws {
        let dir = try workspace(runbook: Self.runbook, hosts: 3)
        let asked = try await Self.onTerminal(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir,
                                              whenShown: "Type 'yes'", type: "\u{03}")
        #expect(asked.code == 3, "\(asked.screen)")
        #expect(asked.screen.contains("interrupted"), "\(asked.screen)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/ran"), "the step after the question ran")
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir)
        #expect(try LuaValue.fromJSON(status.stdout)["status"] == "interrupted", "\(status.stdout)")

        let resumed = try await Self.onTerminal(["resume", "last", "--journal", "j.db"], in: dir,
                                                whenShown: "Type 'yes'", type: "yes\r")
        #expect(resumed.code == 0, "\(resumed.screen)")
        let ran = try String(contentsOfFile: dir + "/out/ran", encoding: .utf8).split(separator: "\n")
        #expect(ran.count == 3, "\(ran)")
        let before = try String(contentsOfFile: dir + "/out/before", encoding: .utf8).split(separator: "\n")
        #expect(before.count == 3, "the step before the question ran again: \(before)")
    }

    /// Ctrl-C at the rollback's question undoes nothing and says so.
    @Test func ctrlCAtTheRollbackQuestionUndoesNothing() async throws {
        let dir = try workspace(runbook: """
            runbook { name = "undo-asked" }
            step "hosts" {
              on = "computes",
              run = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/ran") end,
              undo = function(h, ctx) h:run("echo " .. h.name .. " >> " .. ctx.vars.out .. "/undone") end,
            }
            """, hosts: 3)
        let run = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(run.code == 0, "\(run.stderr)")
        let asked = try await Self.onTerminal(["rollback", "last", "--journal", "j.db"], in: dir, whenShown: "Type 'yes'", type: "\u{03}")
        #expect(asked.code == 3, "\(asked.screen)")
        #expect(asked.screen.contains("nothing was undone"), "\(asked.screen)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/undone"))
        let rolled = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(rolled.code == 0, "\(rolled.stderr)")
        let undone = try String(contentsOfFile: dir + "/out/undone", encoding: .utf8).split(separator: "\n")
        #expect(undone.count == 3)
    }
}
