import Foundation
import Yams

/// One key of a file of secrets, for `{ file: PATH, key: NAME }`. The file's form is taken
/// from its content:
/// - a YAML (or JSON) mapping: `key` is a top-level key (kolla's `passwords.yml`, OSA's
///   `user_secrets.yml`), or a dotted path through nested mappings when no top-level key
///   has the whole name; a value may be an inline vault (`!vault |`);
/// - an INI file (a line `[section]`): `key` is `section.option`, or `option` of `[DEFAULT]`;
/// - otherwise shell assignments (`export OS_PASSWORD='…'`, an openrc or `.env` file):
///   `key` is the variable's name; single and double quotes are taken off as the shell would.
/// Errors name keys and files, never values.
enum SecretFile {
    static func value(of key: String, in text: String, vault: VaultPassword, file: String) throws -> String {
        if let root = try? Yams.compose(yaml: text), case .mapping(let mapping) = root {
            return try yamlValue(key, in: mapping, vault: vault, file: file)
        }
        if text.split(separator: "\n").contains(where: { isSectionLine($0) }) {
            return try iniValue(key, in: text, file: file)
        }
        return try shellValue(key, in: text, file: file)
    }

    private static func isSectionLine(_ line: Substring) -> Bool {
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.hasPrefix("[") && t.hasSuffix("]") && t.count > 2
    }

    private static func missing(_ key: String, _ known: [String], _ file: String) -> FerryError {
        let hint = nearest(to: key, among: known, within: max(2, key.count / 4)).map { " (did you mean \($0)?)" } ?? ""
        return FerryError.failed("no key \(key) in \(file)\(hint)")
    }

    private static func yamlValue(_ key: String, in mapping: Node.Mapping, vault: VaultPassword, file: String) throws -> String {
        func lookup(_ name: String, _ m: Node.Mapping) -> Node? {
            m.first { $0.key.string == name }?.value
        }
        var node = lookup(key, mapping)
        if node == nil, key.contains(".") {
            var current: Node? = .mapping(mapping)
            for part in key.split(separator: ".") {
                guard case .mapping(let m)? = current else { current = nil; break }
                current = lookup(String(part), m)
            }
            node = current
        }
        guard let node else { throw missing(key, mapping.compactMap { $0.key.string }, file) }
        guard case .scalar(let scalar) = node else {
            throw FerryError.failed("key \(key) in \(file) is not a single value (a \(node.mapping != nil ? "mapping" : "list"))")
        }
        if scalar.tag.description == "!vault" || AnsibleVault.isVault(scalar.string) {
            do {
                return try AnsibleVault.decrypt(scalar.string, password: vault.read(for: file))
            } catch let failure as AnsibleVault.Failure {
                throw FerryError.failed("key \(key) in \(file): \(failure)")
            }
        }
        return scalar.string
    }

    private static func iniValue(_ key: String, in text: String, file: String) throws -> String {
        let doc = IniDocument(text)
        let (section, option): (String, String) = {
            guard let dot = key.firstIndex(of: ".") else { return ("DEFAULT", key) }
            return (String(key[..<dot]), String(key[key.index(after: dot)...]))
        }()
        if let value = doc.get(section, option) { return value }
        throw FerryError.failed("no option \(option) in section [\(section)] of \(file) (key is section.option)")
    }

    private static func shellValue(_ key: String, in text: String, file: String) throws -> String {
        let assignments = shellAssignments(text)
        if let found = assignments[key] { return found }
        throw missing(key, Array(assignments.keys), file)
    }

    /// The variables a file of shell assignments sets (`NAME=word`, `export NAME=word`; the
    /// last assignment of a name wins, as in the shell). Nothing is run or expanded.
    static func shellAssignments(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for raw in text.split(separator: "\n") {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<eq])
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) else { continue }
            out[name] = unquote(String(line[line.index(after: eq)...]))
        }
        return out
    }

    /// A shell word: 'single' taken literally, "double" with \" \\ \$ \` unescaped, bare
    /// text up to an unquoted space or `#`, and these joined.
    static func unquote(_ word: String) -> String {
        var out = ""
        var chars = Array(word)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            switch c {
            case "'":
                while let d = chars.first, d != "'" { out.append(d); chars = chars.dropFirst() }
                chars = chars.dropFirst()
            case "\"":
                while let d = chars.first, d != "\"" {
                    chars = chars.dropFirst()
                    if d == "\\", let e = chars.first, "\"\\$`".contains(e) { out.append(e); chars = chars.dropFirst() } else { out.append(d) }
                }
                chars = chars.dropFirst()
            case "\\":
                if let e = chars.first { out.append(e); chars = chars.dropFirst() }
            case " ", "\t", "#":
                return out
            default:
                out.append(c)
            }
        }
        return out
    }
}

/// Where a vault's password comes from: the reference's `vault_password_file`, else
/// Ansible's `ANSIBLE_VAULT_PASSWORD_FILE`. As in Ansible (`parsing/vault/__init__.py`,
/// FileVaultSecret / ScriptVaultSecret), an executable file is run and its output is the
/// password; a plain file's content, stripped, is.
struct VaultPassword {
    let path: String?
    let programs: Set<String>?

    init(file: String?, relativeTo directory: String?, programs: Set<String>? = nil,
         environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.programs = programs
        if let file {
            path = RegionPaths.expand(file, relativeTo: directory)
        } else if let env = environment["ANSIBLE_VAULT_PASSWORD_FILE"], !env.isEmpty {
            path = RegionPaths.expand(env, relativeTo: nil)
        } else {
            path = nil
        }
    }

    func read(for vaultFile: String) throws -> String {
        guard let path else {
            throw FerryError.failed("\(vaultFile) is encrypted with ansible-vault: name its password file with vault_password_file: PATH in the reference, or set ANSIBLE_VAULT_PASSWORD_FILE")
        }
        if FileManager.default.isExecutableFile(atPath: path) {
            if let programs, !programs.contains(path) {
                throw FerryError.failed("the vault password file \(path) is a program, and a runbook's secret() runs only the ones the region file (or ANSIBLE_VAULT_PASSWORD_FILE) names")
            }
            let out = try runScript(path)
            return String(out.reversed().drop(while: { $0 == "\n" || $0 == "\r" }).reversed())
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError.failed("cannot read the vault password file \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func runScript(_ path: String) throws -> String {
        let result: LocalProgram.Result
        do { result = try LocalProgram.run(path) } catch {
            throw FerryError.failed("cannot run the vault password script \(path): \(error)")
        }
        guard result.status == 0 else {
            throw FerryError.failed("the vault password script \(path) exited \(result.status)")
        }
        return String(decoding: result.stdout, as: UTF8.self)
    }
}
