import Foundation
import LuaBridge

/// One machine of a region.
public struct RegionHost: Sendable, Hashable {
    public var name: String
    /// What to connect to (defaults to the name).
    public var address: String
    public var port: Int?
    public var user: String?
    public var jump: String?
    /// The SSH key for this host (`ansible_private_key_file`), over the region's `ssh.identity`.
    public var identity: String?
    /// Run every command through `sudo -n` (`ansible_become`), as `becomeUser` (default root).
    public var become: Bool?
    public var becomeUser: String?
    /// How the host is reached (`ansible_connection`): nil or `ssh`/`smart`/`paramiko` go
    /// through the region's transport, `local` runs on this machine, anything else is refused
    /// when the host is first reached.
    public var connection: String?
    public var vars: [String: LuaValue]
    /// Every group the host belongs to, in the order they were declared.
    public var groups: [String]
    /// How its distribution packages OpenStack (unit names): set by ``Region/resolveFamilies()``
    /// from its own `vars.family`, its groups' (`inventory.families`), the region's `vars.family`.
    public var family: PackageFamily = .rpm

    public init(name: String, address: String? = nil, port: Int? = nil, user: String? = nil, jump: String? = nil,
                vars: [String: LuaValue] = [:], groups: [String] = [])
    {
        self.name = name
        self.address = address ?? name
        self.port = port
        self.user = user
        self.jump = jump
        self.vars = vars
        self.groups = groups
    }

    /// The form Lua sees (`host.name`, `host.address`, `host.vars`, `host.groups`).
    public var luaValue: LuaValue {
        var m: [String: LuaValue] = [
            "name": .string(name), "address": .string(address), "vars": .map(vars),
            "groups": .array(groups.map { .string($0) }), "family": .string(family.rawValue),
        ]
        if let port { m["port"] = .int(Int64(port)) }
        if let user { m["user"] = .string(user) }
        if let become { m["become"] = .bool(become) }
        if let becomeUser { m["become_user"] = .string(becomeUser) }
        if let connection { m["connection"] = .string(connection) }
        return .map(m)
    }
}

/// How Ferry reaches hosts: a name from ``Transports/registry``.
public struct TransportKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static let nio = TransportKind(rawValue: "nio")
    public static let openssh = TransportKind(rawValue: "openssh")
    public static let local = TransportKind(rawValue: "local")
}

public struct SSHSettings: Sendable {
    public var user: String?
    public var port: Int = 22
    public var identity: String?
    public var knownHosts: String?
    public var jump: String?
    /// Hosts worked on at once when a step sets no `parallel`.
    public var parallel: Int = 50
    public var transport: TransportKind = .nio
    /// Whether the region file set `port` (the openssh transport otherwise leaves it to ~/.ssh/config).
    public var portIsExplicit = false
    /// `strict` (default) or `accept-new` (unknown keys recorded in ``recordKnownHosts``).
    public var hostKeyChecking: String = "strict"
    /// Ferry's own known-hosts file, where `accept-new` records keys.
    public var recordKnownHosts: String?
    /// At most this many connections open at once (least recently used idle ones are closed).
    public var maxConnections: Int = 1000
    /// New connections started per second, at most (the ceiling of the adaptive rate).
    public var connectRate: Double = 100
    /// SSH handshakes in flight at once, at most (pdsh's default fan-out is 64).
    public var maxHandshakes: Int = 64
    /// Whether the connect rate adapts to how fast handshakes complete.
    public var adaptiveConnect: Bool = true
    /// Channels open at once on one connection (OpenSSH's MaxSessions is 10).
    public var maxSessions: Int = 10
    public var connectTimeout: Double = 10
    /// A connection unused this long is closed.
    public var idleTimeout: Double = 300
    /// TCP keepalive on `nio` connections.
    public var keepalive: Bool = true
    /// SSH keepalives: one is sent when nothing has arrived from a host for this long
    /// (`nio`; `openssh`: `ServerAliveInterval`).
    public var keepaliveInterval: Double = 15
    /// Keepalives in a row without an answer before the connection counts as lost
    /// (`openssh`: `ServerAliveCountMax`).
    public var keepaliveCount: Int = 3
    /// How long a connection may stay silent before it counts as lost:
    /// `keepaliveInterval × (keepaliveCount + 1)`.
    public var inactivityLimit: Double { keepaliveInterval * Double(keepaliveCount + 1) }
    /// Settings for the hosts of a group (user, port, jump, identity).
    public var byGroup: [String: GroupSSH] = [:]
    public init() {}
}

/// SSH settings that differ for one group of hosts.
public struct GroupSSH: Sendable {
    public var user: String?
    public var port: Int?
    public var jump: String?
    public var identity: String?
}

/// A region file: where the hosts and services of one cloud region are.
public struct Region: Sendable {
    public var name: String
    /// The file it was read from, if any.
    public var file: String?
    public var hosts: [String: RegionHost]
    /// Host names in declaration order.
    public var hostOrder: [String]
    /// Group name → host names, in order.
    public var groups: [String: [String]]
    public var groupOrder: [String]
    public var ssh: SSHSettings
    /// Driver settings for later primitives, kept as data (secrets still as references).
    public var databases: [String: LuaValue]
    public var vips: [String: LuaValue]
    public var keystone: LuaValue
    public var broker: LuaValue
    public var releases: [String: LuaValue]
    public var vars: [String: LuaValue]
    /// Group → the package family of its hosts (`inventory.families`), below a host's own
    /// `vars.family` and above the region's.
    public var groupFamilies: [String: PackageFamily] = [:]
    public var simulate: LuaValue?
    /// `notify:`: a command told when a run waits for approval, fails or finishes.
    public var notify: NotifySettings?
    /// Each Ansible inventory read, and by which reader (`ansible-inventory: PATH`, or
    /// `built-in reader: PATH (…)`), as `ferry validate` prints them.
    public var inventorySources: [String] = []
    /// Group name → its members as a set, so adding a member is O(1) (a `contains` on
    /// the ordered list made loading 100,000 hosts quadratic). Kept by ``addToGroup(_:_:)``.
    private var members: [String: Set<String>] = [:]

    public init(name: String) {
        self.name = name
        hosts = [:]
        hostOrder = []
        groups = [:]
        groupOrder = []
        ssh = SSHSettings()
        databases = [:]
        vips = [:]
        keystone = .nil
        broker = .nil
        releases = [:]
        vars = [:]
    }

    public var directory: String? { file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } }

    /// Adds a host, or merges into the one of the same name.
    public mutating func addHost(_ host: RegionHost) {
        if var existing = hosts[host.name] {
            if host.address != host.name { existing.address = host.address }
            existing.port = host.port ?? existing.port
            existing.user = host.user ?? existing.user
            existing.jump = host.jump ?? existing.jump
            existing.identity = host.identity ?? existing.identity
            existing.become = host.become ?? existing.become
            existing.becomeUser = host.becomeUser ?? existing.becomeUser
            existing.connection = host.connection ?? existing.connection
            existing.vars.merge(host.vars) { $1 }
            for g in host.groups where !existing.groups.contains(g) { existing.groups.append(g) }
            hosts[host.name] = existing
        } else {
            hosts[host.name] = host
            hostOrder.append(host.name)
        }
    }

    public mutating func addToGroup(_ group: String, _ hostName: String) {
        if groups[group] == nil {
            groups[group] = []
            groupOrder.append(group)
        }
        // `groups` is public: rebuild the set if it was changed around this method.
        if members[group]?.count != groups[group]!.count { members[group] = Set(groups[group]!) }
        if members[group]!.insert(hostName).inserted { groups[group]!.append(hostName) }
        if hosts[hostName] == nil { addHost(RegionHost(name: hostName)) }
        if !hosts[hostName]!.groups.contains(group) { hosts[hostName]!.groups.append(group) }
    }
}

/// The SSH settings that apply to one host: the host's own, then its groups', then the region's.
public struct HostSSH: Sendable {
    public var user: String
    public var port: Int
    public var jump: String?
    public var identity: String?
}

extension Region {
    public func sshSettings(for host: RegionHost) -> HostSSH {
        var result = HostSSH(user: ssh.user ?? "root", port: ssh.port, jump: ssh.jump, identity: ssh.identity)
        for group in host.groups {
            guard let g = ssh.byGroup[group] else { continue }
            if let u = g.user { result.user = u }
            if let p = g.port { result.port = p }
            if let j = g.jump { result.jump = j }
            if let i = g.identity { result.identity = i }
        }
        if let u = host.user { result.user = u }
        if let p = host.port { result.port = p }
        if let j = host.jump { result.jump = j }
        if let i = host.identity { result.identity = i }
        // A jump host does not jump through itself.
        if result.jump == host.name { result.jump = nil }
        return result
    }
}

extension Region {
    /// The region's own package family: `vars.family`, else `rpm`.
    public var defaultFamily: PackageFamily {
        vars["family"].flatMap { try? PackageFamily.named($0) } ?? .rpm
    }

    /// The package family of a host: its own `vars.family` (the region file's host vars, or an
    /// Ansible host or group var), else that of the last of its groups that `inventory.families`
    /// names (a later group overrides an earlier one, as in `ssh.groups`), else the region's.
    public func family(of host: RegionHost) -> PackageFamily {
        if let own = host.vars["family"].flatMap({ try? PackageFamily.named($0) }) { return own }
        for group in host.groups.reversed() {
            if let f = groupFamilies[group] { return f }
        }
        return defaultFamily
    }

    /// Sets every host's ``RegionHost/family`` (after the inventory is complete: a simulated
    /// region's generated hosts too).
    public mutating func resolveFamilies() {
        for name in hostOrder { hosts[name]!.family = family(of: hosts[name]!) }
    }

    /// Whether the region names the user for this host (region, group or host level).
    public func explicitSSHUser(for host: RegionHost) -> Bool {
        host.user != nil || ssh.user != nil || host.groups.contains { ssh.byGroup[$0]?.user != nil }
    }

    public func explicitSSHPort(for host: RegionHost) -> Bool {
        host.port != nil || ssh.portIsExplicit || host.groups.contains { ssh.byGroup[$0]?.port != nil }
    }
}

/// A region's `notify:` section: a command (run by `/bin/sh -c` on the Ferry machine) that
/// gets each chosen event's JSON on stdin.
public struct NotifySettings: Sendable, Equatable {
    /// The events a hook may ask for; `failed` is a step or a run that failed.
    public static let events = ["waiting", "failed", "finished"]
    public var command: String
    public var events: Set<String>

    public init(command: String, events: Set<String> = Set(NotifySettings.events)) {
        self.command = command
        self.events = events
    }
}
