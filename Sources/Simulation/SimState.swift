import FerryCore
import Foundation
import LuaBridge

/// Everything the simulated region knows, as plain data: saved beside the journal
/// between commands (so `ferry rollback` in a new process sees what `ferry run` left)
/// and compared before and after a drill. Transient things (load, the clock) live elsewhere.
public struct SimState: Codable, Sendable, Equatable {
    public var hosts: [String: SimHost] = [:]
    public var databases: [String: SimDatabase] = [:]
    public var catalog = SimCatalog()
    public var vips: [String: SimVIP] = [:]
    /// Brokers by name (`default`: the one the region's `broker:` reaches): policies and queues.
    public var brokers: [String: SimBroker] = [:]
    /// Conditions that end by themselves, keyed as the component that keeps them chooses (a host's data-plane
    /// outage from an agent's restart until its resync ends: `dataplane:<host>`). Saved with the rest, so a
    /// later command sees them, but not part of what a drill compares (``SimDiff``): a repetition is judged on
    /// what stays.
    public var transient: [String: String] = [:]
    public init() {}

    enum CodingKeys: String, CodingKey { case hosts, databases, catalog, vips, brokers, transient }

    /// A model saved before `transient` existed decodes with none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hosts = try c.decode([String: SimHost].self, forKey: .hosts)
        databases = try c.decode([String: SimDatabase].self, forKey: .databases)
        catalog = try c.decode(SimCatalog.self, forKey: .catalog)
        vips = try c.decode([String: SimVIP].self, forKey: .vips)
        brokers = try c.decode([String: SimBroker].self, forKey: .brokers)
        transient = try c.decodeIfPresent([String: String].self, forKey: .transient) ?? [:]
    }
}

public struct SimHost: Codable, Sendable, Equatable {
    /// Groups it belongs to (`<component>_old`, `computes`, …).
    public var groups: [String]
    /// Release of each component's code installed on the host (component → `kilo`).
    public var code: [String: String] = [:]
    /// Services by systemd unit name.
    public var services: [String: SimService] = [:]
    /// Files written on the host (`host:put`, `host:ini`, redirections): path → content.
    public var files: [String: String] = [:]
    /// Symbolic links (`ln -sfn TARGET LINK`): link → target.
    public var links: [String: String] = [:]
    /// How the host's distribution packages OpenStack (its unit names); nil in a model saved
    /// before hosts had one: RDO's.
    public var family: PackageFamily?
    public init(groups: [String], family: PackageFamily? = nil) {
        self.groups = groups
        self.family = family
    }
}

public struct SimService: Codable, Sendable, Equatable {
    /// The component whose code it runs.
    public var component: String
    public var running: Bool
    public var enabled: Bool = true
    /// The release of the code it runs: the host's `code[component]` when it last started.
    public var release: String
    public init(component: String, running: Bool, release: String) {
        self.component = component
        self.running = running
        self.release = release
    }
}

/// A component's database: schema versions (by part: `main`, `api`, `cell0`, `expand`,
/// `contract`), counters the manage commands and preflight queries read (`odm_pending`,
/// `busy_volumes`, `cell_mappings`, …) and free-form flags.
public struct SimDatabase: Codable, Sendable, Equatable {
    public var component: String
    /// Part → the release whose sync last ran on it (`main` → `mitaka`).
    public var schema: [String: String] = [:]
    public var counters: [String: Int] = [:]
    public var flags: [String: String] = [:]
    public init(component: String) { self.component = component }
}

public struct SimCatalog: Codable, Sendable, Equatable {
    public struct Service: Codable, Sendable, Equatable {
        public var id, name, type: String
        public var description: String?
        public init(id: String, name: String, type: String, description: String?) {
            (self.id, self.name, self.type, self.description) = (id, name, type, description)
        }
    }
    public struct Endpoint: Codable, Sendable, Equatable {
        public var id, serviceID, interface, region, url: String
        public init(id: String, serviceID: String, interface: String, region: String, url: String) {
            (self.id, self.serviceID, self.interface, self.region, self.url) = (id, serviceID, interface, region, url)
        }
    }
    public var services: [Service] = []
    public var endpoints: [Endpoint] = []
    public var regions: [String] = []
    public var nextID = 1
    public init() {}

    /// The same services, endpoints and regions (identifiers handed out later do not count).
    public func sameEntries(_ other: SimCatalog) -> Bool {
        services == other.services && endpoints == other.endpoints && regions == other.regions
    }
}

public struct SimVIP: Codable, Sendable, Equatable {
    /// Backend server → `ready` | `maint` | `drain`.
    public var servers: [String: String] = [:]
    /// `false`, `all`, `writes`.
    public var maintenance: String = "false"
    public init() {}
}

public struct SimBroker: Codable, Sendable, Equatable {
    /// The record `broker.policies` lists (its fields encode as the model's did: saved models still load).
    public typealias Policy = BrokerPolicy
    public struct Queue: Codable, Sendable, Equatable {
        public var vhost, name: String
        public var messages: Int
        public var durable: Bool
        /// When `messages` was last brought up to date (simulated seconds since 1970).
        public var at: Double?

        /// What the name of a unit that reads this RPC queue contains, or nil for notification
        /// queues, which are left for whoever reads them, often nobody. `readers` maps a topic
        /// (the name up to its first dot) to that unit (the components' ``SimComponent/queueReaders``);
        /// a topic none of them names is read by a unit named like it.
        public func readerUnit(readers: [String: String]) -> String? {
            if name.hasPrefix("notifications") || name.hasPrefix("versioned_notifications") { return nil }
            let topic = name.split(separator: ".").first.map(String.init) ?? name
            return readers[topic] ?? topic
        }
        /// Messages a consumer takes per simulated second.
        public static let drainRate = 200.0
        public init(vhost: String, name: String, messages: Int, durable: Bool) {
            (self.vhost, self.name, self.messages, self.durable) = (vhost, name, messages, durable)
        }
    }
    public var vhosts: [String] = ["/"]
    public var users: [String: String] = [:]
    public var permissions: [String: String] = [:]
    public var policies: [Policy] = []
    public var queues: [Queue] = []
    /// The resource alarm that blocks publishers (memory or disk), while it is on.
    public var alarm: String?
    /// When notifications were last published to it (simulated seconds since 1970).
    public var publishedAt: Double?
    public init() {}
}

/// One command sent to a simulated host, split into words.
public struct SimCommand: Sendable {
    public let host: String
    public let text: String
    public let argv: [String]
    /// The release of the tool that runs it: from a virtualenv path in the command
    /// (`/opt/venvs/liberty/bin/<component>-manage`, or a venv the region's `releases:`
    /// names), else the host's installed code for the component.
    public let toolRelease: String?
    /// Base name of the program (`<component>-manage`).
    public var program: String { argv.first.map { ($0 as NSString).lastPathComponent } ?? "" }

    public init(host: String, text: String, argv: [String], toolRelease: String?) {
        self.host = host
        self.text = text
        self.argv = argv
        self.toolRelease = toolRelease
    }
}

/// What a simulated command did.
public struct SimOutcome: Sendable {
    public var exitCode: Int32
    public var stdout: String
    public var stderr: String
    /// Simulated seconds it took (before the region's scaling and faults).
    public var duration: Double

    public init(exitCode: Int32 = 0, stdout: String = "", stderr: String = "", duration: Double) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
    }

    public static func fail(_ message: String, code: Int32 = 1, duration: Double = 2) -> SimOutcome {
        SimOutcome(exitCode: code, stderr: message + "\n", duration: duration)
    }
}
