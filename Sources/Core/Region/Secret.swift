import Foundation
import LuaBridge

/// A secret named in a region file: `{ env: NAME }`, `{ file: path }`, or one key of a
/// file of secrets, `{ file: path, key: NAME }` (kolla's `passwords.yml`, OSA's
/// `user_secrets.yml`, an INI file's `section.option`, an openrc's `OS_PASSWORD`), which
/// may be encrypted with ansible-vault, as a whole or value by value (`!vault |`). It is
/// resolved only when used, and its value is never printed, logged or journaled.
public enum SecretReference: Sendable, Hashable, CustomStringConvertible {
    case environment(String)
    /// `vaultPasswordFile`: the vault's password file (else `ANSIBLE_VAULT_PASSWORD_FILE`).
    case file(String, key: String? = nil, vaultPasswordFile: String? = nil)

    /// The keys a file reference may have besides `file`.
    public static let fileKeys: Set<String> = ["file", "key", "vault_password_file"]
    public static let shapes = "a secret reference is { env: NAME }, { file: PATH } or { file: PATH, key: NAME } (with vault_password_file: PATH for an ansible-vault file)"

    /// Recognises the reference form of a value, if it has it.
    public init?(_ value: LuaValue) {
        guard case .map(let m) = value else { return nil }
        if m.count == 1, let name = m["env"]?.stringValue {
            self = .environment(name)
        } else if let path = m["file"]?.stringValue, Set(m.keys).isSubset(of: Self.fileKeys) {
            let key = m["key"]
            let vault = m["vault_password_file"]
            guard key == nil || key?.stringValue?.isEmpty == false,
                  vault == nil || vault?.stringValue?.isEmpty == false
            else { return nil }
            self = .file(path, key: key?.stringValue, vaultPasswordFile: vault?.stringValue)
        } else {
            return nil
        }
    }

    /// Whether a mapping is meant as a reference (it has `env` or `file` and nothing a
    /// reference would not have, or a key one edit away from a reference's): what the
    /// region loader holds to the reference shapes.
    public static func looksLikeReference(_ keys: Set<String>) -> Bool {
        guard keys.contains("env") || keys.contains("file") else { return false }
        if keys.count == 1 { return true }
        return keys.allSatisfy { k in k == "env" || nearest(to: k, among: fileKeys, within: 2) != nil }
    }

    /// Where to find it, never the value itself.
    public var description: String {
        switch self {
        case .environment(let name): return "{env: \(name)}"
        case .file(let path, let key, _):
            return key.map { "{file: \(path), key: \($0)}" } ?? "{file: \(path)}"
        }
    }

    /// `programs`: the vault password programs (executable password files) this caller may
    /// run; nil for any. A runbook's `secret()` passes the ones the region file names, so
    /// Lua cannot make Ferry run a program of its choosing.
    public func resolve(relativeTo directory: String? = nil, programs: Set<String>? = nil) throws -> String {
        switch self {
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw FerryError.failed("secret \(self): environment variable \(name) is not set")
            }
            return value
        case .file(let path, let key, let vaultFile):
            let expanded = RegionPaths.expand(path, relativeTo: directory)
            guard let data = FileManager.default.contents(atPath: expanded) else {
                throw FerryError.failed("secret \(self): cannot read \(expanded)")
            }
            let vault = VaultPassword(file: vaultFile, relativeTo: directory, programs: programs)
            do {
                var text = String(decoding: data, as: UTF8.self)
                if AnsibleVault.isVault(text) { text = try AnsibleVault.decrypt(text, password: vault.read(for: expanded)) }
                guard let key else { return text.trimmingCharacters(in: .newlines) }
                return try SecretFile.value(of: key, in: text, vault: vault, file: expanded)
            } catch let failure as AnsibleVault.Failure {
                throw FerryError.failed("secret \(self): \(expanded): \(failure)")
            } catch let error as FerryError {
                throw FerryError.failed("secret \(self): \(error.message)")
            }
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
    /// The vault password files the region file names (expanded), and the one
    /// `ANSIBLE_VAULT_PASSWORD_FILE` names: the only programs a runbook's `secret()` may run.
    public var vaultPasswordPrograms: Set<String> {
        var out: Set<String> = []
        func walk(_ v: LuaValue) {
            switch v {
            case .map(let m):
                if case .file(_, _, let vault?)? = SecretReference(v) { out.insert(RegionPaths.expand(vault, relativeTo: directory)) }
                m.values.forEach(walk)
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        for v in [databases, vips, vars, releases].flatMap({ $0.values }) + [keystone, broker] { walk(v) }
        if let env = ProcessInfo.processInfo.environment["ANSIBLE_VAULT_PASSWORD_FILE"], !env.isEmpty {
            out.insert(RegionPaths.expand(env, relativeTo: nil))
        }
        return out
    }

    /// A setting that may be a secret reference, resolved now (at use); plain text as is.
    public func secretValue(_ value: LuaValue) throws -> String? {
        if let ref = SecretReference(value) { return try ref.resolve(relativeTo: directory) }
        return value.stringValue
    }
}
