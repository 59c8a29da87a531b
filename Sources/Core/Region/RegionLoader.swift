import Foundation
import LuaBridge

/// Reads and validates region files.
public enum RegionLoader {
    static let topLevelKeys = [
        "region", "extends", "inventory", "ssh", "databases", "vips", "keystone", "broker", "releases", "vars", "simulate",
        "notify",
    ]

    public static func load(path: String) throws -> Region {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError.invalid("region file \(path): cannot read it (does it exist?)")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// A region file's tree with the files it `extends:` underneath it (a chain, at most 8 deep).
    static func tree(_ text: String, file: String, depth: Int = 0) throws -> YAMLNode {
        guard let root = try YAMLNode.parse(text, file: file) else {
            throw FerryError.invalid("\(file): the region file is empty")
        }
        guard root.mapping != nil else { throw root.error("a region file is a mapping with 'region:' at its top") }
        guard let ext = root["extends"] else { return root }
        let basePath = RegionPaths.expand(try ext.requireString(), relativeTo: root.directory)
        guard depth < 8 else { throw ext.error("extends: more than 8 files deep (a loop?)") }
        guard let data = FileManager.default.contents(atPath: basePath) else {
            throw ext.error("cannot read \(basePath) (does it exist?)")
        }
        let base = try tree(String(decoding: data, as: UTF8.self), file: basePath, depth: depth + 1)
        return YAMLNode.merge(base: base, overlay: root)
    }

    public static func parse(_ text: String, file: String) throws -> Region {
        let root = try tree(text, file: file)
        try root.checkKeys(topLevelKeys)
        guard let nameNode = root["region"] else {
            throw root.error("missing 'region:' (the region's name)")
        }
        var region = Region(name: try nameNode.requireString())
        region.file = file

        if let inventory = root["inventory"] {
            try inventory.checkKeys(["ansible", "groups", "hosts", "reader", "vault_password_file", "families"])
            var reader = AnsibleInventory.Reader.auto
            if let r = inventory["reader"] {
                let text = try r.requireString()
                guard let known = AnsibleInventory.Reader(rawValue: text) else {
                    throw r.error("reader '\(text)': one of auto, ansible, builtin")
                }
                reader = known
            }
            let vaultFile = try inventory["vault_password_file"].map { RegionPaths.expand(try $0.requireString(), relativeTo: $0.directory) }
            if let ansible = inventory["ansible"] {
                let paths = try ansible.sequence?.map { try $0.requireString() } ?? [ansible.requireString()]
                for p in paths {
                    let full = RegionPaths.expand(p, relativeTo: ansible.directory)
                    do {
                        region.inventorySources.append(
                            try AnsibleInventory.load(path: full, into: &region, reader: reader, vaultPasswordFile: vaultFile))
                    } catch let e as FerryError {
                        throw ansible.error(e.message)
                    }
                }
            }
            if let hosts = inventory["hosts"] {
                for (name, node) in try hosts.requireMapping() {
                    for expanded in try expand(name, at: node) {
                        region.addHost(try host(named: expanded, from: node))
                    }
                }
            }
            if let groups = inventory["groups"] {
                for (group, node) in try groups.requireMapping() {
                    let members: [YAMLNode] = node.sequence ?? [node]
                    for member in members {
                        guard let text = member.string else { throw member.error("expected host names or ranges") }
                        for piece in text.split(separator: ",") {
                            for name in try expand(piece.trimmingCharacters(in: .whitespaces), at: member) {
                                if let problem = HostRules.nameProblem(name) { throw member.error(problem) }
                                region.addToGroup(group, name)
                            }
                        }
                    }
                }
            }
        }

        region.indexHostGroups()
        try checkHosts(region, file: file)
        if let families = root["inventory"]?["families"] {
            for (group, node) in try families.requireMapping() {
                do { region.groupFamilies[group] = try PackageFamily.named(try node.value()) } catch let e as FerryError {
                    throw node.error("group \(group): \(e.message)")
                }
            }
        }

        if let ssh = root["ssh"] {
            try ssh.checkKeys([
                "user", "port", "identity", "known_hosts", "jump", "parallel", "transport", "host_key_checking",
                "record_known_hosts", "max_connections", "connect_rate", "max_handshakes", "adaptive_connect",
                "max_sessions", "connect_timeout", "idle_timeout", "keepalive", "keepalive_interval", "keepalive_count", "groups",
            ])
            if let v = ssh["host_key_checking"] {
                let text = try v.requireString()
                guard ["strict", "accept-new"].contains(text) else { throw v.error("must be strict or accept-new") }
                region.ssh.hostKeyChecking = text
            }
            if let v = ssh["record_known_hosts"] { region.ssh.recordKnownHosts = RegionPaths.expand(try v.requireString(), relativeTo: v.directory) }
            if let v = ssh["max_connections"] { region.ssh.maxConnections = max(1, try v.requireInt()) }
            if let v = ssh["max_sessions"] { region.ssh.maxSessions = max(1, try v.requireInt()) }
            if let v = ssh["max_handshakes"] {
                let n = try v.requireInt()
                guard n >= 1 else { throw v.error("must be at least 1 (handshakes in flight at once)") }
                region.ssh.maxHandshakes = n
            }
            if let v = ssh["connect_rate"] {
                guard let r = try v.value().doubleValue, r > 0 else { throw v.error("must be a positive number of connections per second") }
                region.ssh.connectRate = r
            }
            for (key, apply) in [("connect_timeout", { (d: Double) in region.ssh.connectTimeout = d }),
                                 ("idle_timeout", { (d: Double) in region.ssh.idleTimeout = d })] as [(String, (Double) -> Void)] {
                if let v = ssh[key] {
                    guard let d = (try v.value()).stringValue.flatMap(DurationText.seconds) else { throw v.error("must be a duration like \"10s\"") }
                    apply(d)
                }
            }
            if let v = ssh["keepalive"] {
                guard let b = try v.value().boolValue else { throw v.error("must be true or false") }
                region.ssh.keepalive = b
            }
            if let v = ssh["keepalive_interval"] {
                guard let d = (try v.value()).stringValue.flatMap(DurationText.seconds), d > 0 else {
                    throw v.error("must be a duration above zero like \"15s\"")
                }
                region.ssh.keepaliveInterval = d
            }
            if let v = ssh["keepalive_count"] {
                let n = try v.requireInt()
                guard n >= 1 else { throw v.error("must be at least 1 (keepalives unanswered before the connection counts as lost)") }
                region.ssh.keepaliveCount = n
            }
            if let v = ssh["adaptive_connect"] {
                guard let b = try v.value().boolValue else { throw v.error("must be true or false") }
                region.ssh.adaptiveConnect = b
            }
            if let groups = ssh["groups"] {
                for (group, node) in try groups.requireMapping() {
                    try node.checkKeys(["user", "port", "jump", "identity"])
                    region.ssh.byGroup[group] = GroupSSH(
                        user: try node["user"].map { try user($0) }, port: try node["port"]?.requireInt(),
                        jump: try node["jump"]?.requireString(),
                        identity: try node["identity"].map { RegionPaths.expand(try $0.requireString(), relativeTo: $0.directory) })
                }
            }
            if let v = ssh["user"] { region.ssh.user = try user(v) }
            if let v = ssh["port"] {
                region.ssh.port = try v.requireInt()
                region.ssh.portIsExplicit = true
            }
            if let v = ssh["identity"] { region.ssh.identity = RegionPaths.expand(try v.requireString(), relativeTo: v.directory) }
            if let v = ssh["known_hosts"] { region.ssh.knownHosts = RegionPaths.expand(try v.requireString(), relativeTo: v.directory) }
            if let v = ssh["jump"] { region.ssh.jump = try v.requireString() }
            if let v = ssh["parallel"] {
                region.ssh.parallel = try v.requireInt()
                guard region.ssh.parallel > 0 else { throw v.error("must be at least 1") }
            }
            if let v = ssh["transport"] {
                let text = try v.requireString()
                let kind = TransportKind(rawValue: text)
                guard Transports.make(kind) != nil else {
                    throw v.error("unknown transport '\(text)' (one of: \(Transports.known.joined(separator: ", ")))")
                }
                region.ssh.transport = kind
            }
        }

        func named(_ key: String, known: [String]? = nil) throws -> [String: LuaValue] {
            guard let node = root[key] else { return [:] }
            var out: [String: LuaValue] = [:]
            for (name, value) in try node.requireMapping() {
                guard value.mapping != nil else { throw value.error("expected the settings of '\(name)' as a mapping") }
                if let known { try value.checkKeys(known) }
                let data = try value.value()
                try checkSecrets(data, at: value)
                out[name] = data
            }
            return out
        }
        region.databases = try named("databases", known: [
            "host", "port", "socket", "user", "password", "database", "backup_via", "connect_timeout", "via",
        ])
        region.vips = try named("vips", known: [
            "driver", "socket", "address", "via", "backend", "url", "maintenance_map", "maintenance_key", "servers",
            "get", "switch", "restore", "maintenance", "address", "balancers", "settle",
        ])
        region.releases = try named("releases")
        if let k = root["keystone"] {
            try k.checkKeys(KeystoneCredentials.sectionKeys)
            region.keystone = try k.value()
            try checkSecrets(region.keystone, at: k)
        }
        if let b = root["broker"] {
            try b.checkKeys(["url", "username", "password", "ca_file", "insecure", "amqp_port"])
            region.broker = try b.value()
            try checkSecrets(region.broker, at: b)
        }
        if let n = root["notify"] {
            // `notify: CMD`, or `notify: { command: CMD, events: [waiting, failed, finished] }`.
            if n.mapping == nil {
                region.notify = NotifySettings(command: try n.requireString())
            } else {
                try n.checkKeys(["command", "events"])
                guard let c = n["command"] else { throw n.error("notify: needs command: (run by /bin/sh -c with the event's JSON on stdin)") }
                var settings = NotifySettings(command: try c.requireString())
                if let e = n["events"] {
                    guard let list = e.sequence else { throw e.error("notify events: a list of \(NotifySettings.events.joined(separator: ", "))") }
                    settings.events = []
                    for item in list {
                        let name = try item.requireString()
                        guard NotifySettings.events.contains(name) else {
                            let near = nearest(to: name, among: NotifySettings.events, within: 3).map { " (did you mean '\($0)'?)" } ?? ""
                            throw item.error("unknown notify event '\(name)'\(near); one of \(NotifySettings.events.joined(separator: ", "))")
                        }
                        settings.events.insert(name)
                    }
                }
                region.notify = settings
            }
        }
        if let vars = root["vars"] {
            guard case .map(let m) = try vars.value() else { throw vars.error("expected a mapping of variables") }
            try checkSecrets(.map(m), at: vars)
            region.vars = m
            if let f = m["family"], let node = vars["family"] {
                do { _ = try PackageFamily.named(f) } catch let e as FerryError { throw node.error(e.message) }
            }
        }
        if let sim = root["simulate"] { region.simulate = try sim.value() }
        // A simulated region completes its groups later (SimTopology), and checks these then.
        if region.simulate == nil, let problem = region.unknownFamilyGroup() {
            throw (root["inventory"]?["families"] ?? root).error(problem)
        }
        region.resolveFamilies()

        for group in region.ssh.byGroup.keys where region.groups[group] == nil {
            throw root.error("ssh.groups: no group named '\(group)' in the inventory")
        }
        for name in region.hostOrder {
            var seen: [String] = [name]
            var current = name
            while let jump = region.sshSettings(for: region.hosts[current]!).jump {
                guard region.hosts[jump] != nil else {
                    throw root.error("ssh jump host '\(jump)' (used by \(current)) is not a host of the region")
                }
                if seen.contains(jump) {
                    throw root.error("ssh jump hosts form a loop: \((seen + [jump]).joined(separator: " → "))")
                }
                seen.append(jump)
                current = jump
            }
        }
        return region
    }

    static func expand(_ name: String, at node: YAMLNode) throws -> [String] {
        do { return try HostPattern.expand(name) } catch let e as FerryError { throw node.error(e.message) }
    }

    static func host(named name: String, from node: YAMLNode) throws -> RegionHost {
        if let problem = HostRules.nameProblem(name) { throw node.error(problem) }
        var host = RegionHost(name: name)
        if node.isNull { return host }
        try node.checkKeys(["address", "port", "user", "jump", "vars", "groups"])
        if let v = node["address"] {
            host.address = try v.requireString()
            if let problem = HostRules.addressProblem(host.address) { throw v.error("host \(HostRules.quoted(name)): \(problem)") }
        }
        if let v = node["port"] { host.port = try v.requireInt() }
        if let v = node["user"] { host.user = try user(v, host: name) }
        if let v = node["jump"] { host.jump = try v.requireString() }
        if let v = node["vars"] {
            guard case .map(let m) = try v.value() else { throw v.error("expected a mapping") }
            if let f = m["family"] {
                do { _ = try PackageFamily.named(f) } catch let e as FerryError {
                    throw (v["family"] ?? v).error("host \(HostRules.quoted(name)): \(e.message)")
                }
            }
            host.vars = m
        }
        if let v = node["groups"] { host.groups = try (v.sequence ?? [v]).map { try $0.requireString() } }
        return host
    }

    static func user(_ node: YAMLNode, host: String? = nil) throws -> String {
        let text = try node.requireString()
        if let problem = HostRules.userProblem(text) {
            throw node.error((host.map { "host \(HostRules.quoted($0)): " } ?? "") + problem)
        }
        return text
    }

    /// Every host's address and user, however it was declared (a host without `address:`
    /// is reached by its name; Ansible's inventory was checked as it was applied).
    static func checkHosts(_ region: Region, file: String) throws {
        for name in region.hostOrder {
            let host = region.hosts[name]!
            if let problem = HostRules.nameProblem(name) { throw FerryError.invalid("\(file): \(problem)") }
            if let problem = HostRules.addressProblem(host.address) {
                let implied = host.address == name ? " (a host without 'address:' is reached by its name)" : ""
                throw FerryError.invalid("\(file): host \(HostRules.quoted(name)): \(problem)\(implied)")
            }
            if let user = host.user, let problem = HostRules.userProblem(user) {
                throw FerryError.invalid("\(file): host \(HostRules.quoted(name)): \(problem)")
            }
            // A family from an Ansible inventory (host or group var) is checked as the region file's own.
            if let f = host.vars["family"] {
                do { _ = try PackageFamily.named(f) } catch let e as FerryError {
                    throw FerryError.invalid("\(file): host \(HostRules.quoted(name)): vars.family: \(e.message)")
                }
            }
        }
    }

    /// A mapping that looks like a secret reference but is malformed is an error now,
    /// not a surprise at use.
    static func checkSecrets(_ value: LuaValue, at node: YAMLNode) throws {
        guard case .map(let m) = value else {
            if case .array(let a) = value { for v in a { try checkSecrets(v, at: node) } }
            return
        }
        if SecretReference.looksLikeReference(Set(m.keys)) {
            guard SecretReference(value) == nil else { return }
            let unknown = m.keys.filter { !SecretReference.fileKeys.contains($0) && $0 != "env" }.sorted()
            let hints = unknown.compactMap { k in
                nearest(to: k, among: SecretReference.fileKeys, within: 2).map { "\(k) (did you mean \($0)?)" } ?? k
            }
            throw node.error(SecretReference.shapes + (hints.isEmpty ? "" : "; unknown key \(hints.joined(separator: ", "))"))
        }
        for (_, v) in m { try checkSecrets(v, at: node) }
    }
}

extension Region {
    /// `inventory.families` naming a group the inventory does not have, as an error message.
    public func unknownFamilyGroup() -> String? {
        guard let group = groupFamilies.keys.sorted().first(where: { groups[$0] == nil }) else { return nil }
        let hint = nearest(to: group, among: groupOrder).map { " (did you mean '\($0)'?)" } ?? ""
        return "inventory.families: no group named '\(group)' in the inventory\(hint)"
    }

    /// Group memberships declared on hosts (`groups:` in a host entry) become groups.
    mutating func indexHostGroups() {
        for name in hostOrder {
            for g in hosts[name]!.groups { addToGroup(g, name) }
        }
    }
}
