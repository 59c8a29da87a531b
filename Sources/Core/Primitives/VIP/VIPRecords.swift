import Foundation
import LuaBridge

// What crosses the `VIPDriver` seam, and the tables `vip.get` / `vip.switch` return
// (docs/lua-api.md, "vip"). Each driver fills the part that is its own; the others stay nil.

/// What `vip.get` returns.
/// - haproxy (and the simulated region): `{ vip, backend, servers = { NAME = { state, address, up } } }`,
///   the simulated region adding `maintenance`;
/// - keepalived: `{ vip, address, holder, balancers = { HOST = { priority, holds } } }`;
/// - command: `{ vip, output }`.
public struct VIPState: LuaRecord {
    public struct Server: Sendable, Equatable {
        /// `ready`, `drain` or `maint`, as `set server … state` takes it.
        public var state: String
        public var address: String
        /// Its health check passes.
        public var up: Bool
        public init(state: String, address: String, up: Bool) { (self.state, self.address, self.up) = (state, address, up) }
    }

    public struct Balancer: Sendable, Equatable {
        public var priority: Int
        /// The address lives on it now.
        public var holds: Bool
        public init(priority: Int, holds: Bool) { (self.priority, self.holds) = (priority, holds) }
    }

    public var vip: String
    public var backend: String?
    public var servers: [String: Server]?
    /// The maintenance mode (`false`, `writes`, `all`), where the driver can read it back.
    public var maintenance: String?
    /// keepalived: the address, the balancer holding it (nil when none does) and each balancer.
    public var address: String?
    public var holder: String?
    public var balancers: [String: Balancer]?
    /// command: what the `get` command printed.
    public var output: String?

    public init(vip: String, backend: String? = nil, servers: [String: Server]? = nil, maintenance: String? = nil,
                address: String? = nil, holder: String? = nil, balancers: [String: Balancer]? = nil, output: String? = nil)
    {
        (self.vip, self.backend, self.servers, self.maintenance) = (vip, backend, servers, maintenance)
        (self.address, self.holder, self.balancers, self.output) = (address, holder, balancers, output)
    }

    public var luaValue: LuaValue {
        var m: [String: LuaValue] = ["vip": .string(vip)]
        if let backend { m["backend"] = .string(backend) }
        if let servers {
            m["servers"] = .map(servers.mapValues { ["state": .string($0.state), "address": .string($0.address), "up": .bool($0.up)] })
        }
        if let maintenance { m["maintenance"] = .string(maintenance) }
        if let address { m["address"] = .string(address) }
        if let balancers {
            m["balancers"] = .map(balancers.mapValues { ["priority": .int(Int64($0.priority)), "holds": .bool($0.holds)] })
            // An explicit nil: a drill's RegionSnapshot reads this table and records `holder = null` when none holds it.
            m["holder"] = .optional(holder)
        } else if let holder {
            m["holder"] = .string(holder)
        }
        if let output { m["output"] = .string(output) }
        return .map(m)
    }
}

/// What `vip.switch` returns and `vip.restore` takes back: the state before the switch.
/// - haproxy (and the simulated region): `{ vip, backend, servers = { NAME = "ready" | "drain" | "maint" } }`;
/// - keepalived: `{ vip, holder, priorities = { HOST = N } }`;
/// - command: `{ vip, before, targets = { … } }`.
///
/// Only `vip` is required when read back: each driver's `restore` asks for its own part
/// and says `restore: expected what vip.switch returned` when it is not there.
public struct VIPSwitchRecord: LuaParsableRecord {
    public var vip: String
    public var backend: String?
    /// Each server's state before the switch.
    public var servers: [String: String]?
    /// keepalived: the balancer that held the address, and every balancer's priority.
    public var holder: String?
    public var priorities: [String: Int]?
    /// command: the `get` command's output before the switch (empty without one), and the targets.
    public var before: String?
    public var targets: [String]?

    public init(vip: String, backend: String? = nil, servers: [String: String]? = nil, holder: String? = nil,
                priorities: [String: Int]? = nil, before: String? = nil, targets: [String]? = nil)
    {
        (self.vip, self.backend, self.servers, self.holder) = (vip, backend, servers, holder)
        (self.priorities, self.before, self.targets) = (priorities, before, targets)
    }

    public var luaValue: LuaValue {
        .record(["vip": .string(vip), "backend": .optional(backend), "servers": servers.map { .map($0.mapValues { .string($0) }) } ?? .nil,
                 "holder": .optional(holder), "priorities": priorities.map { .map($0.mapValues { .int(Int64($0)) }) } ?? .nil,
                 "before": .optional(before), "targets": targets.map { .array($0.map { .string($0) }) } ?? .nil])
    }

    public init(lua: LuaValue) throws {
        let f = try FieldReader(lua)
        self.init(vip: try f.string("vip"), backend: try f.optionalString("backend"),
                  servers: try f.optionalMap("servers") { try FieldReader.string($0, at: $1) },
                  holder: try f.optionalString("holder"),
                  priorities: try f.optionalMap("priorities") { try FieldReader.int($0, at: $1) },
                  before: try f.optionalString("before"),
                  targets: try f.optionalList("targets") { try FieldReader.string($0, at: $1) })
    }

    /// The VIP a table handed to `vip.restore` names, read before anything else of it: a dry
    /// run's `vip.switch` returned `vip.get`'s table instead, which a dry run's restore takes.
    public static func vip(of lua: LuaValue) -> String? {
        if case .string(let name) = lua["vip"] { return name }
        return nil
    }
}
