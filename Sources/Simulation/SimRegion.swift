import FerryCore
import Foundation
import LuaBridge
import Synchronization

/// The simulated region: hosts, services, databases, VIPs, catalog and broker as a model on a
/// virtual clock. It supplies the transport and every driver of a run; the engine never asks
/// which region it has. It holds the model and composes the parts that do the rest, each in
/// its own file:
///
/// - ``SimTopology``: the region file completed with the hosts, groups, VIPs and databases it leaves out;
/// - ``SimSeeder``: the model of a region untouched by any run;
/// - ``SimStore``: the model saved between commands, and the crash log;
/// - ``SimLoad``: a database's load under the restarts a component's load model names;
/// - ``SimFaults``: injected faults and the seeded randomness;
/// - the transport and drivers it hands a run (SimRegion+Drivers.swift), and ``SimDiff`` for drills.
///
/// What it knows of any component comes from the plugins, through ``SimComponents``.
public final class SimRegion: Sendable {
    public let region: Region
    public let config: SimConfig
    public let clock: VirtualClock
    public let releases: [String]
    /// What the plugins teach (databases, services, manage commands, …).
    let components: SimComponents
    let store: SimStore
    let load: SimLoad
    let faults: SimFaults
    /// What it ran without judging, said once per run (SimUnjudged.swift).
    let unjudged: SimUnjudged
    /// The component that is the region's catalog, and its message broker, as their drivers see them.
    let catalogRole: SimCatalogRole?
    /// When the broker was last brought up to date in this process (``brokerTick``), while nothing
    /// published: kept out of the model, which a run that publishes nothing leaves as it found it.
    let brokerTicked = Mutex<Double?>(nil)
    let brokerRole: SimBrokerRole?
    private let model: Mutex<SimState>

    /// Where the model is saved between commands (`ferry run`, then `ferry rollback`).
    public var statePath: String? { store.path }
    /// Who interprets commands: the components, in the order given.
    var interpreters: [any SimCommandInterpreter] { components.all }

    /// Builds the simulated region for a region file with `simulate:` (or the built-in one).
    /// - Parameters:
    ///   - computes: overrides `simulate.computes` (`--computes N`).
    ///   - components: what the plugins teach the simulation (databases, services, manage commands);
    ///     `simulate.components` defaults to all of them, in this order.
    ///   - stateDirectory: where the model is kept between commands; nil keeps it in memory only.
    /// - Parameter fresh: ignore (and later overwrite) a saved model.
    public init(region base: Region, computes: Int? = nil, components: [any SimComponent] = [],
                releases: [String] = SimRegion.defaultReleases, stateDirectory: String?, fresh: Bool = false) throws
    {
        var config = try SimConfig(base.simulate ?? .map([:]), file: base.file ?? base.name, directory: base.directory)
        if let computes { config.computes = computes }
        if config.components == nil { config.components = components.map(\.component) }
        self.config = config
        self.releases = releases
        for r in [config.release] + [config.target].compactMap({ $0 }) where !releases.contains(r) {
            throw FerryError.failed("\(base.file ?? base.name): simulate: unknown release '\(r)' (known: \(releases.joined(separator: ", ")))")
        }
        let taught = SimComponents(components)
        self.components = taught
        let region = SimTopology.expand(base, config: config, components: taught)
        if let problem = region.unknownFamilyGroup() { throw FerryError.invalid("\(base.file ?? base.name): \(problem)") }
        self.region = region
        var fingerprintParts = [String(config.computes), String(config.controllers), String(config.networkNodes), config.release,
                                config.target ?? "-", (config.components ?? []).joined(separator: ","), String(region.hostOrder.count),
                                taught.taughtNames.joined(separator: ",")]
        // Hosts of the deb family (their unit names differ); none adds nothing, so models saved before families still load.
        let debHosts = region.hosts.values.filter { $0.family == .deb }.count
        if debHosts > 0 { fingerprintParts.append("deb hosts \(debHosts)") }
        let fingerprint = fingerprintParts.joined(separator: "|")
        store = SimStore(directory: stateDirectory, file: "\(region.name)-\(config.computes).json", fingerprint: fingerprint)
        let saved = fresh ? nil : try store.load()
        if fresh { store.discardLog() }
        let start = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60
        // No model saved yet (the command before was killed, or its disk was full, before
        // its first save): the hosts its log holds are laid over the seeded region below,
        // so no host the journal calls done comes back unchanged.
        let logged = saved == nil && !fresh ? store.loggedHosts() : nil
        clock = VirtualClock(start: saved?.clock ?? max(start, logged?.clock ?? start))
        unjudged = SimUnjudged(clock: clock)
        faults = SimFaults(config: config, region: region, clock: clock, origin: saved.map { $0.origin ?? $0.clock } ?? start)
        load = SimLoad(settings: config.load, clock: clock, databases: taught.loadedDatabases)
        catalogRole = taught.all.lazy.compactMap { $0.catalogRole(in: region) }.first
        brokerRole = taught.all.lazy.compactMap { $0.brokerRole(in: region) }.first
        model = Mutex(saved?.state ?? SimState())
        if saved == nil {
            var seeded = seed()
            for (name, host) in logged?.state.hosts ?? [:] { seeded.hosts[name] = host }
            model.withLock { [seeded] in $0 = seeded }
        }
        clock.onClose { [weak self] lane, parent, ordinal in
            self?.load.laneClosed(lane, parent: parent, ordinal: ordinal)
            if parent == nil { self?.checkpoint() }
        }
        // At the end of every step the model is saved, beside the journal's record of it.
        clock.onStepEnd { [weak self] in
            self?.load.stepEnded()
            try? self?.save()
        }
        // Each host done is appended to a log before the journal records it, so a killed
        // process leaves no host the journal calls done whose change the model lost.
        clock.onHostDone { [weak self] host, t in try self?.logHost(host, at: t) }
    }

    public static let defaultReleases = [
        "kilo", "liberty", "mitaka", "newton", "ocata", "pike", "queens", "rocky", "stein", "train", "ussuri", "victoria",
        "wallaby", "xena", "yoga", "zed", "2023.1", "2023.2", "2024.1", "2024.2", "2025.1", "2025.2", "2026.1",
    ]

    func seed() -> SimState { SimSeeder.seed(region: region, config: config, components: components, context: Context(sim: self)) }

    // MARK: The model

    public var state: SimState { model.withLock { $0 } }

    /// One host as the model has it now. Read under the lock, so no copy of the whole
    /// state outlives it: a copy held while another task changes the model makes that
    /// change copy every host (thousands), which the hot paths must not cause.
    public func host(_ name: String) -> SimHost? { model.withLock { $0.hosts[name] } }

    /// A value read from the model under its lock (the same reason as `host(_:)`).
    public func read<T>(_ body: (SimState) throws -> T) rethrows -> T { try model.withLock { try body($0) } }

    func mutate<T>(_ body: (inout SimState) throws -> T) rethrows -> T {
        try model.withLock { try body(&$0) }
    }

    // MARK: Saving (SimStore)

    /// Writes the model beside the journal (atomically), so the next command continues from it.
    public func save() throws {
        try store.save {
            SimStore.Saved(clock: clock.seconds, state: state, origin: faults.origin.withLock { $0 }, fingerprint: store.fingerprint)
        }
    }

    /// Appends one host's model to the crash log; throws when it cannot (a full disk), so
    /// the host is not journaled as done with a change the model could lose.
    func logHost(_ name: String, at t: Double) throws {
        guard store.path != nil, let h = host(name) else { return }
        try store.log(host: name, at: t, state: h)
    }

    /// Saves after a group of hosts, at most every 2 s of real time.
    func checkpoint() {
        if store.checkpointDue() { try? save() }
    }

    /// Forgets the saved model: the next command starts from a fresh region.
    public func reset() throws {
        faults.origin.withLock { $0 = clock.seconds }
        load.reset()
        model.withLock { $0 = SimState() }
        let seeded = seed()
        model.withLock { $0 = seeded }
        try store.remove()
    }

    // MARK: Estimates

    func duration(_ key: String, _ fallback: Double) -> Double {
        config.durations[key] ?? fallback * config.durationScale
    }

    /// What interpreters see besides the state.
    struct Context: SimContext {
        let sim: SimRegion
        func duration(_ key: String, _ fallback: Double) -> Double { sim.duration(key, fallback) }
        func random(_ key: String) -> Double { sim.faults.random(key) }
        var computes: Int { sim.config.computes }
        var releases: [String] { sim.releases }
        var retiredComputes: Int? { sim.config.retiredComputes }
        var now: Double { sim.clock.now(host: RunLane.current).timeIntervalSince1970 }
    }
}
