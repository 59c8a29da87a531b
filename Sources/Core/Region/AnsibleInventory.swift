import Foundation
import LuaBridge

/// Reads an operator's Ansible inventory (INI or YAML) into a region: hosts with
/// `ansible_host` / `ansible_port` / `ansible_user` and other vars, groups, groups of
/// groups (`:children`), ranges, and group vars (host vars win over group vars,
/// a child group's vars over its parent's, and every group's over `all`'s).
public enum AnsibleInventory {
    struct Group {
        var hosts: [String] = []
        var children: [String] = []
        var vars: [String: LuaValue] = [:]
    }

    struct Parsed {
        var groups: [String: Group] = [:]
        var groupOrder: [String] = []
        var hostVars: [String: [String: LuaValue]] = [:]
        var hostOrder: [String] = []
        /// Each group's hosts as a set (membership tests stay O(1) for large groups).
        var hostSets: [String: Set<String>] = [:]

        mutating func group(_ name: String) -> String {
            if groups[name] == nil {
                groups[name] = Group()
                groupOrder.append(name)
            }
            return name
        }

        mutating func addHost(_ name: String, to group: String, vars: [String: LuaValue]) {
            _ = self.group(group)
            if hostSets[group, default: []].insert(name).inserted { groups[group]!.hosts.append(name) }
            if hostVars[name] == nil {
                hostVars[name] = [:]
                hostOrder.append(name)
            }
            hostVars[name]!.merge(vars) { $1 }
        }
    }

    /// Which reader reads an inventory: Ansible's own `ansible-inventory --list` when it is
    /// on PATH (`auto`), always (`ansible`), or never (`builtin`, the INI/YAML reader below).
    public enum Reader: String, Sendable, CaseIterable {
        case auto, ansible, builtin
    }

    /// Reads one inventory into the region and returns which reader read it, as
    /// `ferry validate` prints it (`ansible-inventory 2.14.18: PATH` or `built-in reader: PATH (…)`).
    @discardableResult
    public static func load(path: String, into region: inout Region, reader: Reader = .auto,
                            vaultPasswordFile: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String
    {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FerryError.invalid("Ansible inventory \(path): cannot read it (no such file or directory)")
        }
        // The `--list` JSON itself, stored (OpenStack-Ansible's openstack_inventory.json, or a
        // saved `ansible-inventory --list`): Ansible's own plugins do not read it, Ferry does.
        if let parsed = try storedListJSON(path) {
            let vault = VaultPassword(file: vaultPasswordFile, relativeTo: nil, environment: environment)
            try apply(try decryptVaultValues(parsed, vault: vault, file: path), to: &region, file: path)
            return "inventory JSON (the ansible-inventory --list format): \(path)"
        }
        let program = reader == .builtin ? nil : locate("ansible-inventory", path: environment["PATH"] ?? "")
        if let program {
            let vault = VaultPassword(file: vaultPasswordFile, relativeTo: nil, environment: environment)
            let parsed = try runAnsibleInventory(program, path: path, vaultPasswordFile: vault.path, environment: environment)
            try apply(try decryptVaultValues(parsed, vault: vault, file: path), to: &region, file: path)
            return "ansible-inventory: \(path)"
        }
        if reader == .ansible {
            throw FerryError.invalid("Ansible inventory \(path): reader: ansible, but ansible-inventory is not on PATH (install ansible-core, or say reader: builtin)")
        }
        try loadBuiltin(path: path, into: &region)
        return "built-in reader: \(path)" + (reader == .builtin ? " (reader: builtin)" : " (ansible-inventory is not on PATH)")
    }

    /// The first executable `name` in a PATH-style list of directories.
    static func locate(_ name: String, path: String) -> String? {
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    // MARK: Through Ansible

    /// Runs `ansible-inventory -i PATH --list` and reads its JSON: `_meta.hostvars` (every
    /// host's variables, group_vars/host_vars and inventory plugins already merged by
    /// Ansible's precedence) and each group's `hosts` and `children`. Ansible is told to
    /// fail on an inventory it cannot parse (by default it warns and lists nothing).
    static func runAnsibleInventory(_ program: String, path: String, vaultPasswordFile: String?,
                                    environment: [String: String]) throws -> Parsed
    {
        var arguments = ["-i", path, "--list"]
        if let vaultPasswordFile { arguments += ["--vault-password-file", vaultPasswordFile] }
        var env = environment
        env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "True"
        env["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "True"
        env["ANSIBLE_NOCOLOR"] = "True"
        env["ANSIBLE_FORCE_COLOR"] = "False"
        let result: LocalProgram.Result
        do { result = try LocalProgram.run(program, arguments: arguments, environment: env) } catch {
            throw FerryError.invalid("Ansible inventory \(path): cannot run \(program): \(error)")
        }
        if result.status != 0 {
            let lines = result.stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let said = lines.first(where: { $0.hasPrefix("ERROR!") }) ?? lines.last ?? "no message"
            throw FerryError.invalid("Ansible inventory \(path): ansible-inventory exited \(result.status): \(said)")
        }
        return try parseJSON(result.stdout, file: path)
    }

    /// A regular, non-executable file holding a JSON object with `_meta`: the `--list` format.
    static func storedListJSON(_ path: String) throws -> Parsed? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            !FileManager.default.isExecutableFile(atPath: path),
            let data = FileManager.default.contents(atPath: path),
            data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) == UInt8(ascii: "{"),
            case .map(let top)? = try? JSONDecoder().decode(LuaValue.self, from: data), top["_meta"] != nil
        else { return nil }
        return try parseJSON(data, file: path)
    }

    /// The JSON of `ansible-inventory --list`. Keys come sorted (Ansible dumps with
    /// `sort_keys`); the order of hosts is the walk from `all` through `children` lists.
    static func parseJSON(_ data: Data, file: String) throws -> Parsed {
        let root: LuaValue
        do { root = try JSONDecoder().decode(LuaValue.self, from: data) } catch {
            throw FerryError.invalid("Ansible inventory \(file): ansible-inventory printed something that is not JSON")
        }
        guard case .map(let top) = root else {
            throw FerryError.invalid("Ansible inventory \(file): ansible-inventory's JSON is not an object")
        }
        var hostvars: [String: LuaValue] = [:]
        if case .map(let meta)? = top["_meta"], case .map(let hv)? = meta["hostvars"] { hostvars = hv }
        func strings(_ v: LuaValue?) -> [String] {
            guard case .array(let a)? = v else { return [] }
            return a.compactMap(\.stringValue)
        }
        var parsed = Parsed()
        var visited = Set<String>()
        func walk(_ name: String) {
            guard visited.insert(name).inserted else { return }
            _ = parsed.group(name)
            guard case .map(let g)? = top[name] else { return }
            // Group vars: none in ansible-inventory's output (merged into hostvars), present in a
            // stored inventory such as OpenStack-Ansible's.
            if case .map(let vars)? = g["vars"] { parsed.groups[name]!.vars.merge(vars) { $1 } }
            for h in strings(g["hosts"]) {
                var vars: [String: LuaValue] = [:]
                if case .map(let m)? = hostvars[h] { vars = m }
                parsed.addHost(h, to: name, vars: vars)
            }
            for c in strings(g["children"]) {
                if !parsed.groups[name]!.children.contains(c) { parsed.groups[name]!.children.append(c) }
                walk(c)
            }
        }
        walk("all")
        // A group not reachable from `all` (Ansible always parents groups to it, but be safe).
        for name in top.keys.sorted() where name != "_meta" { walk(name) }
        return parsed
    }

    /// `!vault` values arrive from ansible-inventory still encrypted
    /// (`{"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256…"}`: ansible-core 2.14's
    /// `AnsibleJSONEncoder` keeps them so unless `vault_to_text`): Ferry decrypts them with
    /// the same password file (lib/ansible/module_utils/common/json.py @ v2.14.18).
    static func decryptVaultValues(_ parsed: Parsed, vault: VaultPassword, file: String) throws -> Parsed {
        var out = parsed
        var password: String?
        func decrypt(_ value: LuaValue, host: String, key: String) throws -> LuaValue {
            switch value {
            case .map(let m):
                if m.count == 1, let cipher = m["__ansible_vault"]?.stringValue {
                    if password == nil {
                        do { password = try vault.read(for: "host \(HostRules.quoted(host))'s variable \(key)") } catch let e as FerryError {
                            throw FerryError.invalid("Ansible inventory \(file): \(e.message.replacingOccurrences(of: "in the reference", with: "under inventory:"))")
                        }
                    }
                    do { return .string(try AnsibleVault.decrypt(cipher, password: password!)) } catch {
                        throw FerryError.invalid("Ansible inventory \(file): host \(HostRules.quoted(host)): variable \(key): \(error)")
                    }
                }
                return .map(try m.mapValues { try decrypt($0, host: host, key: key) })
            case .array(let a): return .array(try a.map { try decrypt($0, host: host, key: key) })
            default: return value
            }
        }
        for (host, vars) in parsed.hostVars {
            for (key, value) in vars {
                if case .map = value { out.hostVars[host]![key] = try decrypt(value, host: host, key: key) }
                if case .array = value { out.hostVars[host]![key] = try decrypt(value, host: host, key: key) }
            }
        }
        return out
    }

    // MARK: Built-in reader

    static func loadBuiltin(path: String, into region: inout Region) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw FerryError.invalid("Ansible inventory \(path): is a directory, and the built-in reader reads one INI or YAML file (install ansible-core: Ferry then reads any inventory through ansible-inventory)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError.invalid("Ansible inventory \(path): cannot read it")
        }
        let text = String(decoding: data, as: UTF8.self)
        let looksYAML = path.hasSuffix(".yml") || path.hasSuffix(".yaml")
            || text.split(separator: "\n").first(where: { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty })?
                .trimmingCharacters(in: .whitespaces).hasSuffix(":") == true
        let parsed = looksYAML ? try parseYAML(text, file: path) : try parseINI(text, file: path)
        try apply(parsed, to: &region, file: path)
    }

    // MARK: INI

    static func parseINI(_ text: String, file: String) throws -> Parsed {
        var parsed = Parsed()
        _ = parsed.group("all")
        var section = "ungrouped"
        var kind = "hosts"
        for (index, rawLine) in text.components(separatedBy: "\n").enumerated() {
            let lineNumber = index + 1
            let line = stripComment(rawLine).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw FerryError.invalid("\(file):\(lineNumber): a section header needs ']'") }
                let header = String(line.dropFirst().dropLast())
                if let colon = header.lastIndex(of: ":") {
                    section = String(header[..<colon])
                    kind = String(header[header.index(after: colon)...])
                    guard kind == "vars" || kind == "children" else {
                        throw FerryError.invalid("\(file):\(lineNumber): unknown section kind ':\(kind)' (vars or children)")
                    }
                } else {
                    section = header
                    kind = "hosts"
                }
                _ = parsed.group(section)
                continue
            }
            switch kind {
            case "vars":
                guard let eq = line.firstIndex(of: "=") else {
                    throw FerryError.invalid("\(file):\(lineNumber): expected key=value in [\(section):vars]")
                }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                parsed.groups[section]!.vars[key] = scalar(line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces))
            case "children":
                _ = parsed.group(line)
                if !parsed.groups[section]!.children.contains(line) { parsed.groups[section]!.children.append(line) }
            default:
                let tokens = try tokenize(line, file: file, line: lineNumber)
                guard let first = tokens.first else { continue }
                var vars: [String: LuaValue] = [:]
                for token in tokens.dropFirst() {
                    guard let eq = token.firstIndex(of: "=") else {
                        throw FerryError.invalid("\(file):\(lineNumber): expected key=value after the host name, got '\(token)'")
                    }
                    vars[String(token[..<eq])] = scalar(String(token[token.index(after: eq)...]))
                }
                let names: [String]
                do { names = try HostPattern.expand(first) } catch let e as FerryError {
                    throw FerryError.invalid("\(file):\(lineNumber): \(e.message)")
                }
                for n in names { parsed.addHost(n, to: section, vars: vars) }
            }
        }
        return parsed
    }

    static func stripComment(_ line: String) -> String {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("#") || t.hasSuffix(";") && t.hasPrefix(";") || t.hasPrefix(";") { return "" }
        // An inline comment starts with " #" outside quotes.
        var inQuote: Character? = nil
        var previous: Character = " "
        for (i, c) in line.enumerated() {
            if c == "'" || c == "\"" {
                if inQuote == c { inQuote = nil } else if inQuote == nil { inQuote = c }
            }
            if c == "#" || c == ";", inQuote == nil, previous == " " || previous == "\t" {
                return String(line.prefix(i))
            }
            previous = c
        }
        return line
    }

    static func tokenize(_ line: String, file: String, line lineNumber: Int) throws -> [String] {
        var tokens: [String] = []
        var current = ""
        var quote: Character? = nil
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == " " || c == "\t" {
                if !current.isEmpty { tokens.append(current); current = "" }
            } else {
                current.append(c)
            }
        }
        if quote != nil { throw FerryError.invalid("\(file):\(lineNumber): unterminated quote") }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    static func scalar(_ text: String) -> LuaValue {
        var t = text
        if t.count >= 2, (t.hasPrefix("\"") && t.hasSuffix("\"")) || (t.hasPrefix("'") && t.hasSuffix("'")) {
            t = String(t.dropFirst().dropLast())
            return .string(t)
        }
        if let i = Int64(t) { return .int(i) }
        if let d = Double(t), t.contains(".") { return .number(d) }
        switch t.lowercased() {
        case "true", "yes": return .bool(true)
        case "false", "no": return .bool(false)
        default: return .string(t)
        }
    }

    // MARK: YAML

    static func parseYAML(_ text: String, file: String) throws -> Parsed {
        var parsed = Parsed()
        guard let root = try YAMLNode.parse(text, file: file) else { return parsed }
        for (name, node) in try root.requireMapping() {
            try readGroup(name, node, into: &parsed)
        }
        if parsed.groups["all"] == nil { _ = parsed.group("all") }
        return parsed
    }

    static func readGroup(_ name: String, _ node: YAMLNode, into parsed: inout Parsed) throws {
        _ = parsed.group(name)
        if node.isNull { return }
        try node.checkKeys(["hosts", "children", "vars"])
        if let hosts = node["hosts"] {
            for (pattern, hostNode) in try hosts.requireMapping() {
                var vars: [String: LuaValue] = [:]
                if !hostNode.isNull {
                    guard case .map(let m) = try hostNode.value() else { throw hostNode.error("expected host vars as a mapping") }
                    vars = m
                }
                let names: [String]
                do { names = try HostPattern.expand(pattern) } catch let e as FerryError { throw hostNode.error(e.message) }
                for n in names { parsed.addHost(n, to: name, vars: vars) }
            }
        }
        if let vars = node["vars"], !vars.isNull {
            guard case .map(let m) = try vars.value() else { throw vars.error("expected a mapping") }
            parsed.groups[name]!.vars.merge(m) { $1 }
        }
        if let children = node["children"] {
            for (child, childNode) in try children.requireMapping() {
                if !parsed.groups[name]!.children.contains(child) { parsed.groups[name]!.children.append(child) }
                try readGroup(child, childNode, into: &parsed)
            }
        }
    }

    // MARK: Into the region

    static func apply(_ parsed: Parsed, to region: inout Region, file: String) throws {
        // Each group's full membership (its hosts and its children's, recursively)
        // and each host's ancestry, parents before children for var precedence.
        var memo: [String: [String]] = [:]
        func members(_ group: String, _ visiting: Set<String>) -> [String] {
            if let m = memo[group] { return m }
            guard let g = parsed.groups[group], !visiting.contains(group) else { return [] }
            var out = g.hosts
            var seen = Set(out)
            for child in g.children {
                for h in members(child, visiting.union([group])) where seen.insert(h).inserted { out.append(h) }
            }
            memo[group] = out
            return out
        }
        // A group's depth is the longest chain of parents above it (all = 0, a group with
        // no other parent = 1), memoized: walking every path from every group was
        // exponential in an inventory whose groups share children.
        var parents: [String: [String]] = [:]
        for g in parsed.groupOrder where g != "all" {
            for c in parsed.groups[g]?.children ?? [] where c != "all" { parents[c, default: []].append(g) }
        }
        var depth: [String: Int] = ["all": 0]
        var visiting = Set<String>()
        func depthOf(_ group: String) -> Int {
            if let d = depth[group] { return d }
            visiting.insert(group)
            var d = 1
            // A loop of groups (which Ansible refuses) is cut where the walk meets itself.
            for p in parents[group] ?? [] where !visiting.contains(p) { d = max(d, depthOf(p) + 1) }
            visiting.remove(group)
            depth[group] = d
            return d
        }
        for g in parsed.groupOrder where g != "all" { _ = depthOf(g) }

        var hostGroups: [String: [String]] = [:]
        for group in parsed.groupOrder {
            for h in members(group, []) { hostGroups[h, default: []].append(group) }
        }
        for name in parsed.hostOrder {
            if let problem = HostRules.nameProblem(name) { throw FerryError.invalid("\(file): \(problem)") }
            var vars = parsed.groups["all"]?.vars ?? [:]
            let groups = (hostGroups[name] ?? []).filter { $0 != "all" }
            for g in groups.sorted(by: { (depth[$0] ?? 1) < (depth[$1] ?? 1) }) {
                vars.merge(parsed.groups[g]?.vars ?? [:]) { $1 }
            }
            vars.merge(parsed.hostVars[name] ?? [:]) { $1 }
            var host = RegionHost(name: name)
            try connectionVariables(&vars, into: &host, file: file)
            host.vars = vars
            region.addHost(host)
            for g in groups { region.addToGroup(g, name) }
        }
    }

    // MARK: Connection variables

    /// Moves the variables Ansible's connection and become plugins read onto the host,
    /// checked like the region file's own (HostRules). Where Ansible lists two names for
    /// one option, the later one wins ("sources that are lists listed in low to high
    /// precedence (last one wins)", ansible/ansible@v2.14.18 lib/ansible/config/manager.py):
    /// `ansible_ssh_host` over `ansible_host`, `ansible_ssh_port` over `ansible_port`,
    /// `ansible_ssh_user` over `ansible_user`, `ansible_ssh_private_key_file` over
    /// `ansible_private_key_file` (their `vars:` lists in lib/ansible/plugins/connection/ssh.py
    /// @ v2.14.18). `ansible_become`/`ansible_become_user` follow lib/ansible/plugins/become/sudo.py
    /// (the default user is root); `ansible_connection` is lib/ansible/plugins/connection/local.py's `local`.
    static func connectionVariables(_ vars: inout [String: LuaValue], into host: inout RegionHost, file: String) throws {
        let name = HostRules.quoted(host.name)
        func take(_ keys: [String]) -> (String, LuaValue)? {
            var found: (String, LuaValue)?
            for k in keys { if let v = vars.removeValue(forKey: k) { found = (k, v) } }
            return found
        }
        func fail(_ key: String, _ problem: String) -> FerryError {
            FerryError.invalid("\(file): host \(name): \(key): \(problem)")
        }
        if let (k, v) = take(["ansible_host", "ansible_ssh_host"]) {
            let a = v.stringValue ?? v.intValue.map(String.init) ?? ""
            if let problem = HostRules.addressProblem(a) { throw fail(k, problem) }
            host.address = a
        }
        if let (k, v) = take(["ansible_port", "ansible_ssh_port"]) {
            guard let p = v.intValue ?? v.stringValue.flatMap({ Int($0) }), (1...65535).contains(p) else {
                throw fail(k, "port '\(v.stringValue ?? v.jsonString())' is not a number from 1 to 65535")
            }
            host.port = p
        }
        if let (k, v) = take(["ansible_user", "ansible_ssh_user"]) {
            let u = v.stringValue ?? ""
            if let problem = HostRules.userProblem(u) { throw fail(k, problem) }
            host.user = u
        }
        if let (k, v) = take(["ansible_private_key_file", "ansible_ssh_private_key_file"]) {
            let path = v.stringValue ?? ""
            if path.isEmpty || path.unicodeScalars.contains(where: HostRules.isControl) {
                throw fail(k, "key file '\(path.debugDescription.dropFirst().dropLast())' is empty or contains a control character")
            }
            host.identity = RegionPaths.expand(path, relativeTo: nil)
        }
        if let (k, v) = take(["ansible_become"]) {
            guard let b = boolean(v) else { throw fail(k, "'\(v.stringValue ?? v.jsonString())' is not a boolean (yes/no, true/false)") }
            host.become = b
        }
        if let (k, v) = take(["ansible_become_user"]) {
            let u = v.stringValue ?? ""
            if let problem = HostRules.userProblem(u) { throw fail(k, problem) }
            host.becomeUser = u
        }
        if let v = vars["ansible_become_method"]?.stringValue, v != "sudo", host.become == true {
            throw fail("ansible_become_method", "'\(v)': Ferry becomes another user through sudo only")
        }
        if let (_, v) = take(["ansible_connection"]) {
            let c = v.stringValue ?? ""
            host.connection = c
        }
    }

    /// Ansible's `boolean()` (lib/ansible/module_utils/parsing/convert_bool.py @ v2.14.18):
    /// yes/on/1/true/y/t and no/off/0/false/n/f, any case.
    static func boolean(_ v: LuaValue) -> Bool? {
        if let b = v.boolValue { return b }
        if let i = v.intValue { return i == 1 ? true : i == 0 ? false : nil }
        switch v.stringValue?.lowercased() {
        case "yes", "on", "1", "true", "y", "t": return true
        case "no", "off", "0", "false", "n", "f": return false
        default: return nil
        }
    }
}
