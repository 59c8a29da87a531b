import FerryCore
import Foundation

// What the simulation asks of a component. Everything FerrySimulation knows about a
// particular component comes through these types, from the component's plugin
// (Sources/Plugins/<Component>/<Component>Simulation.swift); the simulation itself names none.

/// What an interpreter may ask of the simulation besides the state.
public protocol SimContext: Sendable {
    /// The estimate for `key` (e.g. `"<component>-manage db sync"`), after the region's
    /// `durations:` overrides; `fallback` when neither knows it.
    func duration(_ key: String, _ fallback: Double) -> Double
    /// A repeatable number in 0..<1 for this key (seeded by the region's `seed`).
    func random(_ key: String) -> Double
    /// Number of compute nodes in the region.
    var computes: Int { get }
    /// Releases in order, oldest first (`kilo` … `2026.1`).
    var releases: [String] { get }
    /// Compute nodes retired without their service rows deleted (`simulate.retired_computes`), nil when the region does not say.
    var retiredComputes: Int? { get }
    /// The simulated clock now (seconds since 1970), on the lane asking.
    var now: Double { get }
}

/// Teaches the simulation one family of commands (a component's `*-manage`, `*-status`).
/// Component plugins provide them; adding a component adds its interpreter.
public protocol SimCommandInterpreter: Sendable {
    /// Program base names handled (`["<component>-manage"]`).
    var programs: Set<String> { get }
    /// Runs the command against the state; nil leaves it to the next interpreter
    /// (and finally to the recorder, which accepts it and changes nothing).
    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome?
    /// Before ``run(_:state:context:)``: the failure the real tool gives for words its release
    /// does not have (argparse's `invalid choice`, exit 2), or nil when they name a command
    /// of that release. A command it names that `run` then leaves (nil) is recorded, not
    /// judged. Default: nil (no table of the tool's commands).
    func reject(_ command: SimCommand, state: SimState) -> SimOutcome?
}

extension SimCommandInterpreter {
    public func reject(_ command: SimCommand, state: SimState) -> SimOutcome? { nil }
}

/// A component as the simulated region knows it: where it lives in the region (its APIs,
/// databases, the hosts and settings it adds), what a region running it looks like before
/// anything is done (`seed`), its commands, and the few ways it behaves under a run (which
/// RPC queues it reads, how its restarts load its database, how long its dumps take).
///
/// Every requirement but `component` has a default: a component that gives nothing else is
/// an API on port 8000 with one database named after it, seeded by ``seedGeneric(_:release:newRelease:)``
/// (which is also what a component named in `simulate.components` without a plugin gets).
public protocol SimComponent: SimCommandInterpreter {
    /// The component's name, as `simulate.components` lists it and its groups are named
    /// (`<component>_old`, `<component>_new`).
    var component: String { get }

    // MARK: Where it lives in the region

    /// The APIs it serves, each behind a VIP of that name whose servers are the controllers of
    /// `<component>_old` and `<component>_new`. A component with none (a message broker) gets
    /// no controllers and no VIP. Default: one API named after the component on port 8000.
    var apis: [SimAPI] { get }
    /// The databases the region gets for it (`databases:` entries, driver `sim`) when the
    /// region file does not name them. Default: one named after the component, none when it
    /// serves no API.
    var databases: [String] { get }
    /// Adds what the component brings to every simulated region when the region file leaves
    /// it out: the settings of a region-wide service it is (the catalog's, the broker's), hosts of its
    /// own groups (``SimTopology/addGroup(_:_:hosts:)``). Called for every component a plugin
    /// teaches, listed in `simulate.components` or not, after the generic groups (`computes`,
    /// `network_nodes`, `db`, `lb`) and before the controllers. Default: nothing.
    func complete(_ region: inout Region)
    /// When the component is the region's catalog: how the simulated catalog names it in its
    /// errors and the region its endpoints default to. Default: nil.
    func catalogRole(in region: Region) -> SimCatalogRole?
    /// When the component is the region's message broker: how the simulated broker names it
    /// in its errors and the overview it reports. Default: nil.
    func brokerRole(in region: Region) -> SimBrokerRole?

    // MARK: How it behaves

    /// RPC topics (a queue's name up to its first dot) whose queue a unit of this component
    /// reads, with what that unit's name contains (`"scheduler": "<component>-scheduler"`).
    /// A topic no component names is read by a unit named like it. Default: none.
    var queueReaders: [String: String] { get }
    /// Programs its hosts have that the simulation runs without judging (its client, a
    /// hypervisor's tools): recorded and warned about, where a program no component names
    /// fails as the shell would (`command not found`, exit 127). Default: its client, a
    /// program named like the component.
    var recordedPrograms: Set<String> { get }
    /// How restarting some of its units loads one of its databases. Default: nil (restarts load nothing).
    var loadModel: SimLoadModel? { get }
    /// The estimate in seconds for restarting `unit` (before `durations:` and `duration_scale`),
    /// or nil for the region's default (5 s). Default: nil.
    func restartSeconds(unit: String) -> Double?
    /// Seconds per compute node that dumping `database` adds to a backup when the database
    /// grows with the region; nil for the default (0.05). Asked of every component, first
    /// answer wins. Default: nil.
    func dumpSecondsPerCompute(database: String) -> Double?
    /// The counter of a database (``SimDatabase/counters``) that answers `SELECT COUNT(*)`
    /// over `table` (lower case) for this `query` (the statement in upper case), or nil to
    /// leave it to the next component (and finally to the counter `rows:<table>`). Default: nil.
    func countKey(table: String, query: String) -> String?
    /// The rows of `table` (lower case) in `database` as this component models them (its
    /// release's columns, ``SimTable``), or nil when it does not model that table. Statements
    /// within ``SimQuery``'s subset are evaluated over them before anything else answers.
    /// Default: nil.
    func table(_ table: String, database: String, state: SimState, context: any SimContext) -> SimTable?
    /// Applies an UPDATE, INSERT or DELETE to one of the tables ``table(_:database:state:context:)``
    /// gives: the number of rows affected, or nil when the model does not keep that change
    /// (the statement is then recorded as unjudged and changes nothing). Default: nil.
    func apply(_ change: SimTableChange, database: String, state: inout SimState, context: any SimContext) -> Int?
    /// A unit of this component starting (start, restart, reload, try-restart) on `host` with
    /// its code at `release`: nil when it starts (after recording what its start records,
    /// e.g. its service row), or what systemd reports when the service refuses to start
    /// (`Job for X.service failed: …`; the unit stays stopped). Default: it starts.
    func start(unit: String, host: String, release: String, state: inout SimState) -> String?
    /// The configuration files a unit of this component reads as it starts on `host` with its code at
    /// `release`, judged before ``start(unit:host:release:state:)``: a refusal (what systemd reports;
    /// the unit stays stopped) for what the component's schema of that release says is a mistake,
    /// and what it could not judge, each recorded once per run. Default: nothing judged.
    func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict
    /// A unit of this component restarted (start, restart, reload, try-restart of a unit that runs) on `host` at
    /// `at` (the simulated clock, seconds since 1970): its code goes from `previous` (the release it last ran) to
    /// `release`, and the start took `seconds` (after any stretch under its database's load); `synced` is false when
    /// the start failed under that load (the unit timed out syncing). What the restart does to what the unit serves
    /// meanwhile, e.g. a host's data plane, kept in ``SimState/transient``. Called after ``start(unit:host:release:state:)``
    /// let the unit start, or when the load failed it; not for a start the component or the broker refused. Default: nothing.
    func restarted(unit: String, host: String, previous: String, release: String, at: Double, seconds: Double, synced: Bool,
                   state: inout SimState, context: any SimContext)

    /// Fills `state` for a region whose component runs `release` everywhere, except the
    /// hosts of `<component>_new`, which come prebuilt with `newRelease` (services stopped)
    /// when it is given. Hosts and their groups already exist in `state.hosts`.
    /// Default: ``seedGeneric(_:release:newRelease:)``.
    func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext)
}

/// What a component's judgement of a unit's configuration says (``SimComponent/judgeConfig(unit:host:release:state:)``).
public struct SimConfigVerdict: Sendable, Equatable {
    /// What systemd reports when the start is refused for the configuration (`Job for X.service failed: …`), or nil.
    public var refusal: String?
    /// What it could not judge: the text recorded (the same text is said once per run) and why.
    public var unjudged: [Unjudged]

    public struct Unjudged: Sendable, Equatable {
        public var text: String
        public var why: String
        public init(text: String, why: String) { (self.text, self.why) = (text, why) }
    }

    public init(refusal: String? = nil, unjudged: [Unjudged] = []) { (self.refusal, self.unjudged) = (refusal, unjudged) }
}

/// An API a component serves behind the region's VIP of the same name.
public struct SimAPI: Sendable, Equatable {
    /// The VIP's name and the host of its URL: `http://<name>.sim:<port>`.
    public var name: String
    public var port: Int
    /// What its version document (`/`, `/versions`) answers: 300 (Multiple Choices) or 200.
    public var versionStatus: Int

    public init(name: String, port: Int = 8000, versionStatus: Int = 200) {
        (self.name, self.port, self.versionStatus) = (name, port, versionStatus)
    }
}

/// How restarting some of a component's units loads one of its databases: each restart adds
/// `simulate.load.per_agent` to the database's `Threads_running` while the unit resyncs
/// (`resync`, fading linearly); past `threshold` restarts take longer and some fail.
/// The figures are the region's; the model says which units, which database and what a
/// failed restart says.
public struct SimLoadModel: Sendable {
    /// The database whose `Threads_running` the restarts raise.
    public var database: String
    /// Whether restarting this unit weighs on the database.
    public var weighs: @Sendable (_ unit: String) -> Bool
    /// What a restart that failed under the load says (systemd's `Job for … failed: …`).
    public var overloaded: @Sendable (_ unit: String, _ threadsRunning: Int, _ threshold: Int) -> String
    /// What else a restart of `unit` on `host` sets off on the database, beyond its own resync
    /// (a server moving the work of peers it thinks dead onto the unit that just came up): the
    /// state changed accordingly, and the extra threads with what caused them, or nil. A restart
    /// whose surge takes the database past its threshold fails (the work lands on it), where
    /// an ordinary overload fails by chance; the unit then syncs nothing, so its surge stops
    /// weighing with it (its own resync still does). Default: none.
    public var surge: (@Sendable (_ unit: String, _ host: String, _ state: inout SimState) -> SimLoadSurge?)?

    public init(database: String, weighs: @escaping @Sendable (_ unit: String) -> Bool,
                overloaded: @escaping @Sendable (_ unit: String, _ threadsRunning: Int, _ threshold: Int) -> String,
                surge: (@Sendable (_ unit: String, _ host: String, _ state: inout SimState) -> SimLoadSurge?)? = nil)
    {
        self.database = database
        self.weighs = weighs
        self.overloaded = overloaded
        self.surge = surge
    }
}

/// Extra load a restart sets off (``SimLoadModel/surge``): threads that fade like a restart's
/// resync, and why, which the failure names.
public struct SimLoadSurge: Sendable {
    public var threads: Double
    public var why: String
    public init(threads: Double, why: String) {
        self.threads = threads
        self.why = why
    }
}

/// What the simulated catalog takes from the component that is the region's catalog.
public struct SimCatalogRole: Sendable {
    /// How errors name the service: `catalog: <label>: 503 …`.
    public var label: String
    /// The region endpoints go to when a call names none.
    public var defaultRegion: String
    /// What a new token's catalog shows of an endpoint's URL, as the catalog's release
    /// formats it: the URL with its substitutions done, or nil when that release leaves the
    /// endpoint out (`catalog.token_catalog()`). Default: the URL as registered.
    public var tokenURL: @Sendable (_ url: String, _ state: SimState) -> String?

    public init(label: String, defaultRegion: String,
                tokenURL: @escaping @Sendable (_ url: String, _ state: SimState) -> String? = { url, _ in url })
    {
        (self.label, self.defaultRegion, self.tokenURL) = (label, defaultRegion, tokenURL)
    }
}

/// What the simulated broker takes from the component that is the region's message broker.
public struct SimBrokerRole: Sendable {
    /// How errors name the service: `broker: <label>: GET /queues/…: 404 …`.
    public var label: String
    /// The overview it reports; `messages` and `queues` are counted from the model.
    public var overview: BrokerOverview
    /// The group of the cluster the region's `broker:` reaches: a host whose configuration names one of
    /// its hosts in a `transport_url` publishes notifications to it (nil: nothing publishes).
    public var clusterGroup: String?
    /// The queue a notifier declares and publishes to when nothing else says (`notifications.info`).
    public var notificationQueue: String
    /// Whether a queue of this name is a notification queue (read by declared consumers, not RPC readers).
    public var isNotificationQueue: @Sendable (String) -> Bool
    /// The words of the failure of a unit that cannot publish while the broker's alarm blocks publishers.
    public var blocked: @Sendable (_ unit: String, _ alarm: String) -> String

    public init(label: String, overview: BrokerOverview, clusterGroup: String? = nil, notificationQueue: String = "notifications.info",
                isNotificationQueue: @escaping @Sendable (String) -> Bool = { $0.hasPrefix("notifications") },
                blocked: @escaping @Sendable (String, String) -> String = { unit, alarm in "Job for \(unit).service failed: \(alarm)" })
    {
        (self.label, self.overview, self.clusterGroup, self.notificationQueue) = (label, overview, clusterGroup, notificationQueue)
        self.isNotificationQueue = isNotificationQueue
        self.blocked = blocked
    }
}

extension SimComponent {
    public var apis: [SimAPI] { [SimAPI(name: component)] }
    public var databases: [String] { apis.isEmpty ? [] : [component] }
    public func complete(_ region: inout Region) {}
    public func catalogRole(in region: Region) -> SimCatalogRole? { nil }
    public func brokerRole(in region: Region) -> SimBrokerRole? { nil }
    public var queueReaders: [String: String] { [:] }
    public var recordedPrograms: Set<String> { [component] }
    public var loadModel: SimLoadModel? { nil }
    public func restartSeconds(unit: String) -> Double? { nil }
    public func dumpSecondsPerCompute(database: String) -> Double? { nil }
    public func countKey(table: String, query: String) -> String? { nil }
    public func table(_ table: String, database: String, state: SimState, context: any SimContext) -> SimTable? { nil }
    public func apply(_ change: SimTableChange, database: String, state: inout SimState, context: any SimContext) -> Int? { nil }
    public func start(unit: String, host: String, release: String, state: inout SimState) -> String? { nil }
    public func judgeConfig(unit: String, host: String, release: String, state: SimState) -> SimConfigVerdict { SimConfigVerdict() }
    public func restarted(unit: String, host: String, previous: String, release: String, at: Double, seconds: Double, synced: Bool,
                          state: inout SimState, context: any SimContext) {}

    public func seed(_ state: inout SimState, release: String, newRelease: String?, context: any SimContext) {
        seedGeneric(&state, release: release, newRelease: newRelease)
    }

    /// What a component looks like when nothing more is known of it: a service
    /// `<component>-api` on its controllers (running `release` on `<component>_old`; stopped
    /// at `newRelease`, or `release`, on `<component>_new`), its ``databases`` with their
    /// `main` schema at `release`, and, when it serves an API, a catalog service with three endpoints at the first one's port.
    public func seedGeneric(_ state: inout SimState, release: String, newRelease: String?) {
        let c = component
        for (name, host) in state.hosts {
            var h = host
            if h.groups.contains("\(c)_old") {
                h.code[c] = release
                h.services["\(c)-api"] = SimService(component: c, running: true, release: release)
            }
            if h.groups.contains("\(c)_new") {
                h.code[c] = newRelease ?? release
                h.services["\(c)-api"] = SimService(component: c, running: false, release: newRelease ?? release)
            }
            if h != host { state.hosts[name] = h }
        }
        for db in databases {
            var d = SimDatabase(component: c)
            d.schema["main"] = release
            state.databases[db] = d
        }
        let id = "svc-\(c)"
        if let api = apis.first, !state.catalog.services.contains(where: { $0.id == id }) {
            state.catalog.services.append(.init(id: id, name: c, type: c, description: nil))
            let url = "http://\(c).sim:\(api.port)"
            for interface in ["public", "internal", "admin"] {
                state.catalog.endpoints.append(.init(id: "ep-\(c)-\(interface)", serviceID: id, interface: interface, region: "RegionOne", url: url))
            }
        }
    }
}

/// A component named in `simulate.components` that no plugin teaches: everything by default.
struct GenericSimComponent: SimComponent {
    let component: String
    var programs: Set<String> { [] }
    func run(_ command: SimCommand, state: inout SimState, context: any SimContext) -> SimOutcome? { nil }
}
