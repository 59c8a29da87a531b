import FerryCore
import FerrySimulation
import Foundation

/// One release's config schema of a component: per config file, each section's options, as
/// scripts/knowledge/config-schema.py lists them from the release's own code (the project's
/// `oslo.config.opts` namespaces, run in the release's virtualenv) into
/// Sources/Plugins/<Component>/Schemas/<component>-<release>.txt.
struct ConfigSchema: Sendable {
    enum Kind: Sendable, Equatable {
        /// Registered in this section.
        case option
        /// An option of a keystoneauth1 auth plugin, registered when `auth_type` names the plugin.
        case plugin
        /// A deprecated name, read as `group/name`.
        case deprecated(String)
        /// Deprecated for removal (still read).
        case removal
    }

    let release: String
    /// Where it came from, for messages: `nova 17.0.13's oslo.config.opts (Schemas/nova-queens.txt)`.
    let source: String
    /// file → section (``section(_:)``) → option → kind.
    private(set) var files: [String: [String: [String: Kind]]] = [:]

    /// Parses a schema file (the format its header and config-schema.py describe).
    init(release: String, text: String, file: String) {
        self.release = release
        var project = "\(release) code"
        var file0: String?
        var section: String?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("# Config schema of "), let paren = line.range(of: " (") {
                project = String(line[line.index(line.startIndex, offsetBy: "# Config schema of ".count)..<paren.lowerBound])
            }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("@file ") {
                file0 = String(line.dropFirst("@file ".count))
                section = nil
            } else if line.hasPrefix("["), line.hasSuffix("]") {
                section = Self.section(String(line.dropFirst().dropLast()))
            } else if let f = file0, let s = section {
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                let kind: Kind
                switch parts.count > 1 ? parts[1] : "" {
                case "~": kind = .plugin
                case "-": kind = .removal
                case let m where m.hasPrefix("< "): kind = .deprecated(String(m.dropFirst(2)))
                default: kind = .option
                }
                files[f, default: [:]][s, default: [:]][parts[0]] = kind
            }
        }
        source = "\(project)'s oslo.config.opts (Schemas/\(file))"
    }

    /// oslo.config's group names: `DEFAULT` as written, any other lower case
    /// (openstack/oslo.config@5.2.0 oslo_config/cfg.py `_normalize_group_name`).
    static func section(_ name: String) -> String { name == "DEFAULT" ? name : name.lowercased() }

    func kind(_ file: String, _ section: String, _ option: String) -> Kind? { files[file]?[Self.section(section)]?[option] }
    func sections(_ file: String) -> [String] { files[file].map { Array($0.keys) } ?? [] }
    func options(_ file: String, _ section: String) -> [String] { files[file]?[Self.section(section)].map { Array($0.keys) } ?? [] }
}

/// Judges the configuration files a unit reads against its component's schema of the unit's
/// release (see "Config files are judged" in docs/simulation.md). oslo.config itself ignores an
/// option it does not know and the service starts; the rehearsal does not hide one:
/// - an option in no schema the component has (a typo) refuses the start, naming the file, section,
///   option, release and schema, with the closest known option;
/// - an option another release has (removed, or not yet added), or one an older release without a
///   schema is known to have had (``older``), is recorded, not judged (a real service ignores it);
/// - a section the configuration itself makes (a backend named in `enabled_backends`) is judged
///   as far as the schema knows it (``Dynamic/like``), the rest recorded;
/// - a release without a schema is recorded, not judged.
struct ConfigJudge: Sendable {
    /// A file a unit reads: its path on the host and the schema's `@file` it follows.
    struct File: Sendable {
        let path: String
        let schema: String
        init(_ path: String, _ schema: String) { (self.path, self.schema) = (path, schema) }
    }

    /// A section whose options the configuration registers at start.
    struct Dynamic: Sendable {
        /// Sections of the schema whose options it also has (cinder's `backend_defaults`).
        let like: [String]
        /// Why the rest is not judged.
        let why: String
    }

    /// An option of a release the simulation has no schema for, known from its source.
    struct Older: Sendable, Hashable {
        let file: String
        let section: String
        let option: String
    }

    let component: String
    /// Its schemas by release.
    let schemas: [String: ConfigSchema]
    /// Options of older releases (no schema) and where they are known from: `kilo (openstack/nova@2015.1.0 …)`.
    var older: [Older: String] = [:]
    /// Option names the component's source defines at releases without a schema (Kilo–Newton; a text scan with no
    /// section, `Schemas/<component>-older.txt` by scripts/knowledge/config-older.py): name → releases.
    var olderNames: [String: [String]] = [:]
    /// The sections a file's contents make dynamic (section, as ``ConfigSchema/section(_:)``, → how).
    var dynamic: @Sendable (_ file: String, _ ini: IniDocument) -> [String: Dynamic] = { _, _ in [:] }

    /// Loads `<component>-<release>.txt` texts: (release, text).
    init(component: String, schemas: [(String, [UInt8])], older: [UInt8]? = nil) {
        self.component = component
        for line in String(decoding: older ?? [], as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let words = line.split(separator: " ").map(String.init)
            if words.count > 1 { olderNames[words[0]] = Array(words.dropFirst()) }
        }
        var all: [String: ConfigSchema] = [:]
        for (release, bytes) in schemas {
            all[release] = ConfigSchema(release: release, text: String(decoding: bytes, as: UTF8.self), file: "\(component)-\(release).txt")
        }
        self.schemas = all
    }

    /// The releases with a schema, oldest first.
    var releases: [String] { schemas.keys.sorted { (Sim.index($0) ?? 0) < (Sim.index($1) ?? 0) } }

    func judge(unit: String, host: String, release: String, files: [File], state: SimState) -> SimConfigVerdict {
        let present = files.compactMap { f in state.hosts[host]?.files[f.path].map { (f, IniDocument($0)) } }
        guard !present.isEmpty else { return SimConfigVerdict() }
        guard let schema = schemas[release] else {
            let paths = present.map(\.0.path).joined(separator: ", ")
            let have = releases.isEmpty ? "none" : releases.joined(separator: ", ")
            return SimConfigVerdict(unjudged: [.init(text: "\(component) \(release) configuration: \(paths)",
                                                     why: "no config schema of \(component) \(release) (schemas: \(have)); its options are not judged")])
        }
        let schemaFiles = files.map(\.schema)
        func known(_ s: ConfigSchema, _ section: String, _ option: String) -> Bool {
            schemaFiles.contains { s.kind($0, section, option) != nil }
        }
        var unjudged: [SimConfigVerdict.Unjudged] = []
        for (file, ini) in present {
            let dynamic = self.dynamic(file.schema, ini)
            for entry in ini.outline {
                guard let key = entry.key else { continue }
                let section = ConfigSchema.section(entry.section)
                // oslo.config reads an option's dest, dashes as underscores.
                let option = key.replacingOccurrences(of: "-", with: "_")
                if known(schema, section, option) { continue }
                let text = "\(file.path) [\(entry.section)] \(key)"
                if let d = dynamic[section] {
                    if d.like.contains(where: { known(schema, $0, option) }) { continue }
                    unjudged.append(.init(text: text, why: d.why))
                    continue
                }
                let others = releases.filter { $0 != release && known(schemas[$0]!, section, option) }
                if !others.isEmpty {
                    let when = others.allSatisfy { Sim.before($0, release) } ? "removed by \(release)" : "not yet in \(release)"
                    unjudged.append(.init(text: text, why: "not an option of \(component) \(release) (\(when): \(others.joined(separator: ", ")) had it); "
                        + "a \(release) service ignores it (\(schema.source))"))
                    continue
                }
                if let whence = older[Older(file: file.schema, section: section, option: option)] {
                    unjudged.append(.init(text: text, why: "not an option of \(component) \(release); \(whence) had it: a \(release) service ignores it"))
                    continue
                }
                if let had = olderNames[option] {
                    unjudged.append(.init(text: text, why: "not an option of \(component) \(release); \(component)'s source defines an option named "
                        + "\(option) at \(had.joined(separator: ", ")) (no schema: a text scan, its section not known, Schemas/\(component)-older.txt): "
                        + "a \(release) service ignores it"))
                    continue
                }
                let sectionKnown = releases.contains { r in schemaFiles.contains { schemas[r]!.files[$0]?[section] != nil } }
                if !sectionKnown {
                    let sections = Set(schemaFiles.flatMap { schema.sections($0) })
                    guard let near = Self.closest(section, among: sections) else {
                        unjudged.append(.init(text: text, why: "a section no schema of \(component) has (\(releases.joined(separator: ", "))): "
                            + "options registered at run time, if any, are not judged"))
                        continue
                    }
                    return SimConfigVerdict(refusal: refusal(unit, file.path, "[\(entry.section)] is not a section of \(component) \(release)", near: "[\(near)]", schema), unjudged: unjudged)
                }
                let options = Set(schemaFiles.flatMap { schema.options($0, section) })
                return SimConfigVerdict(refusal: refusal(unit, file.path, "[\(entry.section)] \(key) is not an option of \(component) \(release)",
                                                         near: Self.closest(option, among: options), schema), unjudged: unjudged)
            }
        }
        return SimConfigVerdict(unjudged: unjudged)
    }

    private func refusal(_ unit: String, _ path: String, _ what: String, near: String?, _ schema: ConfigSchema) -> String {
        "Job for \(unit).service failed: \(path): \(what) nor of any release with a schema (\(releases.joined(separator: ", ")))"
            + (near.map { "; did you mean \($0)?" } ?? "")
            + " (\(schema.source)). oslo.config would ignore it and start; the rehearsal does not hide the misconfiguration"
    }

    /// The closest of `names` to `word` within a third of its length (at least 1, at most 3 edits), nil if none is.
    static func closest(_ word: String, among names: Set<String>) -> String? {
        let limit = max(1, min(3, word.count / 3))
        var best: (String, Int)?
        for name in names.sorted() {
            let d = distance(word, name)
            if d <= limit, d < (best?.1 ?? Int.max) { best = (name, d) }
        }
        return best?.0
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
        var row = Array(0...y.count)
        for i in 1...x.count {
            var prev = row[0]
            row[0] = i
            for j in 1...y.count {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (x[i - 1] == y[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[y.count]
    }
}
