import FerryCore
import FerrySimulation
import Foundation

/// A manage command's words after the global options (`--config-file X`, `--debug`)
/// are taken out: `glance-manage --config-file a.conf db sync` → `["db", "sync"]`.
struct ManageArguments {
    var words: [String] = []
    /// `--flag value` and `--flag=value` options after the command words.
    var options: [String: String] = [:]
    /// Flags given without a value (`--delete`, `--expand`).
    var flags: Set<String> = []

    /// Options that take a value; anything else starting with `-` is a flag.
    init(_ argv: [String], valued: Set<String> = []) {
        let global: Set<String> = ["--config-file", "--config-dir", "--log-file", "--log-dir"]
        var i = 1
        while i < argv.count {
            let w = argv[i]
            if global.contains(w) {
                i += 2
                continue
            }
            if w.hasPrefix("--config-file=") || w.hasPrefix("--config-dir=") || w == "--debug" || w == "-d" || w == "--verbose" || w == "-v" {
                i += 1
                continue
            }
            if w.hasPrefix("-") {
                if let eq = w.firstIndex(of: "=") {
                    options[String(w[..<eq])] = String(w[w.index(after: eq)...])
                } else if valued.contains(w), i + 1 < argv.count {
                    options[w] = argv[i + 1]
                    i += 1
                } else {
                    flags.insert(w)
                }
            } else {
                words.append(w)
            }
            i += 1
        }
    }

    func starts(with prefix: String...) -> Bool { words.starts(with: prefix) }
    func int(_ option: String) -> Int? { options[option].flatMap(Int.init) }
}

/// Small shared pieces of the component simulations.
enum Sim {
    /// Index of a release in Ferry's order, or nil.
    static func index(_ release: String?) -> Int? { release.flatMap(Releases.index) }

    /// `a` is at least `b` in release order.
    static func atLeast(_ a: String?, _ b: String) -> Bool { Releases.atLeast(a, b) }
    static func before(_ a: String?, _ b: String) -> Bool { Releases.before(a, b) }

    /// The release of the tool: the command's own (a virtualenv), else what the host has installed.
    static func tool(_ command: SimCommand, _ state: SimState, component: String) -> String? {
        if let t = command.toolRelease, Releases.find(t) != nil { return Releases.find(t)!.name }
        return state.hosts[command.host]?.code[component]
    }

    static func ok(_ stdout: String = "", duration: Double) -> SimOutcome {
        SimOutcome(exitCode: 0, stdout: stdout.isEmpty || stdout.hasSuffix("\n") ? stdout : stdout + "\n", duration: duration)
    }

    /// What a shell says for a program the host does not have.
    static func notInstalled(_ command: SimCommand) -> SimOutcome {
        .fail("sh: 1: \(command.program): not found", code: 127, duration: 0.05)
    }

    /// What argparse (oslo.config sub-commands) says for words a tool does not know.
    static func unrecognized(_ command: SimCommand, _ words: [String]) -> SimOutcome {
        .fail("usage: \(command.program) [-h] [--config-dir DIR] [--config-file PATH] [--debug] [--version] {…} ...\n"
            + "\(command.program): error: unrecognized arguments: \(words.joined(separator: " "))", code: 2, duration: 1)
    }

    /// What argparse says for a sub-command the tool's release does not have.
    static func invalidChoice(_ command: SimCommand, category: String, choice: String) -> SimOutcome {
        .fail("usage: \(command.program) \(category) [-h] {…} ...\n"
            + "\(command.program) \(category): error: argument action: invalid choice: '\(choice)'", code: 2, duration: 1)
    }

    /// Compute nodes the region retired without deleting their service rows and agents (`simulate.retired_computes`;
    /// by default one per 200 computes in a region seeded before Pike, whose rows nobody cleaned, else none), and
    /// their names (`retired-compute-001` …): Nova keeps their nova-compute rows, Neutron their OVS agents.
    static func retiredComputes(release: String, context: any SimContext) -> [String] {
        let n = context.retiredComputes ?? (before(release, "pike") ? (context.computes + 199) / 200 : 0)
        return (0..<n).map { String(format: "retired-compute-%03d", $0 + 1) }
    }

    /// A stable UUID for a name (FNV-1a), so runbooks and tests can find rows again.
    static func uuid(_ name: String) -> String {
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325, h2: UInt64 = 0x8422_2325_cbf2_9ce4
        for b in name.utf8 {
            h1 = (h1 ^ UInt64(b)) &* 0x100_0000_01b3
            h2 = (h2 ^ UInt64(b)) &* 0x100_0000_01b3 &+ 7
        }
        let hex = String(format: "%016llx%016llx", h1, h2)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-4" + String(c[13..<16]) + "-8" + String(c[17..<20]) + "-" + String(c[20..<32])
    }

    /// Hosts of a group, in name order.
    static func hosts(_ state: SimState, in group: String) -> [String] {
        state.hosts.filter { $0.value.groups.contains(group) }.map(\.key).sorted()
    }

    /// Installs `component` at `release` on the hosts of `group`, with `units` running or stopped.
    static func install(_ state: inout SimState, group: String, component: String, release: String, units: [String], running: Bool) {
        install(&state, group: group, component: component, release: release, units: { _ in units }, running: running)
    }

    /// Installs `component` at `release` on the hosts of `group`, each with the units its package family
    /// names (`openstack-nova-compute` on an RDO host, `nova-compute` on an Ubuntu one), running or stopped.
    static func install(_ state: inout SimState, group: String, component: String, release: String,
                        units: (PackageFamily) -> [String], running: Bool)
    {
        for name in hosts(state, in: group) {
            state.hosts[name]!.code[component] = release
            for unit in units(state.hosts[name]!.family ?? .rpm) where state.hosts[name]!.services[unit] == nil {
                state.hosts[name]!.services[unit] = SimService(component: component, running: running, release: release)
            }
        }
    }

    /// Seeds `<component>_old` at `release` (running) and `<component>_new` at `newRelease` (stopped).
    /// `units(release, family)`: the units of a host of that family at that release.
    static func installOldAndNew(_ state: inout SimState, component: String, release: String, newRelease: String?,
                                 units: (String, PackageFamily) -> [String])
    {
        install(&state, group: "\(component)_old", component: component, release: release, units: { units(release, $0) }, running: true)
        if let newRelease {
            install(&state, group: "\(component)_new", component: component, release: newRelease, units: { units(newRelease, $0) },
                    running: false)
        }
    }

    /// Adds a service and its public, internal and admin endpoints in RegionOne.
    static func addCatalog(_ state: inout SimState, name: String, type: String, url: String, description: String? = nil) {
        var catalog = state.catalog
        if !catalog.regions.contains("RegionOne") { catalog.regions.append("RegionOne") }
        let serviceID: String
        if let existing = catalog.services.first(where: { $0.name == name && $0.type == type }) {
            serviceID = existing.id
        } else {
            serviceID = String(format: "%032x", catalog.nextID)
            catalog.nextID += 1
            var fields = ["id": serviceID, "name": name, "type": type]
            fields["description"] = description
            catalog.services.append(decoded(fields))
        }
        for interface in ["public", "internal", "admin"]
        where !catalog.endpoints.contains(where: { $0.serviceID == serviceID && $0.interface == interface }) {
            catalog.endpoints.append(decoded([
                "id": String(format: "%032x", catalog.nextID), "serviceID": serviceID, "interface": interface,
                "region": "RegionOne", "url": url,
            ]))
            catalog.nextID += 1
        }
        state.catalog = catalog
    }

    /// SimCatalog's entries have no public memberwise initialiser; they are Codable.
    private static func decoded<T: Decodable>(_ fields: [String: String]) -> T {
        // The fields are the type's own properties, all strings: decoding cannot fail.
        try! JSONDecoder().decode(T.self, from: JSONEncoder().encode(fields))
    }

    static func hasEndpoint(_ state: SimState, type: String) -> Bool {
        let ids = Set(state.catalog.services.filter { $0.type == type }.map(\.id))
        return state.catalog.endpoints.contains { ids.contains($0.serviceID) }
    }
}

/// Online data migrations waiting in a database, by the release that added them:
/// counters `odm_pending:<release>`, and their sum in `odm_pending`.
extension SimDatabase {
    func pending(_ release: String) -> Int { counters["odm_pending:\(release)"] ?? 0 }

    public mutating func addPending(_ release: String, _ rows: Int) {
        counters["odm_pending:\(release)", default: 0] += rows
        recount()
    }

    /// Migrates up to `max` rows of the migrations the tool of `release` knows
    /// (its own and earlier ones), oldest first; returns how many it moved.
    mutating func migrate(upTo release: String, max: Int?) -> Int {
        var budget = max ?? Int.max
        var moved = 0
        for r in Releases.all.prefix(through: Releases.index(release) ?? 0) {
            let n = pending(r.name)
            guard n > 0, budget > 0 else { continue }
            let take = Swift.min(n, budget)
            counters["odm_pending:\(r.name)"] = n - take
            budget -= take
            moved += take
        }
        recount()
        return moved
    }

    /// Rows left that the tool of `release` knows how to migrate.
    func pending(upTo release: String) -> Int {
        Releases.all.prefix(through: Releases.index(release) ?? 0).reduce(0) { $0 + pending($1.name) }
    }

    mutating func recount() {
        counters["odm_pending"] = counters.filter { $0.key.hasPrefix("odm_pending:") }.values.reduce(0, +)
    }

    /// Release index of a schema part.
    func schemaIndex(_ part: String = "main") -> Int? { schema[part].flatMap(Releases.index) }
}
