@testable import FerryCore
import Foundation
import LuaBridge
import Testing
import FerryTestSupport

/// scripts/meta/ferry.lua must annotate exactly what the bridge gives runbooks.
@Suite struct MetaAnnotationsTests {
    static let root = Repository.root

    /// Every function and module table a runbook can reach, as `name`, `table.fn` or `Class:method`.
    func registered() async throws -> Set<String> {
        let f = try Fixture(runbook: "runbook { name = 'meta' }\nstep 'a' { run = function(ctx) end }")
        let runbook = try await f.load()
        let listing = try await runbook.vm.run(source: """
            local standard = {}
            for name in ("assert collectgarbage error getmetatable ipairs load next pairs pcall print rawequal rawget rawlen "
              .. "rawset require select setmetatable tonumber tostring type xpcall warn _G _VERSION string table math "
              .. "utf8 os io package debug"):gmatch("%S+") do standard[name] = true end
            local out = {}
            for name, value in next, _G do
              if type(name) == "string" and not standard[name] and name:sub(1, 2) ~= "__" then
                if type(value) == "function" then out[#out + 1] = name
                elseif type(value) == "table" then
                  out[#out + 1] = name .. " = {}"
                  for field, fn in next, value do
                    if type(fn) == "function" then out[#out + 1] = name .. "." .. field end
                  end
                end
              end
            end
            for class, mt in next, __ferry_classes do
              for method, fn in next, mt do
                if type(fn) == "function" and method:sub(1, 2) ~= "__" then out[#out + 1] = class .. ":" .. method end
              end
            end
            return table.concat(out, "\\n")
            """, chunkName: "=ferry-meta-test")
        return Set(listing.first?.stringValue?.split(separator: "\n").map(String.init) ?? [])
    }

    func annotated() throws -> Set<String> {
        let text = try String(contentsOfFile: Self.root + "/scripts/meta/ferry.lua", encoding: .utf8)
        var names = Set<String>()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("function "), let paren = line.firstIndex(of: "(") {
                names.insert(String(line[line.index(line.startIndex, offsetBy: 9)..<paren]))
            } else if let match = line.wholeMatch(of: /([a-z_]+) = \{\}/) {
                names.insert("\(match.1) = {}")
            }
        }
        return names
    }

    @Test func annotationsMatchWhatTheBridgeRegisters() async throws {
        let live = try await registered()
        let meta = try annotated()
        #expect(!live.isEmpty)
        #expect(live.subtracting(meta).sorted() == [], "registered but not annotated in scripts/meta/ferry.lua")
        #expect(meta.subtracting(live).sorted() == [], "annotated but not registered")
    }

    /// The natives registered under `__native` reach runbooks only through the prelude's
    /// globals and classes, which the test above compares with the meta file: every native
    /// must be called by the prelude (else it is dead, or the global meant to wrap it is
    /// missing), and every native the prelude calls must be registered.
    @Test func everyNativeIsWrappedByThePrelude() throws {
        let registered = RunbookLoader.natives(RuntimeBox()).map(\.name)
        #expect(registered.filter { !$0.hasPrefix("__native.") } == [], "natives outside __native")
        let natives = Set(registered.map { String($0.dropFirst("__native.".count)) })
        let called = Set(RunbookPrelude.source.matches(of: /\bnative\.([a-z0-9_]+)/).map { String($0.1) })
        #expect(!natives.isEmpty)
        #expect(natives.subtracting(called).sorted() == [], "registered under __native but not called by prelude.lua")
        #expect(called.subtracting(natives).sorted() == [], "called by prelude.lua but not registered")
    }
}
