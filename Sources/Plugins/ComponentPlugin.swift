import FerryCore
import LuaBridge

/// What a component plugin (Glance, Cinder, Nova, …) gives Ferry: a Lua module
/// (`require "ferry.<name>"`) and the natives behind it. Adding a component is
/// adding a folder with one type conforming to this protocol and listing it in
/// ``PluginRegistry``.
public protocol ComponentPlugin: Sendable {
    /// The component, e.g. `glance`; the module is `ferry.<name>`.
    var name: String { get }
    /// The Lua source of the module.
    var luaModule: String { get }
    /// Native functions the module calls.
    var natives: [LuaFunction] { get }
}

/// The plugins compiled into Ferry.
public enum PluginRegistry {
    public static let all: [any ComponentPlugin] = []

    /// The loader extensions every runbook gets.
    public static var extensions: RunbookLoader.Extensions {
        var modules: [String: String] = [:]
        var natives: [LuaFunction] = []
        for plugin in all {
            modules["ferry.\(plugin.name)"] = plugin.luaModule
            natives += plugin.natives
        }
        return RunbookLoader.Extensions(natives: natives, modules: modules)
    }
}
