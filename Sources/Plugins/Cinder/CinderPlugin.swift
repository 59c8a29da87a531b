import FerryCore
import FerrySimulation

/// Cinder: `require "ferry.cinder"`.
public struct CinderPlugin: ComponentPlugin {
    public init() {}
    public let name = "cinder"
    public var knowledge: [ComponentKnowledge] { [CinderKnowledge.knowledge] }
    public var simulation: (any SimComponent)? { CinderSimulation() }

    /// `ferry.cinder`: cinder.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
    public var luaModule: String { Self.luaSource }
    static let luaSource = String(decoding: PackageResources.cinder_lua, as: UTF8.self)
}
