import FerryCore
import FerrySimulation

/// Glance: `require "ferry.glance"`.
public struct GlancePlugin: ComponentPlugin {
    public init() {}
    public let name = "glance"
    public var knowledge: [ComponentKnowledge] { [GlanceKnowledge.knowledge] }
    public var simulation: (any SimComponent)? { GlanceSimulation() }

    /// `ferry.glance`: glance.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
    public var luaModule: String { Self.luaSource }
    static let luaSource = String(decoding: PackageResources.glance_lua, as: UTF8.self)
}
