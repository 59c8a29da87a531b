import FerryCore
import Foundation

/// The components the plugins taught the simulation, in the order they were given: the one
/// place FerrySimulation asks about a component (its APIs, databases, queue readers, load
/// model, dump cost, the tables it counts). The answers are the plugins'; this type only
/// looks them up and falls back to the generic ones.
struct SimComponents: Sendable {
    /// Every component a plugin teaches, in order (they also interpret commands in this order).
    let all: [any SimComponent]
    private let byName: [String: any SimComponent]

    init(_ components: [any SimComponent]) {
        all = components
        var byName: [String: any SimComponent] = [:]
        for c in components { byName[c.component] = c }
        self.byName = byName
    }

    /// The names of the components plugins teach (sorted), for the saved model's fingerprint.
    var taughtNames: [String] { byName.keys.sorted() }

    /// The simulation of `name`: its plugin's, or the generic one for a component no plugin teaches.
    func component(_ name: String) -> any SimComponent { byName[name] ?? GenericSimComponent(component: name) }

    /// The API named `name` (a VIP's name) and the component serving it, among those plugins teach.
    func api(named name: String) -> (api: SimAPI, component: String)? {
        for c in all { if let api = c.apis.first(where: { $0.name == name }) { return (api, c.component) } }
        return nil
    }

    /// Every component's RPC topics and the units that read them.
    var queueReaders: [String: String] {
        var out: [String: String] = [:]
        for c in all { out.merge(c.queueReaders) { _, new in new } }
        return out
    }

    /// Programs the components' hosts have that the simulation records without judging.
    var recordedPrograms: Set<String> { all.reduce(into: []) { $0.formUnion($1.recordedPrograms) } }

    /// The databases a component's restarts load.
    var loadedDatabases: Set<String> { Set(all.compactMap { $0.loadModel?.database }) }

    /// The load model a restart of `unit`, a unit of `component`, weighs under, if any.
    func loadModel(unit: String, component: String?) -> SimLoadModel? {
        guard let component, let model = byName[component]?.loadModel, model.weighs(unit) else { return nil }
        return model
    }

    /// The estimate for restarting `unit` (a unit of `component`), before the region's scaling.
    func restartSeconds(unit: String, component: String?) -> Double {
        component.flatMap { byName[$0]?.restartSeconds(unit: unit) } ?? 5
    }

    /// Seconds per compute node a dump of `database` adds.
    func dumpSecondsPerCompute(database: String) -> Double {
        for c in all { if let s = c.dumpSecondsPerCompute(database: database) { return s } }
        return 0.05
    }

    /// The counter answering `SELECT COUNT(*) FROM table` for `query` (upper case).
    func countKey(table: String, query: String) -> String {
        for c in all { if let k = c.countKey(table: table, query: query) { return k } }
        return "rows:\(table)"
    }

    /// The component that models `table` in `database`, and the table (``SimComponent/table(_:database:state:context:)``).
    func table(_ table: String, database: String, state: SimState, context: any SimContext) -> (component: any SimComponent, table: SimTable)? {
        for c in all { if let t = c.table(table, database: database, state: state, context: context) { return (c, t) } }
        return nil
    }
}
