import FerryCore
import Foundation
import Testing

/// What the loader fuzz test (PluginTests/LoaderFuzzTests) found, one case each: the
/// runbook loader refuses these with a message instead of escaping with an error of
/// the Lua bridge, or overflowing the stack.
@Suite struct LoaderFuzzFindingsTests {
    func load(_ text: String) async throws -> any Error {
        let dir = NSTemporaryDirectory() + "ferry-fuzz-finding-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try text.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        do {
            _ = try await RunbookLoader.load(path: dir + "/runbook.lua")
        } catch {
            return error
        }
        throw FerryError.failed("it loaded")
    }

    /// A library module (`return M`, a table of functions) given as a runbook: its return
    /// value was converted, and "a function value cannot be stored" escaped as a
    /// LuaConversionError. What a runbook file returns is now dropped.
    @Test func aFileThatReturnsFunctionsIsJudgedByItsDeclarations() async throws {
        let error = try await load("""
            local M = {}
            function M.switch_venv(host) return host end
            return M
            """)
        let problems = try #require(error as? ValidationErrors, "\(type(of: error)): \(error)")
        #expect(!problems.problems.isEmpty && problems.problems.allSatisfy { !$0.isEmpty })
        #expect(!"\(error)".contains("cannot be stored"))
    }

    /// A table nested 100,000 deep in a declaration: the prelude's copy recursed until
    /// Lua's stack overflowed (`ferry-prelude:30: stack overflow`, no runbook line), and
    /// the conversion into Swift had no limit either. Now refused at the declaring line.
    @Test func aDeclarationNestedTooDeepIsRefusedAtItsLine() async throws {
        let error = try await load("""
            local t = {}
            for _ = 1, 100000 do t = { t } end
            runbook { name = "deep", description = t }
            step "a" { run = function(ctx) end }
            """)
        let refused = try #require(error as? FerryError, "\(type(of: error)): \(error)")
        #expect(refused.message.contains("runbook.lua:3: tables nested deeper than 100 levels cannot be declared"), "\(refused.message)")
    }

    /// A declaration that contains itself names the declaring line (it named a frame
    /// past the runbook's before).
    @Test func aDeclarationThatContainsItselfIsRefusedAtItsLine() async throws {
        let error = try await load("""
            runbook { name = "cycle" }
            local t = {}
            t.me = { t }
            step "a" { run = function(ctx) end, tags = t }
            """)
        let refused = try #require(error as? FerryError, "\(type(of: error)): \(error)")
        #expect(refused.message.contains("runbook.lua:4: a table that contains itself cannot be declared"), "\(refused.message)")
    }
}
