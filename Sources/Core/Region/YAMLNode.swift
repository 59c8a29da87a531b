import Foundation
import LuaBridge
import CYaml
import Yams

/// A YAML node with the file and position it came from, so every complaint about a
/// region file can say `file:line: path: what is wrong`.
struct YAMLNode {
    let node: Node
    let file: String
    let path: String
    /// For a region that `extends:` another: the paths whose value came from a base file,
    /// and which file (so errors and relative paths name the right file).
    var origins: [String: String] = [:]

    init(node: Node, file: String, path: String, origins: [String: String] = [:]) {
        self.node = node
        self.file = file
        self.path = path
        self.origins = origins
    }

    /// The directory relative paths written at this node are relative to.
    var directory: String { URL(fileURLWithPath: file).deletingLastPathComponent().path }

    static func parse(_ text: String, file: String) throws -> YAMLNode? {
        try refuseAliases(text, file: file)
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            return YAMLNode(node: node, file: file, path: "")
        } catch let error as YamlError {
            throw FerryError.invalid("\(file): not valid YAML: \(error)")
        }
    }

    /// Region files are shallow; a deeper one is hostile (building it recurses).
    static let maximumDepth = 64

    /// Yams expands every alias into a copy of what it names, so a few lines of nested
    /// aliases ("billion laughs") become billions of values: a file with an alias is
    /// refused from libyaml's events, before anything is built. So is a file nested
    /// deeper than ``maximumDepth`` (Yams and Ferry walk the tree recursively).
    static func refuseAliases(_ text: String, file: String) throws {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw FerryError.failed("\(file): cannot start the YAML parser") }
        defer { yaml_parser_delete(&parser) }
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var depth = 0
            while true {
                var event = yaml_event_t()
                // A syntax error is Yams' to report, with its context.
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_ALIAS_EVENT {
                    let name = event.data.alias.anchor.map { String(cString: $0) } ?? "?"
                    throw FerryError.invalid(
                        "\(file):\(event.start_mark.line + 1): YAML aliases are not supported (*\(name)): "
                            + "write the value out (nested aliases can make a few lines into billions of values)")
                }
                switch event.type {
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    depth += 1
                    if depth > maximumDepth {
                        throw FerryError.invalid("\(file):\(event.start_mark.line + 1): nested more than \(maximumDepth) levels deep")
                    }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT: depth -= 1
                case YAML_STREAM_END_EVENT: return
                default: break
                }
            }
        }
    }

    var line: Int { (node.mark?.line ?? 0) }
    var location: String { "\(file):\(line)" }

    func error(_ message: String) -> FerryError {
        FerryError.invalid("\(location): \(path.isEmpty ? "" : path + ": ")\(message)")
    }

    func child(_ key: String, _ node: Node) -> YAMLNode {
        let p = path.isEmpty ? key : "\(path).\(key)"
        return YAMLNode(node: node, file: origins[p] ?? file, path: p, origins: origins)
    }

    /// `overlay` on top of `base`: mappings merge key by key (recursively), anything else
    /// in the overlay replaces the base's value. Paths taken from the base are recorded.
    static func merge(base: YAMLNode, overlay: YAMLNode) -> YAMLNode {
        var origins = base.origins.merging(overlay.origins) { _, o in o }
        func walk(_ b: Node, _ o: Node, _ path: String) -> Node {
            guard let bm = b.mapping, let om = o.mapping else { return o }
            // A secret reference ({ env: } or { file: }) replaces whatever the base had.
            if om.count == 1, let k = om.keys.first?.string, k == "env" || k == "file" { return o }
            // Looked up by key once each (Node.Mapping's subscript is a linear search).
            var baseValues: [Node: Node] = [:]
            for (k, v) in bm where baseValues[k] == nil { baseValues[k] = v }
            var overlayKeys = Set<Node>()
            var pairs: [(Node, Node)] = []
            for (k, v) in om {
                overlayKeys.insert(k)
                let key = k.string ?? "\(k)"
                let p = path.isEmpty ? key : "\(path).\(key)"
                if let bv = baseValues[k] { pairs.append((k, walk(bv, v, p))) } else { pairs.append((k, v)) }
            }
            for (k, v) in bm where !overlayKeys.contains(k) {
                let key = k.string ?? "\(k)"
                let p = path.isEmpty ? key : "\(path).\(key)"
                if origins[p] == nil { origins[p] = base.file }
                pairs.append((k, v))
            }
            return .mapping(Node.Mapping(pairs, om.tag, om.style, om.mark))
        }
        let merged = walk(base.node, overlay.node, "")
        return YAMLNode(node: merged, file: overlay.file, path: "", origins: origins)
    }

    var isNull: Bool { node.null != nil && node.scalar?.style == .plain }

    var mapping: [(key: String, value: YAMLNode)]? {
        guard let m = node.mapping else { return nil }
        return m.map { (key: $0.key.string ?? "\($0.key)", value: child($0.key.string ?? "?", $0.value)) }
    }

    func requireMapping() throws -> [(key: String, value: YAMLNode)] {
        if isNull { return [] }
        guard let m = mapping else { throw error("expected a mapping (key: value)") }
        return m
    }

    subscript(key: String) -> YAMLNode? {
        guard let m = node.mapping, let v = m[key] else { return nil }
        return child(key, v)
    }

    var sequence: [YAMLNode]? {
        guard let s = node.sequence else { return nil }
        return s.enumerated().map { YAMLNode(node: $1, file: file, path: "\(path)[\($0)]", origins: origins) }
    }

    var string: String? {
        guard let s = node.scalar else { return nil }
        return s.string
    }

    func requireString() throws -> String {
        guard let s = string else { throw error("expected a text value") }
        return s
    }

    func requireInt() throws -> Int {
        guard let s = node.scalar, let i = Int(s.string) else { throw error("expected a whole number") }
        return i
    }

    /// Rejects keys that are not in `known`, naming the closest one.
    func checkKeys(_ known: [String]) throws {
        guard let m = mapping else { return }
        for (key, value) in m where !known.contains(key) {
            let suggestion = nearest(to: key, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            let at = YAMLNode(node: value.node, file: value.file, path: path)
            throw at.error("unknown key '\(key)'\(suggestion); known: \(known.joined(separator: ", "))")
        }
    }

    /// Plain data for vars and driver settings: scalars typed the way YAML 1.2 core reads them.
    func value() throws -> LuaValue {
        switch node {
        case .scalar(let s):
            if s.style != .plain { return .string(s.string) }
            if node.null != nil { return .nil }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .int(Int64(i)) }
            if let d = node.float { return .number(d) }
            return .string(s.string)
        case .mapping(let m):
            var out: [String: LuaValue] = [:]
            for (k, v) in m {
                let node = child(k.string ?? "?", v)
                out[k.string ?? "\(k)"] = try node.value()
                // A CA file, like a secret file, stays relative to the region file that wrote it.
                if k.string == "ca_file", let f = out["ca_file"]?.stringValue, !f.hasPrefix("/"), !f.hasPrefix("~") {
                    out["ca_file"] = .string(RegionPaths.expand(f, relativeTo: node.directory))
                }
            }
            // A secret file written relative to its region file stays relative to that file,
            // also when another region extends it.
            if out.count == 1, let f = out["file"]?.stringValue, !f.hasPrefix("/"), !f.hasPrefix("~") {
                out["file"] = .string(RegionPaths.expand(f, relativeTo: directory))
            }
            return .map(out)
        case .sequence(let s):
            return .array(try s.enumerated().map { try YAMLNode(node: $1, file: file, path: "\(path)[\($0)]", origins: origins).value() })
        case .alias:
            throw error("YAML aliases are not supported")
        }
    }
}

/// The candidate nearest to `name` by edit distance, if it is within `distance`: what the
/// "did you mean …?" hints of region, runbook and secret errors offer.
public func nearest(to name: String, among candidates: some Sequence<String>, within distance: Int = 3) -> String? {
    guard let best = candidates.min(by: { editDistance($0, name) < editDistance($1, name) }),
          editDistance(best, name) <= distance
    else { return nil }
    return best
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
