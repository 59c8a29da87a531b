import FerryCore
import FerryTestSupport
import Foundation
import GRDB
import LuaBridge
import Testing

/// A runbook edited after a run started: `resume` and `rollback` run the journaled version,
/// match steps by name, and take up the edited one only when told.
@Suite struct CLIRunbookVersionTests {
    /// Steps a, b, c; c fails until `out/release` exists. Every step records what it ran in `out/ran`.
    static let original = """
        runbook { name = "edit" }
        local function mark(ctx, what) inventory.host("ctl1"):run("echo " .. what .. " >> " .. ctx.vars.out .. "/ran") end
        step "a" { run = function(ctx) mark(ctx, "a") end, undo = function(ctx) mark(ctx, "undo-a") end }
        step "b" { run = function(ctx) mark(ctx, "b") end, undo = function(ctx) mark(ctx, "undo-b") end }
        step "c" {
          run = function(ctx)
            inventory.host("ctl1"):run("test -e " .. ctx.vars.out .. "/release")
            mark(ctx, "c")
          end,
          undo = function(ctx) mark(ctx, "undo-c") end,
        }
        """

    /// The same with a step inserted at the top.
    static let inserted = original.replacingOccurrences(of: "step \"a\"", with: """
        step "z" { run = function(ctx) mark(ctx, "z") end, undo = function(ctx) mark(ctx, "undo-z") end }
        step "a"
        """)

    static func ran(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/out/ran", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// A workspace whose run stopped at c (a and b done), with the runbook then edited.
    static func partialRun(_ runbook: String = original, editedTo edited: String = inserted, file: String = "runbook.lua") async throws -> String {
        let dir = try workspace(runbook: "")
        try runbook.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
        let first = try await FerryProcess.run(["run", file, "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(first.code == 1, "\(first.stderr)")
        #expect(ran(dir) == ["a", "b"])
        try edited.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
        return dir
    }

    @Test func resumeRunsTheJournaledRunbookByDefault() async throws {
        let dir = try await Self.partialRun()
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        // b is not run again, and z (not in the runbook the run started with) does not run.
        #expect(Self.ran(dir) == ["a", "b", "c"], "\(resumed.stderr)")
        #expect(resumed.stderr.contains("the runbook changed on disk since run"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("(runbook.lua changed); resume runs the journaled version"), "\(resumed.stderr)")
    }

    @Test func resumeWithUseNewShowsThePlanAndMatchesStepsByName() async throws {
        let dir = try await Self.partialRun()
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        // No terminal and no --yes: nothing runs.
        let unapproved = try await FerryProcess.run(["resume", "last", "--runbook-changed=use-new", "--journal", "j.db"], in: dir)
        #expect(unapproved.code == 3, "\(unapproved.stderr)")
        #expect(unapproved.stderr.contains("+ z: new"), "\(unapproved.stderr)")
        #expect(unapproved.stderr.contains("needs approval"), "\(unapproved.stderr)")
        #expect(Self.ran(dir) == ["a", "b"])

        let resumed = try await FerryProcess.run(["resume", "last", "--runbook-changed=use-new", "--yes", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("steps are matched by name"), "\(resumed.stderr)")
        // b is not run again; the new step z runs; c runs.
        #expect(Self.ran(dir) == ["a", "b", "z", "c"], "\(resumed.stderr)")

        // The run now follows the version it took up: a rollback undoes z too, newest first
        // in the order steps first started (c started, and failed, before z existed).
        let rolled = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(rolled.code == 0, "\(rolled.stderr)")
        #expect(!rolled.stderr.contains("changed on disk"), "\(rolled.stderr)")
        #expect(Array(Self.ran(dir).dropFirst(4)) == ["undo-z", "undo-c", "undo-b", "undo-a"], "\(Self.ran(dir))")
    }

    /// A per-host step whose host.state key was renamed: the journaled undo still finds the
    /// value, and the step inserted on top (which never ran) is not undone.
    @Test func rollbackUndoesWithTheJournaledCode() async throws {
        let hosts = """
            step "hosts" {
              on = "computes",
              run = function(h, ctx) h.state.token = h.name end,
              undo = function(h, ctx) h:run("echo " .. h.state.token .. " >> " .. ctx.vars.out .. "/undone") end,
            }
            step "c"
            """
        let original = Self.original.replacingOccurrences(of: "step \"c\"", with: hosts)
        let edited = Self.inserted.replacingOccurrences(of: "step \"c\"", with: hosts).replacingOccurrences(of: "token", with: "tok")
        let dir = try workspace(runbook: original, hosts: 3)
        let first = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(first.code == 1, "\(first.stderr)")
        try edited.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)

        let rolled = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(rolled.code == 0, "\(rolled.stderr)")
        #expect(rolled.stderr.contains("rollback runs the journaled version"), "\(rolled.stderr)")
        let undone = try String(contentsOfFile: dir + "/out/undone", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(Set(undone) == ["cmp001", "cmp002", "cmp003"])
        // c failed (it may have done part of its work): it is undone too; z never ran.
        #expect(Self.ran(dir) == ["a", "b", "undo-c", "undo-b", "undo-a"], "z never ran and must not be undone")
    }

    @Test func rollbackWithUseNewRefusesAStepThatRanButIsGone() async throws {
        let removed = Self.original.replacingOccurrences(
            of: "step \"b\" { run = function(ctx) mark(ctx, \"b\") end, undo = function(ctx) mark(ctx, \"undo-b\") end }\n", with: "")
        let dir = try await Self.partialRun(editedTo: removed)
        let refused = try await FerryProcess.run(["rollback", "last", "--runbook-changed=use-new", "--yes", "--journal", "j.db"], in: dir)
        #expect(refused.code == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("step b (done) ran but is not in the runbook on disk (runbook.lua)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("roll back with the journaled version"), "\(refused.stderr)")
        #expect(Self.ran(dir) == ["a", "b"], "nothing may be undone")

        let rolled = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(rolled.code == 0, "\(rolled.stderr)")
        #expect(Self.ran(dir) == ["a", "b", "undo-c", "undo-b", "undo-a"])
    }

    @Test func refuseModeFailsAndStatusShowsTheChange() async throws {
        let dir = try await Self.partialRun()
        let refused = try await FerryProcess.run(["resume", "last", "--runbook-changed=refuse", "--journal", "j.db"], in: dir)
        #expect(refused.code == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("changed on disk since the run started: runbook.lua changed; --runbook-changed=refuse"), "\(refused.stderr)")
        let rollback = try await FerryProcess.run(["rollback", "last", "--runbook-changed=refuse", "--yes", "--journal", "j.db"], in: dir)
        #expect(rollback.code == 1, "\(rollback.stderr)")
        #expect(Self.ran(dir) == ["a", "b"])

        let status = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("runbook: changed on disk since the run started (runbook.lua changed)"), "\(status.stdout)")
        let json = try LuaValue.fromJSON(try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir).stdout)
        #expect(json["runbook_changed"] == ["runbook.lua"])
        // The journaled version's steps, by name: none left unstarted (c failed; z is only on disk).
        #expect(json["remaining"] == .array([]), "\(json["remaining"])")
        let list = try await FerryProcess.run(["status", "--journal", "j.db"], in: dir)
        #expect(list.stdout.contains("(runbook changed on disk)"), "\(list.stdout)")

        // Unchanged again: refuse lets it through.
        try Self.original.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--runbook-changed=refuse", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(Self.ran(dir) == ["a", "b", "c"])
    }

    /// A journal from before runbooks were journaled (schema version 2): it is migrated, and
    /// its run resumes with the runbook on disk, steps matched by name, with a warning.
    @Test func versionTwoJournalResumesWithTheRunbookOnDisk() async throws {
        let dir = try await Self.partialRun()
        let queue = try DatabaseQueue(path: dir + "/j.db")
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TABLE runbook_versions; DROP TABLE runbook_files; PRAGMA user_version = 2")
        }
        try queue.close()
        let status = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("no files journaled (a run from an older Ferry)"), "\(status.stdout)")
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("journaled no runbook files (it is from an older Ferry): resume runs runbook.lua as it is on disk, which has CHANGED"),
                "\(resumed.stderr)")
        #expect(Self.ran(dir) == ["a", "b", "z", "c"], "matched by name: b not again, z runs")
        let version = try await DatabaseQueue(path: dir + "/j.db").read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
        #expect(version == 4)
    }

    @Test func tamperedJournaledRunbookIsRefused() async throws {
        let dir = try await Self.partialRun(editedTo: Self.original)
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let evil = Data(Self.original.replacingOccurrences(of: "mark(ctx, \"c\")", with: "mark(ctx, \"evil\")").utf8)
        let queue = try DatabaseQueue(path: dir + "/j.db")
        try await queue.write { db in
            try db.execute(sql: "UPDATE runbook_files SET content = ? WHERE path = 'runbook.lua'", arguments: [evil])
        }
        let content = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(content.code == 1, "\(content.stderr)")
        #expect(content.stderr.contains("the journaled copy of runbook.lua does not match its SHA-256"), "\(content.stderr)")

        // The file's SHA-256 made to match: the digest of the set still does not.
        try await queue.write { db in
            try db.execute(sql: "UPDATE runbook_files SET sha256 = ? WHERE path = 'runbook.lua'",
                           arguments: [RunbookFile(root: .runbook, path: "runbook.lua", entry: true, content: evil).sha256])
        }
        try queue.close()
        let digest = try await FerryProcess.run(["rollback", "last", "--yes", "--journal", "j.db"], in: dir)
        #expect(digest.code == 1, "\(digest.stderr)")
        #expect(digest.stderr.contains("do not match the journaled digest"), "\(digest.stderr)")
        #expect(Self.ran(dir) == ["a", "b"], "the tampered code must not run")
    }

    /// A runbook whose path has spaces, quotes, `$(…)` and non-ASCII letters, requiring a
    /// module beside it: the journaled version runs, and its errors name the original file
    /// and line (the edited file has its lines shifted).
    @Test func oddRunbookPathsAreJournaledAndNamedInErrors() async throws {
        let name = "run book 'ü' \"x\" $(id).lua"
        let module = "local M = {}\nfunction M.word() return \"from-lib\" end\nreturn M\n"
        let original = Self.original.replacingOccurrences(of: "runbook { name = \"edit\" }", with: """
            runbook { name = "edit" }
            local helper = require "helper"
            """).replacingOccurrences(of: "mark(ctx, \"c\")", with: "mark(ctx, helper.word())")
            .replacingOccurrences(of: "inventory.host(\"ctl1\"):run(\"test -e \" .. ctx.vars.out .. \"/release\")",
                                  with: "if not io.open(ctx.vars.out .. \"/release\") then error(\"not released\") end")
        let dir = try workspace(runbook: "")
        try module.write(toFile: dir + "/helper.lua", atomically: true, encoding: .utf8)
        try original.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        let first = try await FerryProcess.run(["run", name, "-r", "region.yaml", "--journal", "j.db"], in: dir)
        #expect(first.code == 1, "\(first.stderr)")
        let line = (original.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("not released") } ?? -1) + 1
        #expect(first.stderr.contains("\(name):\(line): not released"), "\(first.stderr)")

        try ("-- edited\n-- twice\n" + original).write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        try module.replacingOccurrences(of: "from-lib", with: "edited-lib").write(toFile: dir + "/helper.lua", atomically: true, encoding: .utf8)
        let again = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(again.code == 1, "\(again.stderr)")
        #expect(again.stderr.contains("\(name):\(line): not released"), "the journaled file's line: \(again.stderr)")
        #expect(again.stderr.contains("(\(name), helper.lua changed)"), "\(again.stderr)")

        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(Self.ran(dir) == ["a", "b", "from-lib"], "the journaled module ran")
    }

    /// The runbook file deleted since the run started: the journaled copy is all a resume needs.
    @Test func resumeRunsTheJournaledRunbookWhenTheFileIsGone() async throws {
        let dir = try await Self.partialRun(editedTo: Self.original)
        try FileManager.default.removeItem(atPath: dir + "/runbook.lua")
        let status = try await FerryProcess.run(["status", "last", "--journal", "j.db"], in: dir)
        #expect(status.stdout.contains("changed on disk since the run started (runbook.lua gone)"), "\(status.stdout)")
        FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
        let resumed = try await FerryProcess.run(["resume", "last", "--journal", "j.db"], in: dir)
        #expect(resumed.code == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("(runbook.lua gone); resume runs the journaled version"), "\(resumed.stderr)")
        #expect(Self.ran(dir) == ["a", "b", "c"])
    }
}
