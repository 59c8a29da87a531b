import Foundation
import LuaBridge

/// A secret named in a region file: `{ env: NAME }` or `{ file: path }`. It is
/// resolved only when used, and its value is never printed, logged or journaled.
public enum SecretReference: Sendable, Hashable, CustomStringConvertible {
    case environment(String)
    case file(String)

    /// Recognises the reference form of a value, if it has it.
    public init?(_ value: LuaValue) {
        guard case .map(let m) = value, m.count == 1 else { return nil }
        if let name = m["env"]?.stringValue {
            self = .environment(name)
        } else if let path = m["file"]?.stringValue {
            self = .file(path)
        } else {
            return nil
        }
    }

    /// Where to find it, never the value itself.
    public var description: String {
        switch self {
        case .environment(let name): return "{env: \(name)}"
        case .file(let path): return "{file: \(path)}"
        }
    }

    public func resolve(relativeTo directory: String? = nil) throws -> String {
        switch self {
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw FerryError.failed("secret \(self): environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            let expanded = RegionPaths.expand(path, relativeTo: directory)
            guard let data = FileManager.default.contents(atPath: expanded) else {
                throw FerryError.failed("secret \(self): cannot read \(expanded)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
    }
}

/// Paths written in a region file: `~/` is the home directory, a relative path is taken
/// from the file's directory.
public enum RegionPaths {
    /// The home directory `~/` means: `$HOME`, as in the operator's shell, else the user's
    /// entry in the password database (which is all Foundation reads on Linux).
    public static var home: String {
        if let home = ProcessInfo.processInfo.environment["HOME"], home.hasPrefix("/") {
            return home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        }
        return FileManager.default.homeDirectoryForCurrentUser.path
    }

    public static func expand(_ path: String, relativeTo directory: String?) -> String {
        if path.hasPrefix("~/") {
            return home + String(path.dropFirst(1))
        }
        if path.hasPrefix("/") { return path }
        guard let directory else { return path }
        return URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
    }
}

extension Region {
    /// A setting that may be a secret reference, resolved now (at use); plain text as is.
    public func secretValue(_ value: LuaValue) throws -> String? {
        if let ref = SecretReference(value) { return try ref.resolve(relativeTo: directory) }
        return value.stringValue
    }
}
