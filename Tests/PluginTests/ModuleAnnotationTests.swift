import FerryCore
import FerryPlugins
import Foundation
import Testing
import FerryTestSupport

/// scripts/meta/ferry.lua must annotate exactly the functions the plugin modules export.
@Suite struct ModuleAnnotationTests {
    static let root = Repository.root

    /// `module.fn` and `module.preflight.fn` from `name.x = function` lines.
    func annotated() throws -> Set<String> {
        let text = try String(contentsOfFile: Self.root + "/scripts/meta/ferry.lua", encoding: .utf8)
        var names = Set<String>()
        for line in text.split(separator: "\n") {
            if let m = line.wholeMatch(of: /([a-z]+)\.([a-z0-9_.]+) = function\(.*/) { names.insert("\(m.1).\(m.2)") }
        }
        return names
    }

    @Test func moduleFunctionsMatchTheirAnnotations() async throws {
        let modules = ["release", "glance", "cinder", "nova", "neutron", "keystone", "rabbitmq"]
        let runbook = try await loadRunbook("""
            runbook { name = "t" }
            step "x" { run = function(ctx) end }
            """)
        let listing = try await runbook.vm.run(source: """
            local out = {}
            local base = require("ferry.release").component("x")
            local function list(prefix, t, skip)
              for k, v in pairs(t) do
                if type(v) == "function" and not (skip and skip[k]) then out[#out + 1] = prefix .. k end
              end
            end
            for _, name in ipairs({ \(modules.map { "\"\($0)\"" }.joined(separator: ", ")) }) do
              local m = require("ferry." .. name)
              if name == "release" then list("release.", m) else
                list(name .. ".", m, base)
                list(name .. ".preflight.", m.preflight)
              end
            end
            list("component.", base)
            return table.concat(out, "\\n")
            """, chunkName: "=ferry-meta-test")
        let live = Set(listing.first?.stringValue?.split(separator: "\n").map(String.init) ?? [])
        let meta = try annotated()
        #expect(!live.isEmpty)
        #expect(live.subtracting(meta).sorted() == [], "exported but not annotated in scripts/meta/ferry.lua")
        #expect(meta.subtracting(live).sorted() == [], "annotated but not exported")
    }

    /// The plugins' natives (`__ferry_plugins.*`) reach runbooks only through the modules,
    /// whose functions the test above compares with the meta file: every native must be
    /// called by a module (as `native.<name>`, ferry.release's local for `__ferry_plugins`),
    /// and every native a module calls must be registered.
    @Test func everyPluginNativeIsCalledByAModule() throws {
        let extensions = PluginRegistry.extensions
        let registered = extensions.natives.map(\.name)
        #expect(registered.filter { !$0.hasPrefix("__ferry_plugins.") } == [], "natives outside __ferry_plugins")
        let natives = Set(registered.map { String($0.dropFirst("__ferry_plugins.".count)) })
        var called = Set<String>()
        for source in extensions.modules.values {
            for match in source.matches(of: /\bnative\.([a-z0-9_]+)/) { called.insert(String(match.1)) }
        }
        #expect(!natives.isEmpty)
        #expect(natives.subtracting(called).sorted() == [], "registered but called by no module")
        #expect(called.subtracting(natives).sorted() == [], "called by a module but not registered")
    }

    @Test func releasesListingShowsStepsStopsAndODM() throws {
        let text = try ReleaseListing.text(component: "cinder", from: "kilo", to: "queens")
        #expect(text.contains("  ocata\n    1. cinder-manage db sync"))
        #expect(text.contains("cinder-manage db online_data_migrations   [repeat with --max_count N until done; exit 0 done, 1 more]"))
        #expect(text.contains("required stop: yes — Pike's migration 097"))
        #expect(text.contains("endpoint: volumev3 (cinderv3) http://controller:8776/v3/%(project_id)s"))
        #expect(!text.contains("  rocky\n"))
        #expect(throws: FerryError.self) { try ReleaseListing.text(component: "swift") }
        let all = try ReleaseListing.text()
        #expect(all.contains("2026.1    Gazpacho   2026-04-01  SLURP"))
    }
}
