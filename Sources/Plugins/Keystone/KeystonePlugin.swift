import FerryCore
import FerrySimulation

/// Keystone: `require "ferry.keystone"`.
public struct KeystonePlugin: ComponentPlugin {
    public init() {}
    public let name = "keystone"
    public var knowledge: [ComponentKnowledge] { [KeystoneKnowledge.knowledge] }
    public var simulation: (any SimComponent)? { KeystoneSimulation() }

    /// `ferry.keystone`: keystone.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
    public var luaModule: String { Self.luaSource }
    static let luaSource = String(decoding: PackageResources.keystone_lua, as: UTF8.self)
}
