import FerryCore
import LuaBridge

/// `require "ferry.release"`: the release order, chains, each component's steps,
/// and the helpers every component module is built from (where a release's tools
/// live, running a release step, the online-migration loop).
enum ReleaseModule {
    /// Natives under `__ferry_plugins` (a `__` global: not part of the runbook API;
    /// the modules capture it when they load).
    static let natives: [LuaFunction] = [
        LuaFunction("__ferry_plugins.releases") { _ in .value(.array(Releases.all.map(\.luaValue))) },
        LuaFunction("__ferry_plugins.chain") { call in
            .value(.array(try Releases.chain(from: try call.string(1), to: try call.string(2)).map { .string($0.name) }))
        },
        LuaFunction("__ferry_plugins.info") { call in .value(try Releases.named(try call.string(1)).luaValue) },
        LuaFunction("__ferry_plugins.index") { call in
            .value(.int(Int64(Releases.index(try Releases.named(try call.string(1)).name)! + 1)))
        },
        LuaFunction("__ferry_plugins.steps") { call in
            let k = try knowledge(try call.string(1))
            let slurp = call.count >= 4 ? (try call.value(4)).boolValue ?? false : false
            return .value(.array(try k.steps(from: try call.string(2), to: try call.string(3), slurp: slurp).map(\.luaValue)))
        },
        LuaFunction("__ferry_plugins.required_stops") { call in
            let stops = try PluginRegistry.requiredStops(from: try call.string(1), to: try call.string(2))
            return .value(.array(stops.map { .map(["release": .string($0.release), "component": .string($0.component), "why": .string($0.why)]) }))
        },
        LuaFunction("__ferry_plugins.step") { call in
            let k = try knowledge(try call.string(1))
            let release = try Releases.named(try call.string(2))
            return .value(k.step(for: release.name)?.luaValue ?? .nil)
        },
        LuaFunction("__ferry_plugins.units") { call in
            let k = try knowledge(try call.string(1))
            let family = try family(try call.string(2))
            let release = try call.optionalString(4).map { try Releases.named($0).name }
            return .value(.array(k.units(family, role: try call.optionalString(3), release: release).map { .string($0) }))
        },
        LuaFunction("__ferry_plugins.packages") { call in
            let k = try knowledge(try call.string(1))
            return .value(.array((k.packages[try family(try call.string(2))] ?? []).map { .string($0) }))
        },
    ]

    static func knowledge(_ component: String) throws -> ComponentKnowledge {
        guard let k = PluginRegistry.knowledge[component] else {
            throw FerryError.invalid(
                "no release knowledge for '\(component)' (Ferry knows \(PluginRegistry.components.joined(separator: ", ")))")
        }
        return k
    }

    static func family(_ name: String) throws -> PackageFamily {
        try PackageFamily.named(.string(name))
    }
}
