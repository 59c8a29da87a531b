import FerryCore
import FerrySimulation
import LuaBridge

/// What a component plugin (Glance, Cinder, Nova, …) gives Ferry: a Lua module
/// (`require "ferry.<name>"`), the natives behind it, its release knowledge and how
/// the simulated region runs its commands. Adding a component is adding a folder
/// with one type conforming to this protocol and listing it in ``PluginRegistry``.
public protocol ComponentPlugin: Sendable {
    /// The component, e.g. `glance`; the module is `ferry.<name>`.
    var name: String { get }
    /// The Lua source of the module.
    var luaModule: String { get }
    /// Native functions the module calls.
    var natives: [LuaFunction] { get }
    /// Release steps, services and packages: one entry per component the plugin
    /// covers (the Nova plugin also covers Placement).
    var knowledge: [ComponentKnowledge] { get }
    /// How the simulated region seeds and runs this component.
    var simulation: (any SimComponent)? { get }
}

extension ComponentPlugin {
    public var natives: [LuaFunction] { [] }
    public var knowledge: [ComponentKnowledge] { [] }
    public var simulation: (any SimComponent)? { nil }
}

/// The plugins compiled into Ferry.
public enum PluginRegistry {
    public static let all: [any ComponentPlugin] = [
        KeystonePlugin(), GlancePlugin(), CinderPlugin(), NovaPlugin(), NeutronPlugin(), RabbitMQPlugin(),
    ]

    /// Every component's release knowledge, by component name.
    public static var knowledge: [String: ComponentKnowledge] {
        var out: [String: ComponentKnowledge] = [:]
        for plugin in all { for k in plugin.knowledge { out[k.component] = k } }
        return out
    }

    /// Component names with release knowledge, in the order of ``all``.
    public static var components: [String] { all.flatMap { $0.knowledge.map(\.component) } }

    /// The releases of the walk `from` → `to` that some component cannot skip, in
    /// release order: `(release, component, why)`.
    public static func requiredStops(from: String, to: String) throws -> [(release: String, component: String, why: String)] {
        let chain = try Releases.chain(from: from, to: to)
        var out: [(release: String, component: String, why: String)] = []
        for r in chain {
            for name in components {
                if let why = knowledge[name]?.step(for: r.name)?.requiredStop { out.append((r.name, name, why)) }
            }
        }
        return out
    }

    /// What the simulated region needs to know each component.
    public static var simComponents: [any SimComponent] { all.compactMap(\.simulation) }

    /// The loader extensions every runbook gets.
    public static var extensions: RunbookLoader.Extensions {
        var modules: [String: String] = ["ferry.release": ReleaseModule.source]
        var natives: [LuaFunction] = ReleaseModule.natives
        for plugin in all {
            modules["ferry.\(plugin.name)"] = plugin.luaModule
            natives += plugin.natives
        }
        // `release` is a global (docs/design-facts.md#release-is-a-global); `require "ferry.release"` gives the same table.
        return RunbookLoader.Extensions(natives: natives, modules: modules, globals: ["release": "ferry.release"])
    }
}
