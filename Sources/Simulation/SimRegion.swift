import FerryCore
import Foundation
import LuaBridge
import Synchronization

/// The simulated region: hosts, services, databases, VIPs, catalog and broker as a
/// model, a virtual clock, injected faults, and the Neutron database's load. It
/// supplies the transport and every driver of a run; the engine never asks which
/// it has.
public final class SimRegion: Sendable {
    public let region: Region
    public let config: SimConfig
    public let clock: VirtualClock
    let components: [String: any SimComponent]
    let interpreters: [any SimCommandInterpreter]
    /// Where the model is saved between commands (`ferry run`, then `ferry rollback`).
    public let statePath: String?
    let model: Mutex<Model>
    public let releases: [String]
    /// Where the region's own timeline began: random choices are keyed on time since then,
    /// so the same seed and the same history give the same results.
    let origin: Mutex<Double>
    /// What the saved model was built from; a model saved with other settings is refused.
    let fingerprint: String

    struct Pulse { var start: Double; var weight: Double; var ordinal = 0 }
    struct Model {
        var state: SimState
        /// Agent restarts of hosts whose slots were handed over (they set the database's
        /// load), each with the place its lane closed in (``VirtualClock/horizon(lane:)``).
        var pulses: [Pulse] = []
        /// Restarts by the lanes running now; they count once their lane closes.
        var pendingPulses: [String: [Pulse]] = [:]
        var lastSave = 0.0
        var commands = 0
    }

    /// Builds the simulated region for a region file with `simulate:` (or the built-in one).
    /// - Parameters:
    ///   - computes: overrides `simulate.computes` (`--computes N`).
    ///   - components: what the plugins teach the simulation (databases, services, manage commands).
    ///   - stateDirectory: where the model is kept between commands; nil keeps it in memory only.
    /// - Parameter fresh: ignore (and later overwrite) a saved model.
    public init(region base: Region, computes: Int? = nil, components: [any SimComponent] = [],
                releases: [String] = SimRegion.defaultReleases, stateDirectory: String?, fresh: Bool = false) throws
    {
        var config = try SimConfig(base.simulate ?? .map([:]), file: base.file ?? base.name, directory: base.directory)
        if let computes { config.computes = computes }
        self.config = config
        self.releases = releases
        for r in [config.release] + [config.target].compactMap({ $0 }) where !releases.contains(r) {
            throw FerryError.failed("\(base.file ?? base.name): simulate: unknown release '\(r)' (known: \(releases.joined(separator: ", ")))")
        }
        var byName: [String: any SimComponent] = [:]
        for c in components { byName[c.component] = c }
        self.components = byName
        interpreters = components
        region = Self.expand(base, config)
        let file = "\(region.name)-\(config.computes).json"
        statePath = stateDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent(file).path }
        fingerprint = [String(config.computes), String(config.controllers), String(config.networkNodes), config.release,
                       config.target ?? "-", config.components.joined(separator: ","), String(region.hostOrder.count),
                       byName.keys.sorted().joined(separator: ",")].joined(separator: "|")
        if !fresh, let statePath, var saved = try Self.load(statePath) {
            Self.replayLog(statePath + ".log", into: &saved)
            if let f = saved.fingerprint, f != fingerprint {
                throw FerryError.failed(
                    "the simulated region saved in \(statePath) was built with other settings (\(f.replacingOccurrences(of: "|", with: " "))); delete that file to start from a fresh region (ferry drill --fresh does)")
            }
            clock = VirtualClock(start: saved.clock)
            origin = Mutex(saved.origin ?? saved.clock)
            model = Mutex(Model(state: saved.state))
        } else {
            if let statePath { try? FileManager.default.removeItem(atPath: statePath + ".log") }
            let start = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60
            clock = VirtualClock(start: start)
            origin = Mutex(start)
            model = Mutex(Model(state: SimState()))
            let seeded = seed()
            model.withLock { $0.state = seeded }
        }
        clock.onClose { [weak self] lane, parent, ordinal in
            self?.commitPulses(lane: lane, parent: parent, ordinal: ordinal)
            if parent == nil { self?.checkpoint() }
        }
        // At the end of every step the model is saved, beside the journal's record of it.
        clock.onStepEnd { [weak self] in
            self?.forgetOldPulses()
            try? self?.save()
        }
        // Each host done is appended to a log before the journal records it, so a killed
        // process leaves no host the journal calls done whose change the model lost.
        clock.onHostDone { [weak self] host, t in self?.logHost(host, at: t) }
    }

    public static let defaultReleases = [
        "kilo", "liberty", "mitaka", "newton", "ocata", "pike", "queens", "rocky", "stein", "train", "ussuri", "victoria",
        "wallaby", "xena", "yoga", "zed", "2023.1", "2023.2", "2024.1", "2024.2", "2025.1", "2025.2", "2026.1",
    ]

    // MARK: The region's hosts, groups and drivers settings

    /// Components that are a message broker rather than an API.
    static let brokerComponents: Set<String> = ["rabbitmq"]

    static let apiPorts = ["keystone": 5000, "glance": 9292, "cinder": 8776, "nova": 8774, "neutron": 9696, "placement": 8778]

    static func expand(_ base: Region, _ config: SimConfig) -> Region {
        var r = base
        r.ssh.transport = .local
        if r.ssh.parallel == SSHSettings().parallel { r.ssh.parallel = 1000 }
        func add(_ group: String, _ names: [String]) {
            for n in names {
                r.addHost(RegionHost(name: n, groups: [group]))
                r.addToGroup(group, n)
            }
        }
        if r.groups[ "computes"] == nil {
            let width = max(4, String(config.computes).count)
            add("computes", (0..<config.computes).map { "cmp" + String(repeating: "0", count: max(0, width - String($0 + 1).count)) + String($0 + 1) })
        }
        if r.groups["network_nodes"] == nil { add("network_nodes", (1...max(1, config.networkNodes)).map { String(format: "net%02d", $0) }) }
        if r.groups["db"] == nil { add("db", (1...3).map { "db\($0)" }) }
        if r.groups["lb"] == nil { add("lb", ["lb1", "lb2"]) }
        for side in ["old", "new"] where r.groups["rabbit_\(side)"] == nil {
            add("rabbit_\(side)", (1...3).map { "rabbit-\(side)-\($0)" })
        }
        var vips = r.vips
        var databases = r.databases
        // RabbitMQ lives on rabbit_old / rabbit_new, behind the region's broker: no API VIP or database.
        for c in config.components where !brokerComponents.contains(c) {
            for side in ["old", "new"] where r.groups["\(c)_\(side)"] == nil {
                add("\(c)_\(side)", (1...config.controllers).map { "\(c)-\(side)-\($0)" })
            }
            if vips[c] == nil {
                let servers: [String: LuaValue] = [
                    "\(c)_old": .array((r.groups["\(c)_old"] ?? []).map { .string($0) }),
                    "\(c)_new": .array((r.groups["\(c)_new"] ?? []).map { .string($0) }),
                ]
                vips[c] = ["driver": "sim", "url": .string("http://\(c).sim:\(apiPorts[c] ?? 8000)"), "servers": .map(servers)]
            }
        }
        for db in databaseNames(config.components) where databases[db] == nil {
            databases[db] = ["driver": "sim", "database": .string(db)]
        }
        if config.components.contains("nova"), vips["placement"] == nil {
            vips["placement"] = ["driver": "sim", "url": "http://placement.sim:8778", "servers": .map([
                "nova_old": .array((r.groups["nova_old"] ?? []).map { .string($0) }),
                "nova_new": .array((r.groups["nova_new"] ?? []).map { .string($0) }),
            ])]
        }
        r.vips = vips
        r.databases = databases
        if r.keystone.isNil { r.keystone = ["auth_url": "http://keystone.sim:5000/v3", "username": "admin", "region_name": "RegionOne"] }
        if r.broker.isNil { r.broker = ["url": "http://rabbit.sim:15672", "username": "admin"] }
        return r
    }

    static func databaseNames(_ components: [String]) -> [String] {
        var out: [String] = []
        for c in components where !brokerComponents.contains(c) {
            switch c {
            case "nova": out += ["nova", "nova_api", "nova_cell0"]
            default: out.append(c)
            }
        }
        return out
    }

    /// The model of a region untouched by any run: every component at `release`.
    func seed() -> SimState {
        var s = SimState()
        for name in region.hostOrder {
            s.hosts[name] = SimHost(groups: region.hosts[name]?.groups ?? [])
        }
        s.brokers["default"] = SimBroker()
        s.catalog.regions = ["RegionOne"]
        let context = Context(sim: self)
        for c in config.components {
            if let component = components[c] {
                component.seed(&s, release: config.release, newRelease: config.target, context: context)
            } else if !Self.brokerComponents.contains(c) {
                Self.genericSeed(&s, component: c, release: config.release, target: config.target, region: region)
            }
        }
        // Every simulated VIP: its `_old` servers ready, its `_new` ones in maintenance.
        for (name, settings) in region.vips where settings["driver"].stringValue == "sim" && s.vips[name] == nil {
            var vip = SimVIP()
            for (group, servers) in settings["servers"].mapValue ?? [:] {
                for h in servers.arrayValue?.compactMap(\.stringValue) ?? [] { vip.servers[h] = group.hasSuffix("_new") ? "maint" : "ready" }
            }
            s.vips[name] = vip
        }
        // Each component's code is a virtualenv per release behind a link, as the reference
        // team shipped it: `/opt/openstack/<component>` → `/opt/venvs/<release>`.
        for (name, host) in s.hosts {
            var h = host
            for (component, release) in h.code where h.links["/opt/openstack/\(component)"] == nil {
                h.links["/opt/openstack/\(component)"] = "/opt/venvs/\(release)"
            }
            s.hosts[name] = h
        }
        return s
    }

    /// What a component without a plugin looks like: an API service on its controllers,
    /// a database at the starting release, a catalog entry.
    static func genericSeed(_ s: inout SimState, component c: String, release: String, target: String?, region: Region) {
        for h in region.groups["\(c)_old"] ?? [] {
            s.hosts[h]?.code[c] = release
            s.hosts[h]?.services["\(c)-api"] = SimService(component: c, running: true, release: release)
        }
        for h in region.groups["\(c)_new"] ?? [] {
            s.hosts[h]?.code[c] = target ?? release
            s.hosts[h]?.services["\(c)-api"] = SimService(component: c, running: false, release: target ?? release)
        }
        if c == "nova" {
            for h in region.groups["computes"] ?? [] {
                s.hosts[h]?.code["nova"] = release
                s.hosts[h]?.services["openstack-nova-compute"] = SimService(component: "nova", running: true, release: release)
            }
        }
        if c == "neutron" {
            for h in (region.groups["computes"] ?? []) + (region.groups["network_nodes"] ?? []) {
                s.hosts[h]?.code["neutron"] = release
                s.hosts[h]?.services["neutron-openvswitch-agent"] = SimService(component: "neutron", running: true, release: release)
            }
        }
        for db in databaseNames([c]) {
            var d = SimDatabase(component: c)
            d.schema["main"] = release
            s.databases[db] = d
        }
        let id = "svc-\(c)"
        if !s.catalog.services.contains(where: { $0.id == id }) {
            s.catalog.services.append(.init(id: id, name: c, type: c, description: nil))
            let url = "http://\(c).sim:\(apiPorts[c] ?? 8000)"
            for interface in ["public", "internal", "admin"] {
                s.catalog.endpoints.append(.init(id: "ep-\(c)-\(interface)", serviceID: id, interface: interface, region: "RegionOne", url: url))
            }
        }
    }

    // MARK: State

    public var state: SimState { model.withLock { $0.state } }

    /// One host as the model has it now. Read under the lock, so no copy of the whole
    /// state outlives it: a copy held while another task changes the model makes that
    /// change copy every host (thousands), which the hot paths must not cause.
    public func host(_ name: String) -> SimHost? { model.withLock { $0.state.hosts[name] } }

    /// A value read from the model under its lock (the same reason as `host(_:)`).
    public func read<T>(_ body: (SimState) throws -> T) rethrows -> T { try model.withLock { try body($0.state) } }

    func mutate<T>(_ body: (inout SimState) throws -> T) rethrows -> T {
        try model.withLock { try body(&$0.state) }
    }

    struct Saved: Codable {
        var clock: Double
        var state: SimState
        var origin: Double?
        var fingerprint: String?
    }

    struct LoggedHost: Codable {
        var host: String
        var at: Double
        var state: SimHost
    }

    private let logHandle = Mutex<FileHandle?>(nil)

    /// Appends one host's model to `<state>.log` (a write per host: the page cache keeps it
    /// through a kill -9; `save` folds the log into the model and empties it).
    func logHost(_ host: String, at t: Double) {
        guard let statePath, let h = self.host(host),
            let line = try? JSONEncoder().encode(LoggedHost(host: host, at: t, state: h))
        else { return }
        logHandle.withLock { handle in
            if handle == nil {
                let path = statePath + ".log"
                try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                         withIntermediateDirectories: true)
                if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
                handle = FileHandle(forWritingAtPath: path)
                handle?.seekToEndOfFile()
            }
            handle?.write(line + Data("\n".utf8))
        }
    }

    static func replayLog(_ path: String, into saved: inout Saved) {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return }
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let entry = try? JSONDecoder().decode(LoggedHost.self, from: Data(line)) else { continue }
            saved.state.hosts[entry.host] = entry.state
            saved.clock = max(saved.clock, entry.at)
        }
    }

    /// Whole seconds since the region's timeline began (for repeatable random keys).
    func elapsed(_ t: Double) -> Int { Int(t - origin.withLock { $0 }) }

    static func load(_ path: String) throws -> Saved? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(Saved.self, from: data) } catch {
            throw FerryError.failed("the simulated region's saved state \(path) cannot be read (\(error)); delete it to start from a fresh region")
        }
    }

    /// Writes the model beside the journal (atomically), so the next command continues from it.
    public func save() throws {
        guard let statePath else { return }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: statePath).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        // Under the log's lock: no host is logged between the snapshot and emptying the log.
        try logHandle.withLock { handle in
            let saved = Saved(clock: clock.seconds, state: state, origin: origin.withLock { $0 }, fingerprint: fingerprint)
            try JSONEncoder().encode(saved).write(to: URL(fileURLWithPath: statePath), options: .atomic)
            // The saved model holds every logged host now.
            try? handle?.truncate(atOffset: 0)
            try? handle?.seek(toOffset: 0)
            if handle == nil { try? FileManager.default.removeItem(atPath: statePath + ".log") }
        }
    }

    /// Saves after a group of hosts, at most every 2 s of real time, so a killed process
    /// loses little of the model (a resumed run repeats the hosts that were in flight).
    func checkpoint() {
        let now = Date().timeIntervalSince1970
        let due = model.withLock { m -> Bool in
            guard now - m.lastSave >= 2 else { return false }
            m.lastSave = now
            return true
        }
        if due { try? save() }
    }

    /// Forgets the saved model: the next command starts from a fresh region.
    public func reset() throws {
        origin.withLock { $0 = clock.seconds }
        model.withLock { $0 = Model(state: SimState()) }
        let seeded = seed()
        model.withLock { $0.state = seeded }
        if let statePath, FileManager.default.fileExists(atPath: statePath) { try FileManager.default.removeItem(atPath: statePath) }
    }

    // MARK: Load

    /// Threads_running of the Neutron database at a moment, as seen from a lane: the base
    /// load, the agents still resyncing after a restart (each fades linearly over `resync`)
    /// that the lane may know of (those of lanes closed before it began), and the agents
    /// restarting with it (its cohort). What a lane sees depends only on the schedule, never
    /// on how the real tasks interleaved, so a drill gives the same figures every time.
    func threadsRunning(at t: Double, lane: String?) -> Double {
        let l = config.load
        let horizon = clock.horizon(lane: lane) ?? Int.max
        let fromPast = model.withLock { m in
            m.pulses.reduce(0.0) { sum, p in
                let age = t - p.start
                guard p.ordinal <= horizon, age >= 0, age < l.resync else { return sum }
                return sum + p.weight * (1 - age / l.resync)
            }
        }
        return l.base + fromPast + Double(clock.cohort(lane: lane)) * l.perAgent
    }

    func addPulse(at t: Double, lane: String) {
        model.withLock { $0.pendingPulses[lane, default: []].append(Pulse(start: t, weight: config.load.perAgent)) }
    }

    /// A lane closed: its restarts go to its parent's (a nested window), or now weigh on
    /// the database, in the order the lanes closed.
    func commitPulses(lane: String, parent: String?, ordinal: Int?) {
        model.withLock { m in
            guard let pending = m.pendingPulses.removeValue(forKey: lane) else { return }
            if let parent {
                m.pendingPulses[parent, default: []] += pending
                return
            }
            m.pulses += pending.map { var p = $0; p.ordinal = ordinal ?? 0; return p }
        }
    }

    /// At a step's end no lane is open: restarts older than `resync` no longer weigh.
    func forgetOldPulses() {
        let horizon = clock.seconds - config.load.resync
        model.withLock { m in m.pulses.removeAll { $0.start < horizon } }
    }

    // MARK: Faults and randomness

    /// A repeatable number in 0..<1 for a key (FNV-1a over the seed and the key).
    func random(_ key: String) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ config.seed
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return Double(h >> 11) / Double(1 << 53)
    }

    func faults(host: String?, command: String?, release: String?, primitive: String?) -> [SimFault] {
        let step = clock.step
        return config.faults.filter { f in
            if let p = f.primitive { if p != primitive { return false } } else if primitive != nil { return false }
            if let h = f.host, h != host { return false }
            if let g = f.group { guard let host, region.hosts[host]?.groups.contains(g) == true else { return false } }
            if let s = f.step, s != step { return false }
            if let c = f.command { guard let command, command.contains(c) else { return false } }
            if let r = f.release, r != release { return false }
            if f.probability < 1 {
                return random("fault|\(f.kind)|\(host ?? "")|\(step ?? "")|\(command ?? primitive ?? "")") < f.probability
            }
            return true
        }
    }

    /// The faults that make a primitive fail (`unreachable`, `fail`), once any `hold`
    /// on it is released; `slow` ones do not fail it.
    func failing(primitive: String, host: String?) async throws -> [SimFault] {
        let matching = faults(host: host, command: nil, release: nil, primitive: primitive)
        for f in matching where f.kind == .hold {
            if let file = f.until { try await SimTransport.waitForFile(file) }
        }
        return matching.filter { $0.kind == .fail || $0.kind == .unreachable }
    }

    func duration(_ key: String, _ fallback: Double) -> Double {
        config.durations[key] ?? fallback * config.durationScale
    }

    /// What interpreters see besides the state.
    struct Context: SimContext {
        let sim: SimRegion
        func duration(_ key: String, _ fallback: Double) -> Double { sim.duration(key, fallback) }
        func random(_ key: String) -> Double { sim.random(key) }
        var computes: Int { sim.config.computes }
        var releases: [String] { sim.releases }
    }

    // MARK: Drivers

    public var transport: any Transport { SimTransport(sim: self) }

    public var drivers: RunDrivers {
        var d = RunDrivers()
        d.backups = SimBackups(sim: self)
        d.catalog = SimCatalogDriver(sim: self)
        d.broker = SimBrokerDriver(sim: self)
        d.http = SimHTTP(sim: self)
        d.vip = { [self] name in
            guard self.state.vips[name] != nil else {
                throw VIPError(vip: name, message: "no VIP named '\(name)' in the simulated region (vips: \(self.state.vips.keys.sorted().joined(separator: ", ")))")
            }
            return SimVIPDriver(sim: self, name: name)
        }
        return d
    }

    public var databaseDriver: any DatabaseDriver { SimDatabaseDriver(sim: self) }

    /// Lines describing how `other` differs from this state (empty: identical).
    public static func differences(_ a: SimState, _ b: SimState, limit: Int = 20) -> [String] {
        var out: [String] = []
        func note(_ s: String) { if out.count < limit { out.append(s) } }
        for name in Set(a.hosts.keys).union(b.hosts.keys).sorted() {
            let x = a.hosts[name], y = b.hosts[name]
            guard let x, let y else { note("host \(name): \(x == nil ? "appeared" : "disappeared")"); continue }
            if x == y { continue }
            for (c, r) in x.code where y.code[c] != r { note("host \(name): \(c) code \(y.code[c] ?? "none") (was \(r))") }
            for c in y.code.keys where x.code[c] == nil { note("host \(name): \(c) code \(y.code[c]!) (was none)") }
            for svc in Set(x.services.keys).union(y.services.keys).sorted() where x.services[svc] != y.services[svc] {
                let describe = { (s: SimService?) in
                    s.map { "\($0.running ? "running" : "stopped") \($0.release)\($0.enabled ? "" : " disabled")" } ?? "absent"
                }
                note("host \(name): service \(svc) \(describe(y.services[svc])) (was \(describe(x.services[svc])))")
            }
            // Ferry's own timestamped backups (host:ini) stay on hosts, as on real ones.
            for path in Set(x.files.keys).union(y.files.keys).sorted() where x.files[path] != y.files[path] && !isFerryBackup(path) {
                note("host \(name): file \(path) \(y.files[path] == nil ? "removed" : x.files[path] == nil ? "created" : "changed")")
            }
            for link in Set(x.links.keys).union(y.links.keys).sorted() where x.links[link] != y.links[link] {
                note("host \(name): link \(link) → \(y.links[link] ?? "none") (was \(x.links[link] ?? "none"))")
            }
        }
        for db in Set(a.databases.keys).union(b.databases.keys).sorted() where a.databases[db] != b.databases[db] {
            let x = a.databases[db], y = b.databases[db]
            if let x, let y {
                for part in Set(x.schema.keys).union(y.schema.keys).sorted() where x.schema[part] != y.schema[part] {
                    note("database \(db): schema \(part) at \(y.schema[part] ?? "none") (was \(x.schema[part] ?? "none"))")
                }
                for k in Set(x.counters.keys).union(y.counters.keys).sorted() where x.counters[k] != y.counters[k] {
                    note("database \(db): \(k) \(y.counters[k] ?? 0) (was \(x.counters[k] ?? 0))")
                }
                for k in Set(x.flags.keys).union(y.flags.keys).sorted() where x.flags[k] != y.flags[k] {
                    note("database \(db): \(k) \(y.flags[k] ?? "none") (was \(x.flags[k] ?? "none"))")
                }
            } else {
                note("database \(db): \(x == nil ? "created" : "dropped")")
            }
        }
        if !a.catalog.sameEntries(b.catalog) {
            let ex = Set(a.catalog.endpoints.map { "\($0.interface) \($0.url)" }), ey = Set(b.catalog.endpoints.map { "\($0.interface) \($0.url)" })
            for e in ey.subtracting(ex).sorted() { note("catalog: endpoint \(e) added") }
            for e in ex.subtracting(ey).sorted() { note("catalog: endpoint \(e) removed") }
            let sx = Set(a.catalog.services.map { "\($0.name) (\($0.type))" }), sy = Set(b.catalog.services.map { "\($0.name) (\($0.type))" })
            for s in sy.subtracting(sx).sorted() { note("catalog: service \(s) added") }
            for s in sx.subtracting(sy).sorted() { note("catalog: service \(s) removed") }
            if ex == ey && sx == sy { note("catalog: regions or identifiers changed") }
        }
        for v in Set(a.vips.keys).union(b.vips.keys).sorted() where a.vips[v] != b.vips[v] {
            let x = a.vips[v] ?? SimVIP(), y = b.vips[v] ?? SimVIP()
            if x.maintenance != y.maintenance { note("vip \(v): maintenance \(y.maintenance) (was \(x.maintenance))") }
            for s in Set(x.servers.keys).union(y.servers.keys).sorted() where x.servers[s] != y.servers[s] {
                note("vip \(v): server \(s) \(y.servers[s] ?? "absent") (was \(x.servers[s] ?? "absent"))")
            }
        }
        for br in Set(a.brokers.keys).union(b.brokers.keys).sorted() where a.brokers[br] != b.brokers[br] {
            let x = a.brokers[br] ?? SimBroker(), y = b.brokers[br] ?? SimBroker()
            let px = Set(x.policies.map { "\($0.vhost)/\($0.name)" }), py = Set(y.policies.map { "\($0.vhost)/\($0.name)" })
            for p in py.subtracting(px).sorted() { note("broker: policy \(p) added") }
            for p in px.subtracting(py).sorted() { note("broker: policy \(p) removed") }
            for v in Set(y.vhosts).subtracting(x.vhosts).sorted() { note("broker: vhost \(v) added") }
            for v in Set(x.vhosts).subtracting(y.vhosts).sorted() { note("broker: vhost \(v) removed") }
            for u in Set(y.users.keys).subtracting(x.users.keys).sorted() { note("broker: user \(u) added") }
            for (k, v) in y.permissions where x.permissions[k] != v { note("broker: permissions \(k) \(v) (were \(x.permissions[k] ?? "none"))") }
            for p in y.policies where px.contains("\(p.vhost)/\(p.name)") && !x.policies.contains(p) { note("broker: policy \(p.vhost)/\(p.name) changed") }
            let qx = Set(x.queues.map { "\($0.vhost)/\($0.name)" }), qy = Set(y.queues.map { "\($0.vhost)/\($0.name)" })
            for q in qy.subtracting(qx).sorted() { note("broker: queue \(q) added") }
            for q in qx.subtracting(qy).sorted() { note("broker: queue \(q) removed") }
        }
        return out
    }

    static func isFerryBackup(_ path: String) -> Bool {
        path.range(of: #"\.ferry-\d{8}T\d{6}"#, options: .regularExpression) != nil
    }
}

/// A drill compares the whole model before and after each repetition.
extension SimRegion: DrillModel {
    public func capture() -> SimState { state }
    public func differences(from before: SimState) -> [String] { Self.differences(before, state) }
}
