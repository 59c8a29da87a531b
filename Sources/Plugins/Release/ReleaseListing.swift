import FerryCore
import LuaBridge

/// What `ferry releases [COMPONENT]` prints: the release order, then per component
/// and per release step the commands in order, required stops, online migrations,
/// API removals and endpoints.
public enum ReleaseListing {
    /// Text for one component (or all when nil), limited to the walk `from` → `to` when given.
    public static func text(component: String? = nil, from: String? = nil, to: String? = nil) throws -> String {
        let components = try selected(component)
        let window = try releases(from: from, to: to)
        var out = ""
        if component == nil {
            out += "Releases (oldest first; SLURP releases may be upgraded to the next SLURP directly):\n"
            for r in window {
                out += "  \(r.name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(r.series.padding(toLength: 10, withPad: " ", startingAt: 0)) "
                    + "\(r.released)\(r.slurp ? "  SLURP" : "")\n"
            }
            if let from, let to {
                let stops = try PluginRegistry.requiredStops(from: from, to: to)
                if Releases.skipSupported(from: from, to: to) {
                    out += "\n\(from) → \(to) is a SLURP hop: <component>.db_sync runs only \(to)'s step (and any required stop); "
                        + "slurp = false walks every release\n"
                }
                out += "\nRequired stops from \(from) to \(to)\(stops.isEmpty ? ": none" : ":")\n"
                for s in stops { out += "  \(s.release.padding(toLength: 9, withPad: " ", startingAt: 0)) \(s.component): \(s.why)\n" }
            }
            out += "\n"
        }
        for k in components {
            out += describe(k, window: window)
        }
        return out
    }

    /// The same as data, for `--json`.
    public static func json(component: String? = nil, from: String? = nil, to: String? = nil) throws -> LuaValue {
        let window = Set(try releases(from: from, to: to).map(\.name))
        var out: [String: LuaValue] = [:]
        for k in try selected(component) {
            out[k.component] = .map([
                "steps": .array(k.steps.filter { window.contains($0.release) }.map(\.luaValue)),
                "services": k.servicesLuaValue,
                "packages": .map(Dictionary(uniqueKeysWithValues: k.packages.map { ($0.key.rawValue, LuaValue.array($0.value.map { .string($0) })) })),
                "notes": .array(k.notes.map { .string($0) }),
            ])
        }
        if component == nil { out["releases"] = .array(Releases.all.filter { window.contains($0.name) }.map(\.luaValue)) }
        return .map(out)
    }

    static func selected(_ component: String?) throws -> [ComponentKnowledge] {
        let all = PluginRegistry.components.compactMap { PluginRegistry.knowledge[$0] }
        guard let component else { return all }
        guard let k = PluginRegistry.knowledge[component.lowercased()] else {
            throw FerryError.usage("no component '\(component)' (Ferry knows \(PluginRegistry.components.joined(separator: ", ")))")
        }
        return [k]
    }

    /// Releases from `from` (exclusive, like a chain) to `to` (inclusive); all without bounds.
    static func releases(from: String?, to: String?) throws -> [OpenStackRelease] {
        if from == nil && to == nil { return Releases.all }
        let start = try from.map { try Releases.named($0) } ?? Releases.all.first!
        let end = try to.map { try Releases.named($0) } ?? Releases.all.last!
        return from == nil ? [start] + (try Releases.chain(from: start.name, to: end.name)) : try Releases.chain(from: start.name, to: end.name)
    }

    static func describe(_ k: ComponentKnowledge, window: [OpenStackRelease]) -> String {
        let names = Set(window.map(\.name))
        let steps = k.steps.filter { names.contains($0.release) }
        var out = "\(k.component)\n"
        for note in k.notes { out += "  · \(note)\n" }
        let rpm = k.units(.rpm).joined(separator: ", ")
        let deb = k.units(.deb).joined(separator: ", ")
        out += "  services: rpm \(rpm); deb \(deb)\n"
        out += "  packages: rpm \((k.packages[.rpm] ?? []).joined(separator: ", ")); deb \((k.packages[.deb] ?? []).joined(separator: ", "))\n"
        if steps.isEmpty { out += "  (no release steps)\n" }
        for step in steps {
            let release = Releases.find(step.release)!
            out += "  \(release.name)\(release.slurp ? " (SLURP)" : "")\n"
            for (i, c) in step.commands.enumerated() {
                var line = "    \(i + 1). \(c.text)"
                if let tool = c.tool, tool != step.release { line += "   [with \(tool)'s tools]" }
                if let odm = c.onlineMigrations {
                    line += "   [repeat with \(odm.maxCountFlag) N until done; exit \(odm.exitCodeText)]"
                }
                out += line + "\n       \(c.purpose)\n"
                if let before = c.onlineMigrations?.requiredBefore { out += "       must be done before \(before)\n" }
            }
            out += "    required stop: " + (step.requiredStop.map { "yes — \($0)" } ?? "no") + "\n"
            for removal in step.apiRemovals { out += "    removes: \(removal)\n" }
            for e in step.endpoints { out += "    endpoint: \(e.serviceType) (\(e.serviceName)) \(e.guideURL) — \(e.why)\n" }
            for note in step.notes { out += "    note: \(note)\n" }
        }
        return out + "\n"
    }
}
