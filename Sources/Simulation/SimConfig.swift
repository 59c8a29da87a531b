import FerryCore
import Foundation
import LuaBridge

/// The `simulate:` section of a region file.
public struct SimConfig: Sendable {
    public var computes = 2000
    public var controllers = 3
    public var networkNodes = 4
    public var release = "kilo"
    /// The release the `<component>_new` controllers come prebuilt with (nil: same as `release`).
    public var target: String?
    public var seed: UInt64 = 42
    /// 0: virtual clock only; otherwise simulated commands also take duration × scale of real time.
    public var timeScale = 0.0
    /// Multiplies every built-in duration estimate.
    public var durationScale = 1.0
    public var durations: [String: Double] = [:]
    /// The components the region runs; nil (the default): every component a plugin teaches,
    /// in the plugins' order (``SimRegion`` fills it in).
    public var components: [String]?
    public var load = Load()
    public var broker = Broker()
    public var faults: [SimFault] = []
    /// What the region's database server answers to `SELECT VERSION()`: a MariaDB 10.1, as the
    /// Kilo…Queens era's distributions shipped beside OpenStack. A component whose plugin models
    /// a failure on a later server fails here only when the region says its server is one
    /// (`database_server: 10.11.6-MariaDB`; docs/simulation.md lists such behaviours).
    public var databaseServer = "10.1.20-MariaDB"
    /// Compute nodes the region once had and retired without deleting their service rows and
    /// agents (nil: the plugins' default, docs/simulation.md).
    public var retiredComputes: Int?

    /// The broker the region's `broker:` reaches: what its node holds before an alarm blocks publishers,
    /// and how fast the hosts that point at it publish notifications.
    public struct Broker: Sendable {
        /// The node's RAM, and vm_memory_high_watermark (a fraction of it) past which the memory alarm blocks publishers.
        public var memoryMB = 8192.0
        public var watermark = 0.4
        /// Free disk on the node, and disk_free_limit below which the disk alarm blocks publishers.
        public var diskFreeMB = 102_400.0
        public var diskFreeLimitMB = 50.0
        /// One notification's size.
        public var messageBytes = 2048.0
        /// Notifications each publishing host sends a simulated second.
        public var notificationsPerHost = 0.02
    }

    /// A database under the restarts a component's load model (``SimLoadModel``) says weigh on it.
    public struct Load: Sendable {
        /// Threads_running past which restarts slow down and fail.
        public var threshold = 64.0
        /// Threads_running with nothing happening.
        public var base = 6.0
        /// Threads each restarting unit adds while it resyncs.
        public var perAgent = 0.16
        /// How long a unit resyncs after it restarts (its load fades over this time).
        public var resync = 120.0
    }

    public init() {}

    /// `directory`: the region file's, where relative paths (a hold's `until`) start.
    public init(_ value: LuaValue, file: String, directory: String? = nil) throws {
        guard case .map(let m) = value else {
            throw FerryError.failed("\(file): simulate: expected a mapping (computes:, controllers:, release:, …)")
        }
        let known: Set<String> = ["computes", "controllers", "network_nodes", "release", "target", "seed", "time_scale",
                                  "duration_scale", "durations", "components", "load", "broker", "faults", "database_server",
                                  "retired_computes"]
        for key in m.keys where !known.contains(key) {
            throw FerryError.failed("\(file): simulate: unknown key '\(key)'; known: \(known.sorted().joined(separator: ", "))")
        }
        func int(_ k: String) throws -> Int? {
            guard let v = m[k] else { return nil }
            guard let i = v.intValue, i >= 0 else { throw FerryError.failed("\(file): simulate.\(k): expected a whole number, got \(v.jsonString())") }
            return i
        }
        computes = try int("computes") ?? computes
        controllers = max(1, try int("controllers") ?? controllers)
        networkNodes = try int("network_nodes") ?? networkNodes
        release = m["release"]?.stringValue ?? release
        target = m["target"]?.stringValue
        seed = UInt64(try int("seed") ?? Int(seed))
        retiredComputes = try int("retired_computes") ?? retiredComputes
        timeScale = m["time_scale"]?.doubleValue ?? timeScale
        if let v = m["database_server"] {
            guard let text = v.stringValue, MariaDBVersion(text) != nil else {
                throw FerryError.failed("\(file): simulate.database_server: expected a server version such as \"10.11.6-MariaDB\", got \(v.jsonString())")
            }
            databaseServer = text
        }
        durationScale = m["duration_scale"]?.doubleValue ?? durationScale
        if case .map(let d)? = m["durations"] {
            for (k, v) in d {
                guard let s = v.stringValue.flatMap(DurationText.seconds) ?? v.doubleValue else {
                    throw FerryError.failed("\(file): simulate.durations.\(k): '\(v.jsonString())' is not a duration (\"40m\", \"90s\")")
                }
                durations[k] = s
            }
        }
        if case .array(let c)? = m["components"] { components = c.compactMap(\.stringValue) }
        if case .map(let l)? = m["load"] {
            for key in l.keys where !["threshold", "base", "per_agent", "resync"].contains(key) {
                throw FerryError.failed("\(file): simulate.load: unknown key '\(key)'; known: base, per_agent, resync, threshold")
            }
            load.threshold = l["threshold"]?.doubleValue ?? load.threshold
            load.base = l["base"]?.doubleValue ?? load.base
            load.perAgent = l["per_agent"]?.doubleValue ?? load.perAgent
            load.resync = l["resync"]?.stringValue.flatMap(DurationText.seconds) ?? l["resync"]?.doubleValue ?? load.resync
        }
        if case .map(let b)? = m["broker"] {
            let keys = ["memory_mb", "vm_memory_high_watermark", "disk_free_mb", "disk_free_limit_mb", "message_bytes", "notifications_per_host"]
            for key in b.keys where !keys.contains(key) {
                throw FerryError.failed("\(file): simulate.broker: unknown key '\(key)'; known: \(keys.sorted().joined(separator: ", "))")
            }
            for key in keys {
                guard let v = b[key] else { continue }
                guard let d = v.doubleValue, d >= 0 else {
                    throw FerryError.failed("\(file): simulate.broker.\(key): expected a number, got \(v.jsonString())")
                }
                switch key {
                case "memory_mb": broker.memoryMB = d
                case "vm_memory_high_watermark": broker.watermark = d
                case "disk_free_mb": broker.diskFreeMB = d
                case "disk_free_limit_mb": broker.diskFreeLimitMB = d
                case "message_bytes": broker.messageBytes = d
                default: broker.notificationsPerHost = d
                }
            }
        }
        if case .array(let f)? = m["faults"] {
            faults = try f.enumerated().map {
                try SimFault($0.element, where: "\(file): simulate.faults[\($0.offset + 1)]", directory: directory)
            }
        }
    }
}

/// A failure the simulated region injects.
public struct SimFault: Sendable {
    public enum Kind: String, Sendable { case unreachable, fail, slow, hold }
    public var kind: Kind
    public var host: String?
    public var group: String?
    public var step: String?
    /// Matches commands containing this text.
    public var command: String?
    /// Matches commands whose tool is this release.
    public var release: String?
    /// Matches a primitive (`db.restore`, `db.backup`, `vip.switch`, `catalog.ensure_endpoint`, …).
    public var primitive: String?
    public var probability = 1.0
    public var factor = 3.0
    public var message: String?
    /// `hold`: the file whose existence releases the matching commands (absolute path).
    public var until: String?

    init(_ value: LuaValue, where location: String, directory: String? = nil) throws {
        guard case .map(let m) = value else { throw FerryError.failed("\(location): expected a mapping like { host: cmp0042, kind: unreachable }") }
        let known: Set<String> = ["kind", "host", "group", "step", "command", "release", "primitive", "probability", "factor", "message",
                                  "until"]
        for key in m.keys where !known.contains(key) {
            throw FerryError.failed("\(location): unknown key '\(key)'; known: \(known.sorted().joined(separator: ", "))")
        }
        guard let k = m["kind"]?.stringValue, let kind = Kind(rawValue: k) else {
            throw FerryError.failed("\(location): kind must be unreachable, fail, slow or hold")
        }
        self.kind = kind
        host = m["host"]?.stringValue
        group = m["group"]?.stringValue
        step = m["step"]?.stringValue
        command = m["command"]?.stringValue
        release = m["release"]?.stringValue
        primitive = m["primitive"]?.stringValue
        probability = m["probability"]?.doubleValue ?? 1
        factor = m["factor"]?.doubleValue ?? 3
        message = m["message"]?.stringValue
        if kind == .hold {
            guard let file = m["until"]?.stringValue, !file.isEmpty else {
                throw FerryError.failed("\(location): a hold fault needs until: FILE (the matching commands wait until that file exists)")
            }
            until = RegionPaths.expand(file, relativeTo: directory)
        } else if m["until"] != nil {
            throw FerryError.failed("\(location): until: applies to kind: hold only")
        }
        if primitive == nil && kind == .unreachable && host == nil && group == nil && probability >= 1 {
            throw FerryError.failed("\(location): an unreachable fault needs host:, group: or a probability below 1 (otherwise no host could be reached)")
        }
    }
}

/// A MariaDB server version (`10.11.6-MariaDB-0+deb12u1`, `10.1.20-MariaDB`): major and minor.
public struct MariaDBVersion: Comparable, Sendable {
    public let major: Int
    public let minor: Int

    public init?(_ text: String) {
        let numbers = text.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2, text.first?.isNumber == true else { return nil }
        (major, minor) = (numbers[0], numbers[1])
    }

    public init(_ major: Int, _ minor: Int) { (self.major, self.minor) = (major, minor) }

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}
