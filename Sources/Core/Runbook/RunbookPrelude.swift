/// The runbook language as Lua sees it. Declarations (`runbook`, `step`, `check`)
/// collect data for the loader; the runtime API wraps the native primitives
/// registered under `__native` (which this chunk hides from runbooks).
/// The source is prelude.lua beside this file, embedded in the binary (Package.swift,
/// `.embedInCode`); RunbookLoader runs it as the chunk `=ferry-prelude`.
enum RunbookPrelude {
    static let source = String(decoding: PackageResources.prelude_lua, as: UTF8.self)
}
