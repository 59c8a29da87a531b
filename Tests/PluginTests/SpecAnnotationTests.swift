@testable import FerryCore
import FerryPlugins
import FerryTestSupport
import Foundation
import Testing

/// Issue 15: the spec classes of the LuaLS annotations (`---@class X: table<Keys, any>`, which
/// a language server holds a table written in place to) take exactly the keys that Ferry's
/// validation takes, so the editor flags what `ferry validate` rejects and nothing it accepts.
/// The keys a helper accepts are recorded from the library itself: a runbook replaces
/// `validate_spec` by a recorder and calls every annotated helper.
@Suite struct SpecAnnotationTests {
    /// The annotation files: the meta file, the plugin modules' and the library's modules.
    static func annotationFiles() throws -> [String] {
        let root = Repository.root + "/scripts"
        let lib = try FileManager.default.contentsOfDirectory(atPath: root + "/lib").filter { $0.hasSuffix(".lua") }.sorted()
        return [root + "/meta/ferry.lua"] + lib.map { root + "/lib/" + $0 }
    }

    /// Every closed spec class and its keys, aliases expanded.
    static func closedClasses() throws -> [String: Set<String>] {
        var aliases: [String: [String]] = [:]
        var classes: [String: [String]] = [:]
        for file in try annotationFiles() {
            let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            var i = 0
            while i < lines.count {
                let line = lines[i]
                if let m = line.wholeMatch(of: /---@alias ([\w.]+)( (.*))?/) {
                    var parts: [String] = m.3.map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
                    while i + 1 < lines.count, let v = lines[i + 1].wholeMatch(of: /---\| (.*)/) {
                        parts.append(String(v.1).trimmingCharacters(in: .whitespaces))
                        i += 1
                    }
                    aliases[String(m.1)] = parts
                } else if let m = line.wholeMatch(of: /---@class ([\w.]+): (.*)table<(.*), any>/) {
                    classes[String(m.1)] = String(m.3).split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                }
                i += 1
            }
        }
        func expand(_ parts: [String], depth: Int = 0) -> Set<String> {
            var out = Set<String>()
            for p in parts {
                if p.hasPrefix("\"") { out.insert(String(p.dropFirst().dropLast())) }
                else if depth < 5, let inner = aliases[p] { out.formUnion(expand(inner, depth: depth + 1)) }
                else { out.insert("<unknown alias \(p)>") }
            }
            return out
        }
        return classes.mapValues { expand($0) }
    }

    /// The helpers that take an annotated spec: (module, function, its parameters, class).
    static func annotatedHelpers() throws -> [(module: String, function: String, params: [String], class: String)] {
        var out: [(String, String, [String], String)] = []
        for file in try annotationFiles() {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let isMeta = file.hasSuffix("/meta/ferry.lua")
            let module = "lib." + URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            var pending: String?
            for line in text.split(separator: "\n") {
                if let m = line.wholeMatch(of: /---@param spec\??\s+([\w.]+)\??(\s.*)?/) { pending = String(m.1); continue }
                if line.hasPrefix("---") { continue }
                defer { pending = nil }
                guard let cls = pending else { continue }
                if !isMeta, let m = line.wholeMatch(of: /function M\.(\w+)\((.*)\)/) {
                    out.append((module, String(m.1), m.2.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, cls))
                } else if isMeta, let m = line.wholeMatch(of: /(\w+)\.(\w+) = function\((.*)\) end/) {
                    // `component.*` is every component module's: glance's stands for them.
                    let owner = m.1 == "component" ? "glance" : String(m.1)
                    out.append(("ferry." + owner, String(m.2), m.3.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, cls))
                }
            }
        }
        return out
    }

    @Test func everySpecClassTakesExactlyTheKeysItsHelpersAccept() async throws {
        let classes = try Self.closedClasses()
        let helpers = try Self.annotatedHelpers()
        #expect(helpers.count >= 40, "\(helpers.count) annotated helpers")
        for h in helpers { #expect(classes[h.class] != nil, "\(h.module).\(h.function): \(h.class) is not a closed spec class") }

        // Every helper once with an empty spec, the first validate_spec call recorded. The
        // in-step form of db_sync and online_migrations (`release = …`) and nova's (its
        // commands take transport_url) are probed too: the class covers both forms.
        // An empty table for each argument; lib.db_sync needs its component before it hands
        // the spec on, cinder's helpers their host.
        func argument(_ h: (module: String, function: String, params: [String], class: String)) -> String {
            if h.module == "lib.upgrade" && h.function == "db_sync" { return "{ component = 'glance' }" }
            return h.module == "ferry.cinder" ? "{ host = {} }" : "{}"
        }
        var probes = helpers.map { h in
            (key: "\(h.module).\(h.function)", cls: h.class,
             call: "require('\(h.module)').\(h.function)(" + h.params.map { _ in argument(h) }.joined(separator: ", ") + ")")
        }
        for (module, fn) in [("ferry.glance", "db_sync"), ("ferry.nova", "db_sync"), ("ferry.glance", "online_migrations")] {
            probes.append((key: "\(module).\(fn) in a step", cls: "DbSyncSpec", call: "require(\"\(module)\").\(fn)({ release = \"kilo\" })"))
        }
        probes.append((key: "ferry.nova.db_sync", cls: "DbSyncSpec", call: "require(\"ferry.nova\").db_sync({})"))
        probes.append((key: "lib.upgrade.db_sync", cls: "lib.DbSyncSpec", call: "require('lib.upgrade').db_sync({ component = 'nova' })"))
        let calls = probes.enumerated().map { i, p in "probe(\(i + 1), function() \(p.call) end)" }.joined(separator: "\n")
        let runbook = """
            runbook { name = "spec-keys" }
            local recorded = {}
            validate_spec = function(what, spec, ...)
              local keys = {}
              for i = 1, select("#", ...) do for _, k in ipairs(select(i, ...)) do keys[#keys + 1] = k end end
              error({ keys = keys }, 0)
            end
            local function probe(n, f)
              local ok, e = pcall(f)
              recorded[n] = (not ok and type(e) == "table") and table.concat(e.keys, ",")
                or ("no validate_spec call: " .. tostring(e):gsub("[\\n,]", " "))
            end
            \(calls)
            error("RECORDED;" .. table.concat(recorded, ";") .. ";END", 0)
            """
        let found = try await HelperSpecTests.problems(runbook)
        let listing = try #require(found.first { $0.contains("RECORDED") })
        let rows = (listing.components(separatedBy: "RECORDED;").last?.components(separatedBy: ";") ?? []).dropLast()
        #expect(rows.count == probes.count, "\(listing)")

        var accepted: [String: Set<String>] = [:]
        for (probe, row) in zip(probes, rows) {
            #expect(!row.hasPrefix("no validate_spec call"), "\(probe.key): \(row)")
            var keys = Set(row.split(separator: ",").map(String.init))
            // lib.db_sync hands its spec, less `component`, to the component's db_sync.
            if probe.key == "lib.upgrade.db_sync" { keys.insert("component") }
            accepted[probe.cls, default: []].formUnion(keys)
        }
        for (cls, keys) in accepted.sorted(by: { $0.key < $1.key }) {
            let annotated = classes[cls] ?? []
            #expect(keys.subtracting(annotated).sorted() == [], "\(cls): accepted by Ferry but not annotated (the editor would flag them)")
            #expect(annotated.subtracting(keys).sorted() == [], "\(cls): annotated but rejected by Ferry")
        }
    }

    /// docs/library.md gives phases.nova_neutron a `compute_canary` (the canary wave's size),
    /// which the phase reads; its spec check refused it ("unknown field 'compute_canary'").
    @Test func novaNeutronTakesTheComputeCanaryItDocuments() async throws {
        let found = try await HelperSpecTests.problems("""
            local phases = require "lib.phases"
            runbook { name = "canary", from = "kilo", to = "queens" }
            phases.nova_neutron { from = "kilo", to = "queens", compute_canary = 3 }
            """)
        #expect(found == [], "\(found)")
    }

    /// The declarations' own specs: step, check and runbook.
    @Test func theDeclarationClassesTakeTheDeclarationsFields() throws {
        let classes = try Self.closedClasses()
        #expect(classes["StepSpec"] == Set(DeclarationValidator.stepFields))
        #expect(classes["CheckSpec"] == Set(DeclarationValidator.checkFields))
        #expect(classes["RunbookSpec"] == Set(DeclarationValidator.runbookFields))
    }
}
