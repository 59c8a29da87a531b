import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// `scripts/install` into a temporary prefix, then Ferry used as an operator would use an
/// installed copy: from a directory that is no checkout, with the library found beside
/// the binary — `--version` with the commit, `ferry init`, then validate, plan and drill
/// of the skeleton, and a library runbook and region by name.
@Suite struct CLIInstallTests {
    @Test func anInstalledFerryInitsValidatesPlansAndDrillsFromOutsideAnyCheckout() async throws {
        let base = NSTemporaryDirectory() + "ferry-install-" + UUID().uuidString
        let prefix = base + "/prefix"
        let elsewhere = base + "/work"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }

        let install = try await ChildProcess.run("/bin/bash", [Repository.root + "/scripts/install", "--binary", FerryProcess.binary, prefix],
                                                 in: Repository.root)
        #expect(install.code == 0, "\(install.stderr)")
        let ferry = prefix + "/bin/ferry"
        for file in ["share/ferry/lib/upgrade.lua", "share/ferry/meta/ferry.lua", "share/ferry/meta/ferry/glance.lua", "share/ferry/meta/luacheck.lua",
                     "share/ferry/runbooks/sim-agents/main.lua", "share/ferry/regions/sim.yaml", "share/ferry/init/20-upgrade.lua",
                     "share/man/man1/ferry.1.gz", "share/bash-completion/completions/ferry", "share/zsh/vendor-completions/_ferry",
                     "share/fish/vendor_completions.d/ferry.fish"]
        {
            let size = (try? FileManager.default.attributesOfItem(atPath: prefix + "/" + file)[.size] as? Int) ?? 0
            #expect(size > 0, "\(file) installed")
        }
        let man = try shellOutput("zcat '\(prefix)/share/man/man1/ferry.1.gz'")
        #expect(man.contains(".SH FERRY DRILL") && man.contains("\\-\\-times"), "the man page describes every command's options")

        func run(_ args: [String], in dir: String) async throws -> ChildProcess.Output {
            try await ChildProcess.run(ferry, args, in: dir, environment: ["FERRY_SCRIPTS": ""])
        }
        let commit = try shellOutput("git -C '\(Repository.root)' describe --always --dirty --abbrev=12").trimmingCharacters(in: .whitespacesAndNewlines)
        let version = try await run(["--version"], in: elsewhere)
        #expect(version.code == 0)
        #expect(version.stdout.hasPrefix("ferry \(FerryLibrary.release) (commit \(commit),"), "\(version.stdout)")
        #expect(version.stdout.contains("library \(prefix)/share/ferry"), "\(version.stdout)")

        let initialized = try await run(["init", "upgrade"], in: elsewhere)
        #expect(initialized.code == 0, "\(initialized.stderr)")
        let repo = elsewhere + "/upgrade"
        let luacheckrc = try String(contentsOfFile: repo + "/.luacheckrc", encoding: .utf8)
        #expect(luacheckrc.contains("dofile(\"\(prefix)/share/ferry/meta/luacheck.lua\")"))
        let luarc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repo + "/.luarc.json"))) as? [String: Any]
        #expect((luarc?["workspace.library"] as? [String])?.contains(prefix + "/share/ferry/meta") == true)
        // A second init into it writes nothing.
        let again = try await run(["init", "upgrade"], in: elsewhere)
        #expect(again.code == 1 && again.stderr.contains("is not empty"), "\(again.stderr)")

        let validate = try await run(["validate", "."], in: repo)
        #expect(validate.code == 0 && validate.stdout.contains("ovs-agents: 2 step(s), 2 check(s) — valid"), "\(validate.stdout)\(validate.stderr)")
        let plan = try await run(["plan", ".", "-r", "region.yaml"], in: repo)
        #expect(plan.code == 0 && plan.stdout.contains("switch-agents"), "\(plan.stderr)")
        let drill = try await run(["drill", ".", "-r", "region.yaml", "--times", "1", "--journal", elsewhere + "/j.db"], in: repo)
        #expect(drill.code == 0, "\(drill.stdout)\(drill.stderr)")
        #expect(drill.stdout.contains("region back where it began each time"), "\(drill.stdout)")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/luacheck") {
            let lint = try await ChildProcess.run("/usr/bin/luacheck", ["."], in: repo)
            #expect(lint.code == 0, "\(lint.stdout)")
        }

        // The library's runbooks and regions by name, from the installed library.
        let library = try await run(["validate", "kilo-to-queens", "-r", "sim"], in: elsewhere)
        #expect(library.code == 0 && library.stdout.contains("— valid, selectors resolved on sim"), "\(library.stdout)\(library.stderr)")
    }
}
