import FerryCore
import Foundation

/// How two models of the region differ, in lines a drill prints when a repetition leaves
/// the region other than it found it (`host cmp0001: <component> code queens (was kilo)`).
public enum SimDiff {
    /// Lines describing how `b` differs from `a` (empty: identical), at most `limit`.
    public static func lines(_ a: SimState, _ b: SimState, limit: Int = 20) -> [String] {
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
    public func differences(from before: SimState) -> [String] { SimDiff.lines(before, state) }

    /// Lines describing how `b` differs from `a` (empty: identical).
    public static func differences(_ a: SimState, _ b: SimState, limit: Int = 20) -> [String] { SimDiff.lines(a, b, limit: limit) }
}
