import FerryCore
import FerrySimulation

/// Neutron: `require "ferry.neutron"`.
public struct NeutronPlugin: ComponentPlugin {
    public init() {}
    public let name = "neutron"
    public var knowledge: [ComponentKnowledge] { [NeutronKnowledge.knowledge] }
    public var simulation: (any SimComponent)? { NeutronSimulation() }

    /// `ferry.neutron`: neutron.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
    public var luaModule: String { Self.luaSource }
    static let luaSource = String(decoding: PackageResources.neutron_lua, as: UTF8.self)
}
