import FerryCore
import FerrySimulation

/// Nova with Placement: `require "ferry.nova"` (placement's steps are `nova.placement`).
public struct NovaPlugin: ComponentPlugin {
    public init() {}
    public let name = "nova"
    public var knowledge: [ComponentKnowledge] { [NovaKnowledge.knowledge, NovaKnowledge.placement] }
    public var simulation: (any SimComponent)? { NovaSimulation() }

    /// `ferry.nova`: nova.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
    public var luaModule: String { Self.luaSource }
    static let luaSource = String(decoding: PackageResources.nova_lua, as: UTF8.self)
}
