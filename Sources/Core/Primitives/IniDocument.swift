/// An OpenStack-style INI file edited in place: comments, blank lines, order,
/// `[DEFAULT]` and repeated keys are kept; only the lines changed are touched.
public struct IniDocument: Sendable {
    enum Line: Sendable {
        case section(String, raw: String)
        case entry(key: String, value: String, raw: String)
        case other(String)
    }

    var lines: [Line]
    let trailingNewline: Bool

    public init(_ text: String) {
        trailingNewline = text.hasSuffix("\n") || text.isEmpty
        var out: [Line] = []
        let raw = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, l) in raw.enumerated() {
            if i == raw.count - 1 && l.isEmpty { break }
            let line = String(l)
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("[") && t.hasSuffix("]") {
                out.append(.section(String(t.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces), raw: line))
            } else if !t.hasPrefix("#") && !t.hasPrefix(";") && !line.hasPrefix(" ") && !line.hasPrefix("\t"),
                let eq = t.firstIndex(of: "=")
            {
                out.append(.entry(key: t[..<eq].trimmingCharacters(in: .whitespaces),
                                  value: t[t.index(after: eq)...].trimmingCharacters(in: .whitespaces), raw: line))
            } else {
                out.append(.other(line))
            }
        }
        lines = out
    }

    /// The values of `key` in `section` (several for repeated keys, in order).
    public func values(_ section: String, _ key: String) -> [String] {
        var current = "DEFAULT"
        var found: [String] = []
        for line in lines {
            switch line {
            case .section(let name, _): current = name
            case .entry(let k, let v, _) where current == section && k == key: found.append(v)
            default: break
            }
        }
        return found
    }

    public func get(_ section: String, _ key: String) -> String? { values(section, key).last }

    /// Every section header and key, in file order: `(section, nil)` for a header, `(section, key)` for a
    /// key (keys above the first header are `DEFAULT`'s).
    public var outline: [(section: String, key: String?)] {
        var current = "DEFAULT"
        var out: [(section: String, key: String?)] = []
        for line in lines {
            switch line {
            case .section(let name, _):
                current = name
                out.append((name, nil))
            case .entry(let k, _, _): out.append((current, k))
            case .other: break
            }
        }
        return out
    }

    /// Sets `key` (replacing every occurrence with one line), adding the section if
    /// needed; `nil` removes the key. Returns the previous value.
    @discardableResult
    public mutating func set(_ section: String, _ key: String, _ value: String?) -> String? {
        let previous = get(section, key)
        setValues(section, key, value.map { [$0] })
        return previous
    }

    /// Sets a repeated key (`pci_alias = …` once per value): its lines, where the first one
    /// was, become one line per value, in order; `nil` or `[]` removes them all. Returns
    /// the previous values.
    @discardableResult
    public mutating func setValues(_ section: String, _ key: String, _ given: [String]?) -> [String] {
        let previous = values(section, key)
        let newValues = given ?? []
        func entries() -> [Line] { newValues.map { Line.entry(key: key, value: $0, raw: "\(key) = \($0)") } }
        var current = "DEFAULT"
        // Entries above the first header belong to DEFAULT as the file has them; otherwise
        // DEFAULT needs its `[DEFAULT]` header (oslo.config refuses keys outside a section).
        var sectionSeen = false
        var lastLineOfSection: Int?
        var replaced = false
        var out: [Line] = []
        for line in lines {
            switch line {
            case .section(let name, _):
                current = name
                if name == section { sectionSeen = true }
                out.append(line)
                if current == section { lastLineOfSection = out.count - 1 }
            case .entry(let k, _, _) where current == section && k == key:
                if !replaced, !newValues.isEmpty {
                    out += entries()
                    lastLineOfSection = out.count - 1
                }
                sectionSeen = true
                replaced = true
            default:
                out.append(line)
                if current == section, case .entry = line {
                    sectionSeen = true
                    lastLineOfSection = out.count - 1
                }
            }
        }
        if !replaced, !newValues.isEmpty {
            if sectionSeen, let at = lastLineOfSection {
                out.insert(contentsOf: entries(), at: at + 1)
            } else if section == "DEFAULT" {
                // A new [DEFAULT] goes first, where oslo.config and readers expect it.
                var head: [Line] = [.section("DEFAULT", raw: "[DEFAULT]")] + entries()
                if !out.isEmpty { head.append(.other("")) }
                out.insert(contentsOf: head, at: 0)
            } else {
                if let last = out.last, case .other(let t) = last, t.isEmpty {} else if !out.isEmpty { out.append(.other("")) }
                out.append(.section(section, raw: "[\(section)]"))
                out += entries()
            }
        }
        lines = out
        return previous
    }

    public var text: String {
        let body = lines.map { line -> String in
            switch line {
            case .section(_, let raw), .entry(_, _, let raw), .other(let raw): return raw
            }
        }.joined(separator: "\n")
        return body.isEmpty ? "" : body + (trailingNewline ? "\n" : "")
    }
}
