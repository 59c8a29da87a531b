/// The Lua source of `ferry.release`: the release order for runbooks, and the helpers
/// every component module is built from (`release.component(name)`). The source is
/// release.lua beside this file, embedded in the binary (Package.swift, `.embedInCode`).
extension ReleaseModule {
    static let source = String(decoding: PackageResources.release_lua, as: UTF8.self)
}
