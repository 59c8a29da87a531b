import Foundation
import LuaBridge

/// A run's inputs from the command line (issue 15): `--vars FILE` (a YAML mapping) and
/// `-e KEY=VALUE`, over the region's `vars:` in that order (a later one wins), visible to
/// the runbook as `ctx.vars`. They are journaled with the run (``RunOptions/vars``), so a
/// resume and a rollback see what the run saw. A secret reference (`{env: NAME}`,
/// `{file: PATH, key: NAME}`) stays a reference: its value is read only by `secret()`,
/// never journaled or shown.
public enum RunInputs {
    /// The inputs of `files` (each a YAML mapping), then of `assignments` (`KEY=VALUE`; a
    /// VALUE starting with `{` or `[` is YAML, e.g. `-e 'db_password={env: DB_PASSWORD}'`;
    /// any other is a string). Relative secret files are relative to the vars file, or
    /// to `directory` (the working directory) for `-e`.
    public static func parse(assignments: [String], files: [String],
                             directory: String = FileManager.default.currentDirectoryPath) throws -> [String: LuaValue]
    {
        var out: [String: LuaValue] = [:]
        for file in files {
            let path = file.hasPrefix("/") ? file : directory + "/" + file
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FerryError.usage("--vars \(file): cannot read it (does it exist?)")
            }
            guard let node = try YAMLNode.parse(String(decoding: data, as: UTF8.self), file: path) else { continue }
            guard case .map(let m) = try node.value() else {
                throw FerryError.usage("--vars \(file): expected a mapping of variables (key: value)")
            }
            try RegionLoader.checkSecrets(.map(m), at: node)
            out.merge(m) { $1 }
        }
        for assignment in assignments {
            guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                throw FerryError.usage("-e \(assignment): expected KEY=VALUE (e.g. -e venv_root=/opt/venvs)")
            }
            let key = String(assignment[..<eq])
            let text = String(assignment[assignment.index(after: eq)...])
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw FerryError.usage("-e \(assignment): '\(key)' is not a variable name (letters, digits, _ and -)")
            }
            guard text.hasPrefix("{") || text.hasPrefix("[") else {
                out[key] = .string(text)
                continue
            }
            let where_ = directory + "/-e \(key)"
            guard let node = try YAMLNode.parse(text, file: where_) else { out[key] = .string(text); continue }
            let value = try node.value()
            try RegionLoader.checkSecrets(value, at: node)
            out[key] = value
        }
        return out
    }

    /// The region's vars with the inputs over them: what `ctx.vars` holds.
    public static func merged(_ vars: [String: LuaValue], _ inputs: [String: LuaValue]?) -> [String: LuaValue] {
        guard let inputs, !inputs.isEmpty else { return vars }
        return vars.merging(inputs) { $1 }
    }

    /// One line per input, `KEY=VALUE`, a secret reference shown as the reference.
    public static func describe(_ inputs: [String: LuaValue]) -> [String] {
        inputs.keys.sorted().map { key in
            let v = inputs[key]!
            if let ref = SecretReference(v) { return "\(key)=\(ref) (secret reference)" }
            if case .string(let s) = v { return "\(key)=\(TerminalText.neutralized(s))" }
            return "\(key)=\(v.jsonString())"
        }
    }
}
