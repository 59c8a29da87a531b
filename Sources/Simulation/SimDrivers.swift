import FerryCore
import Foundation
import LuaBridge

// The simulated region's drivers: the same protocols as the real ones, on the model.

// MARK: Database

struct SimDatabaseDriver: DatabaseDriver {
    let sim: SimRegion
    func connect(_ name: String) async throws -> any DatabaseSession {
        for f in try await sim.faults.failing(primitive: "db.connect", host: nil) {
            throw DatabaseError(database: name, code: 2003, message: f.message ?? "Can't connect to MySQL server (simulated fault)")
        }
        guard sim.read({ $0.databases[name] != nil }) else {
            throw DatabaseError(database: name, code: 1049, message: "Unknown database '\(name)' (simulated region: \(sim.state.databases.keys.sorted().joined(separator: ", ")))")
        }
        return SimSession(sim: sim, name: name)
    }
}

/// Answers the queries runbooks and plugins ask of OpenStack databases from the model.
/// A statement MariaDB could not parse fails with its syntax error (SimSQL); one that parses
/// but the model does not answer is accepted, changes nothing, and is recorded, not judged.
struct SimSession: DatabaseSession {
    let sim: SimRegion
    let name: String

    /// `conn:status(variable)`: the load model answers Threads_running (`base` for a database no
    /// component's load model names).
    func status(_ variable: String) async throws -> LuaValue {
        guard let db = sim.read({ $0.databases[name] }) else {
            throw DatabaseError(database: name, code: 1049, message: "Unknown database '\(name)'")
        }
        sim.clock.advance(0.002, host: nil)
        switch variable.lowercased() {
        case "threads_running":
            let lane = RunLane.current
            let load = sim.load.threadsRunning(database: name, at: sim.clock.now(host: lane).timeIntervalSince1970, lane: lane)
            return .string(String(Int(load.rounded())))
        case "threads_connected": return "40"
        case "uptime": return "864000"
        default: return db.flags["status:\(variable)"].map { .string($0) } ?? .nil
        }
    }

    func query(_ sql: String, _ parameters: [LuaValue]) async throws -> (rows: [[String: LuaValue]], columns: [String], affected: Int) {
        let text = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        let upper = text.uppercased()
        guard let db = sim.read({ $0.databases[name] }) else {
            throw DatabaseError(database: name, code: 1049, message: "Unknown database '\(name)'")
        }
        sim.clock.advance(0.002, host: nil)
        if let error = SimSQL.syntaxError(text, database: name) { throw error }
        func unjudged(_ why: String) -> ([[String: LuaValue]], [String], Int) {
            sim.unjudged.record("\(name): \(text)", host: nil, why: why)
            return ([], [], 0)
        }
        func one(_ column: String, _ value: LuaValue) -> ([[String: LuaValue]], [String], Int) { ([[column: value]], [column], 0) }
        // A table a component models row by row answers the statements SimQuery evaluates.
        if let q = SimQuery.parse(text, parameters: parameters) {
            let context = SimRegion.Context(sim: sim)
            let now = sim.clock.now(host: RunLane.current).timeIntervalSince1970
            let modelled = sim.read { s in sim.components.table(q.table, database: name, state: s, context: context) }
            if let (component, table) = modelled {
                do {
                    try q.check(against: table)
                } catch .unknownColumn(let c) {
                    throw DatabaseError(database: name, code: 1054, message: "Unknown column '\(c)' in 'field list' (error 1054) in: \(text.prefix(120))")
                } catch {
                    return unjudged("the model does not keep every column this statement names")
                }
                if let answer = q.select(table, now: now) { return (answer.rows, answer.columns, 0) }
                if let change = q.change(table, now: now) {
                    let affected: Int? = sim.mutate { s in component.apply(change, database: name, state: &s, context: context) }
                    guard let affected else { return unjudged("the model does not apply this change to \(q.table) (nothing changed)") }
                    return ([], [], affected)
                }
            }
        }
        // CREATE / DROP DATABASE [IF [NOT] EXISTS] name: a runbook creates the databases a later
        // release needs and its undo drops them again.
        if upper.hasPrefix("CREATE DATABASE") || upper.hasPrefix("DROP DATABASE") {
            // The name follows DATABASE and an optional IF [NOT] EXISTS; options may follow it.
            let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == ";" }).map(String.init)
            var i = 2
            if words.indices.contains(i), words[i].uppercased() == "IF" { i += words.indices.contains(i + 1) && words[i + 1].uppercased() == "NOT" ? 3 : 2 }
            let target = words.indices.contains(i) ? words[i].trimmingCharacters(in: CharacterSet(charactersIn: "`\"'")) : ""
            let create = upper.hasPrefix("CREATE")
            let affected: Int = sim.mutate { s in
                if create {
                    guard s.databases[target] == nil else { return 0 }
                    var created = SimDatabase(component: db.component)
                    created.flags["server_version"] = db.flags["server_version"]
                    s.databases[target] = created
                    return 1
                }
                // MariaDB reports 0 rows for DROP DATABASE.
                s.databases.removeValue(forKey: target)
                return 0
            }
            return ([], [], affected)
        }
        if upper.contains("FROM ALEMBIC_VERSION") {
            let heads = (db.flags["alembic_version"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !heads.isEmpty else { throw DatabaseError(database: name, code: 1146, message: "Table '\(name).alembic_version' doesn't exist") }
            return (heads.map { ["version_num": .string($0)] }, ["version_num"], 0)
        }
        if upper.contains("FROM MIGRATE_VERSION") {
            guard let v = db.flags["migrate_version"] else {
                throw DatabaseError(database: name, code: 1146, message: "Table '\(name).migrate_version' doesn't exist")
            }
            let version: LuaValue = Int64(v).map { .int($0) } ?? .string(v)
            if upper.hasPrefix("SELECT VERSION FROM") { return one("version", version) }
            // The repository is the component's, unless the database's `repository_id` flag names another (an API database's own).
            return ([["repository_id": .string(db.flags["repository_id"] ?? db.component), "repository_path": .string("/usr/lib/python2.7/\(db.component)/db/sqlalchemy/migrate_repo"),
                      "version": Int64(v).map { .int($0) } ?? .string(v)]], ["repository_id", "repository_path", "version"], 0)
        }
        if upper.hasPrefix("SELECT") && upper.contains("COUNT(") {
            let table = SimTransport.match(upper, #"FROM\s+`?([A-Z_0-9]+)`?"#)?.lowercased() ?? ""
            // A column a component adds in a later schema (flag `column:<table>.<column>`)
            // is unknown before it, as MariaDB says.
            for (flag, _) in db.flags where flag.hasPrefix("column-from:\(table).") {
                let column = String(flag.dropFirst("column-from:\(table).".count))
                if upper.contains(column.uppercased()), db.flags["column:\(table).\(column)"] == nil {
                    throw DatabaseError(database: name, code: 1054, message: "Unknown column '\(column)' in 'where clause'")
                }
            }
            // Which counter answers is the components' knowledge (else `rows:<table>`).
            let key = sim.components.countKey(table: table, query: upper)
            guard let count = db.counters[key] else {
                _ = unjudged("the model counts no rows of \(table.isEmpty ? "this query" : table) (answered 0)")
                return one("COUNT(*)", .int(0))
            }
            return one("COUNT(*)", .int(Int64(count)))
        }
        if upper.hasPrefix("SELECT DATABASE()") { return one("DATABASE()", .string(name)) }
        // The server's version (simulate.database_server), as MariaDB answers VERSION() and @@version.
        for expr in ["VERSION()", "@@VERSION", "@@GLOBAL.VERSION"] where upper == "SELECT " + expr || upper == "SELECT " + expr + ";" {
            return one(String(text.dropFirst(7)).trimmingCharacters(in: CharacterSet(charactersIn: " ;")),
                       .string(db.flags["server_version"] ?? SimConfig().databaseServer))
        }
        if upper.hasPrefix("SELECT") && !upper.contains(" FROM ") {
            // SELECT 1, SELECT 1 + 1, SELECT NOW(): a liveness probe.
            let expr = text.dropFirst(6).trimmingCharacters(in: .whitespaces)
            if let n = Int64(expr) { return one(expr, .int(n)) }
            return one(expr, .int(1))
        }
        if upper.hasPrefix("SELECT") || upper.hasPrefix("SHOW") { return unjudged("the model does not answer this query (no rows)") }
        return unjudged("the model does not apply this statement (nothing changed)")
    }

    func command(_ sql: String) async throws { _ = try await query(sql, []) }
    func close() async {}
}

struct SimBackups: BackupDriver {
    let sim: SimRegion

    func backup(_ name: String, via: RegionHost?) async throws -> DatabaseArtifact {
        for f in try await sim.faults.failing(primitive: "db.backup", host: via?.name) {
            throw DatabaseError(database: name, code: 0, message: f.message ?? "mysqldump failed (simulated fault)")
        }
        guard let db = sim.read({ $0.databases[name] }) else {
            throw DatabaseError(database: name, code: 0, message: "no database named '\(name)' in the simulated region")
        }
        // Beside the saved model (and the journal), else in the temporary directory.
        let directory = sim.statePath.map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("artifacts").path }
            ?? NSTemporaryDirectory() + "ferry-sim-artifacts"
        try PrivateFiles.makeDirectory(directory)
        let path = "\(directory)/\(FileName.component(sim.region.name + "-" + name))-\(Int(sim.clock.seconds))-\(UInt32.random(in: 0..<UInt32.max)).json"
        let data = try JSONEncoder().encode(db)
        // The footer real dumps end with, so `db.verify` checks simulated dumps the same way.
        try PrivateFiles.write(data + Data("\n\(DatabaseBackups.footer)\n".utf8), to: path)
        let (bytes, sha) = try DatabaseBackups.measure(path)
        // A dump of a large cloud's database takes minutes: scaled with the region.
        let seconds = sim.duration("db.backup \(name)", 60 + Double(sim.config.computes) * sim.components.dumpSecondsPerCompute(database: name))
        sim.clock.advance(seconds * (0.8 + 0.4 * sim.faults.random("backup|\(name)|\(sim.faults.elapsed(sim.clock.seconds))")), host: nil)
        return DatabaseArtifact(database: name, path: path, bytes: bytes, sha256: sha, at: sim.clock.now(), source: "simulated mysqldump")
    }

    func verify(_ artifact: DatabaseArtifact) throws {
        let (bytes, sha) = try DatabaseBackups.measure(artifact.path)
        guard bytes == artifact.bytes, sha == artifact.sha256 else {
            throw DatabaseError(database: artifact.database, code: 0, message: "backup \(artifact.path) changed since it was taken")
        }
    }

    func restore(_ artifact: DatabaseArtifact, force: Bool, lockWait: Int, via: RegionHost?) async throws {
        try verify(artifact)
        for f in try await sim.faults.failing(primitive: "db.restore", host: via?.name) {
            throw DatabaseError(database: artifact.database, code: 0,
                                message: "restore of \(artifact.path) failed: \(f.message ?? "ERROR 2013 (HY000): Lost connection to MySQL server during query (simulated fault)")")
        }
        let text = try String(contentsOfFile: artifact.path, encoding: .utf8)
        guard let json = text.components(separatedBy: "\n\(DatabaseBackups.footer)").first,
            let db = try? JSONDecoder().decode(SimDatabase.self, from: Data(json.utf8))
        else { throw DatabaseError(database: artifact.database, code: 0, message: "\(artifact.path) is not a simulated dump") }
        if !force {
            // Services of the component still running hold connections, as on a real database.
            let holders = sim.state.hosts.filter { h in h.value.services.values.contains { $0.component == db.component && $0.running } }
                .keys.sorted()
            if !holders.isEmpty, !["computes", "network_nodes"].contains(where: { g in holders.allSatisfy { sim.region.hosts[$0]?.groups.contains(g) == true } }) {
                let controllers = holders.filter { h in sim.region.hosts[h]?.groups.contains { $0.hasPrefix(db.component) } == true }
                if !controllers.isEmpty {
                    throw DatabaseError(database: artifact.database, code: 0,
                                        message: "refusing to restore while \(controllers.count * 4) connection(s) use it: \(db.component) services still run on \(controllers.prefix(4).joined(separator: ", ")). Stop the services that hold them, or restore with { force = true }")
                }
            }
        }
        sim.mutate { $0.databases[artifact.database] = db }
        let seconds = sim.duration("db.restore \(artifact.database)", 120 + Double(sim.config.computes) * 0.2)
        sim.clock.advance(seconds * (0.8 + 0.4 * sim.faults.random("restore|\(artifact.database)|\(sim.faults.elapsed(sim.clock.seconds))")), host: nil)
    }
}

// MARK: VIP

struct SimVIPDriver: VIPDriver {
    let sim: SimRegion
    let name: String

    func get() async throws -> VIPState {
        let vip = sim.state.vips[name] ?? SimVIP()
        var servers: [String: VIPState.Server] = [:]
        for (server, state) in vip.servers {
            let up = sim.host(server)?.services.values.contains { $0.running } ?? false
            servers[server] = VIPState.Server(state: state, address: "\(server):\(sim.components.api(named: name)?.api.port ?? 8000)", up: up)
        }
        return VIPState(vip: name, backend: name, servers: servers, maintenance: vip.maintenance)
    }

    func switchTo(_ targets: [String]) async throws -> VIPSwitchRecord {
        for f in try await sim.faults.failing(primitive: "vip.switch", host: nil) {
            throw VIPError(vip: name, message: f.message ?? "runtime API did not answer (simulated fault)")
        }
        let vip = sim.state.vips[name] ?? SimVIP()
        guard !targets.isEmpty else { throw VIPError(vip: name, message: "switch: no target server given") }
        let missing = targets.filter { vip.servers[$0] == nil }
        guard missing.isEmpty else {
            throw VIPError(vip: name, message: "backend \(name) has no server \(missing.joined(separator: ", ")) (servers: \(vip.servers.keys.sorted().joined(separator: ", ")))")
        }
        let previous = VIPSwitchRecord(vip: name, backend: name, servers: vip.servers)
        sim.mutate { s in
            for server in s.vips[name]?.servers.keys.map({ $0 }) ?? [] { s.vips[name]?.servers[server] = targets.contains(server) ? "ready" : "maint" }
        }
        sim.clock.advance(1, host: nil)
        return previous
    }

    func restore(_ previous: VIPSwitchRecord) async throws {
        guard let states = previous.servers else { throw VIPError(vip: name, message: "restore: expected what vip.switch returned") }
        sim.mutate { s in for (server, state) in states { s.vips[name]?.servers[server] = state } }
        sim.clock.advance(1, host: nil)
    }

    func maintenance(_ mode: String) async throws {
        sim.mutate { $0.vips[name]?.maintenance = mode == "off" ? "false" : mode }
        sim.clock.advance(0.5, host: nil)
    }
}

// MARK: Catalog

struct SimCatalogDriver: CatalogDriver {
    let sim: SimRegion
    var defaultRegion: String { sim.catalogRole?.defaultRegion ?? "RegionOne" }

    func fault(_ primitive: String) async throws {
        for f in try await sim.faults.failing(primitive: primitive, host: nil) {
            throw HTTPFailure(description: "catalog: \(sim.catalogRole?.label ?? "the simulated catalog"): \(f.message ?? "503 Service Unavailable (simulated fault)")")
        }
        sim.clock.advance(0.05, host: nil)
    }

    static func service(_ s: SimCatalog.Service) -> CatalogService {
        CatalogService(id: s.id, name: s.name, type: s.type, enabled: true, description: s.description)
    }

    func endpoint(_ e: SimCatalog.Endpoint, _ c: SimCatalog) -> CatalogEndpoint {
        let s = c.services.first { $0.id == e.serviceID }
        return CatalogEndpoint(id: e.id, serviceID: e.serviceID, interface: e.interface, region: e.region, url: e.url, enabled: true,
                               service: s?.name, type: s?.type)
    }

    func services() async throws -> [CatalogService] {
        try await fault("catalog.services")
        return sim.state.catalog.services.map(Self.service)
    }

    func endpoints(service: String?, interface: String?, region: String?) async throws -> [CatalogEndpoint] {
        try await fault("catalog.endpoints")
        let c = sim.state.catalog
        return c.endpoints.map { endpoint($0, c) }.filter { $0.matches(service: service, interface: interface, region: region) }
    }

    func findService(_ c: SimCatalog, _ nameOrType: String) -> SimCatalog.Service? {
        c.services.first { $0.name == nameOrType } ?? c.services.first { $0.type == nameOrType } ?? c.services.first { $0.id == nameOrType }
    }

    func ensureService(name: String, type: String, description: String?) async throws -> (CatalogService, created: Bool) {
        try await fault("catalog.ensure_service")
        return sim.mutate { s in
            if let existing = s.catalog.services.first(where: { $0.name == name && $0.type == type }) { return (Self.service(existing), false) }
            let svc = SimCatalog.Service(id: "svc-\(s.catalog.nextID)", name: name, type: type, description: description)
            s.catalog.nextID += 1
            s.catalog.services.append(svc)
            return (Self.service(svc), true)
        }
    }

    func ensureEndpoint(service: String, interface: String, region: String, url: String) async throws -> (CatalogEndpoint, action: CatalogEndpointAction) {
        try await fault("catalog.ensure_endpoint")
        return try sim.mutate { s in
            guard let svc = findService(s.catalog, service) else {
                throw HTTPFailure(description: "catalog: no service '\(service)' (ensure_service first)")
            }
            if let i = s.catalog.endpoints.firstIndex(where: { $0.serviceID == svc.id && $0.interface == interface && $0.region == region }) {
                if s.catalog.endpoints[i].url == url { return (endpoint(s.catalog.endpoints[i], s.catalog), .unchanged) }
                s.catalog.endpoints[i].url = url
                return (endpoint(s.catalog.endpoints[i], s.catalog), .updated)
            }
            let e = SimCatalog.Endpoint(id: "ep-\(s.catalog.nextID)", serviceID: svc.id, interface: interface, region: region, url: url)
            s.catalog.nextID += 1
            s.catalog.endpoints.append(e)
            if !s.catalog.regions.contains(region) { s.catalog.regions.append(region) }
            return (endpoint(e, s.catalog), .created)
        }
    }

    func regions() async throws -> [CatalogRegion] {
        try await fault("catalog.regions")
        return sim.state.catalog.regions.map { CatalogRegion(id: $0) }
    }

    func createRegion(id: String, description: String?) async throws -> CatalogRegion {
        try await fault("catalog.create_region")
        return try sim.mutate { s in
            if s.catalog.regions.contains(id) { throw HTTPFailure(description: "catalog: region \(id) already exists (409 Conflict)") }
            s.catalog.regions.append(id)
            return CatalogRegion(id: id)
        }
    }

    func ensureRegion(id: String, description: String?) async throws -> (CatalogRegion, created: Bool) {
        try await fault("catalog.ensure_region")
        return sim.mutate { s in
            if s.catalog.regions.contains(id) { return (CatalogRegion(id: id), false) }
            s.catalog.regions.append(id)
            return (CatalogRegion(id: id), true)
        }
    }

    func deleteRegion(id: String) async throws {
        try await fault("catalog.delete_region")
        sim.mutate { $0.catalog.regions.removeAll { $0 == id } }
    }

    func updateEndpoint(id: String, url: String) async throws -> CatalogEndpoint {
        try await fault("catalog.update_endpoint")
        return try sim.mutate { s in
            guard let i = s.catalog.endpoints.firstIndex(where: { $0.id == id }) else { throw HTTPFailure(description: "catalog: no endpoint \(id) (404)") }
            s.catalog.endpoints[i].url = url
            return endpoint(s.catalog.endpoints[i], s.catalog)
        }
    }

    func deleteEndpoint(id: String) async throws {
        try await fault("catalog.delete_endpoint")
        sim.mutate { $0.catalog.endpoints.removeAll { $0.id == id } }
    }

    /// The whole model catalog, ids and the next id included, as JSON only this driver reads.
    /// A new token's catalog: each service with the endpoints the catalog's component
    /// formats (``SimCatalogRole/tokenURL``; without one, the URLs as registered).
    func tokenCatalog() async throws -> [CatalogTokenService] {
        try await fault("catalog.token_catalog")
        let state = sim.state
        let role = sim.catalogRole
        func format(_ url: String) -> String? { role.map { $0.tokenURL(url, state) } ?? url }
        return state.catalog.services.map { s in
            let endpoints = state.catalog.endpoints.filter { $0.serviceID == s.id }.compactMap { e -> CatalogTokenService.Endpoint? in
                guard let url = format(e.url) else { return nil }
                return CatalogTokenService.Endpoint(id: e.id, interface: e.interface, region: e.region, url: url)
            }
            return CatalogTokenService(id: s.id, name: s.name, type: s.type, endpoints: endpoints)
        }
    }

    func snapshot() async throws -> CatalogSnapshot {
        try await fault("catalog.snapshot")
        let data = try JSONEncoder().encode(sim.state.catalog)
        return .opaque(String(decoding: data, as: UTF8.self))
    }

    func restore(_ snapshot: CatalogSnapshot) async throws -> CatalogRestoreSummary {
        try await fault("catalog.restore")
        guard case .opaque(let text) = snapshot, let c = try? JSONDecoder().decode(SimCatalog.self, from: Data(text.utf8)) else {
            throw HTTPFailure(description: "catalog.restore: expected what catalog.snapshot() returned")
        }
        let before = sim.state.catalog
        sim.mutate { $0.catalog = c }
        let created = Set(before.endpoints.map(\.id)).subtracting(c.endpoints.map(\.id)).count
        let recreated = Set(c.endpoints.map(\.id)).subtracting(before.endpoints.map(\.id)).count
        let changed = c.endpoints.filter { e in before.endpoints.contains { $0.id == e.id && $0.url != e.url } }.count
        return CatalogRestoreSummary(created: recreated, deleted: created, updated: changed)
    }
}

// MARK: Broker

/// A notification consumer the region declares (`vars.notification_consumers`): the units on a group's hosts
/// that read `queues` from the broker their configuration's `file` [`section`] `option` names.
struct SimNotificationConsumer {
    var group: String
    var units: [String]
    var file: String
    var section: String
    var option: String
    var queues: [String]

    static func declared(in region: Region, defaultQueues: [String]) -> [SimNotificationConsumer] {
        let queues = region.vars["notification_queues"]?.arrayValue?.compactMap(\.stringValue)
        return (region.vars["notification_consumers"]?.arrayValue ?? []).compactMap { c in
            guard let group = c["group"].stringValue, let file = c["file"].stringValue else { return nil }
            // `units`: a list, or one list per package family ({ rpm = {…}, deb = {…} }).
            var units = c["units"].arrayValue?.compactMap(\.stringValue) ?? []
            for (_, v) in c["units"].mapValue ?? [:] { units += v.arrayValue?.compactMap(\.stringValue) ?? v.stringValue.map { [$0] } ?? [] }
            return SimNotificationConsumer(group: group, units: units, file: file, section: c["section"].stringValue ?? "DEFAULT",
                                           option: c["option"].stringValue ?? "transport_url",
                                           queues: c["queues"].arrayValue?.compactMap(\.stringValue) ?? queues ?? defaultQueues)
        }
    }
}

extension SimRegion {
    /// The hosts of the cluster the broker API reaches (its component's `clusterGroup`).
    var brokerClusterHosts: [String] { brokerRole?.clusterGroup.flatMap { region.groups[$0] } ?? [] }

    /// Whether a configuration value names a host of the broker's cluster (`scheme://user@host:port,…/`).
    func namesCluster(_ value: String, _ cluster: [String]) -> Bool {
        cluster.contains { value.contains("@\($0):") || value.contains("@\($0)/") || value.contains(",\($0):") }
    }

    /// Whether a host's configuration points it at the broker's cluster: one of its files has a
    /// `transport_url` that names one of the cluster's hosts (so its services publish there).
    func publishes(_ host: SimHost, _ cluster: [String]) -> Bool {
        host.files.values.contains { text in
            text.split(separator: "\n").contains { line in
                line.trimmingCharacters(in: .whitespaces).hasPrefix("transport_url") && namesCluster(String(line), cluster)
            }
        }
    }

    /// Brings the broker up to `now`: each host pointing at its cluster has published notifications
    /// (`simulate.broker.notifications_per_host` a second) into the notifier's queue, unless an alarm
    /// blocks publishers, and the declared consumers have read theirs; then the node's memory (messages
    /// of queues in default mode) and disk (queues in lazy mode, whose messages go to disk) decide the
    /// resource alarm, past which the node blocks every connection that publishes (the broker
    /// component's plugin and docs/simulation.md cite the thresholds). At most once a simulated minute
    /// (a region of thousands of hosts scans their files).
    func brokerTick(_ s: inout SimState, now: Double, key: String = "default") {
        guard let role = brokerRole, var b = s.brokers[key] else { return }
        let cluster = brokerClusterHosts
        guard !cluster.isEmpty else { return }
        // Since the region's origin the first time (its first minutes may have published nothing yet).
        let ticked = [b.publishedAt, brokerTicked.withLock { $0 }].compactMap { $0 }.max()
        let last = min(now, ticked ?? faults.origin.withLock { $0 })
        guard now - last >= 60 else { return }
        brokerTicked.withLock { $0 = now }
        let before = b
        let cfg = config.broker
        var publishers = 0
        if b.alarm == nil, now > last {
            publishers = s.hosts.values.filter { publishes($0, cluster) }.count
            let sent = Int(Double(publishers) * cfg.notificationsPerHost * (now - last))
            if sent > 0 {
                if let i = b.queues.firstIndex(where: { $0.vhost == "/" && $0.name == role.notificationQueue }) {
                    b.queues[i].messages += sent
                } else if let q = try? JSONDecoder().decode(SimBroker.Queue.self, from: Data(
                    #"{"vhost":"/","name":"\#(role.notificationQueue)","messages":\#(sent),"durable":true,"at":\#(now)}"#.utf8)) {
                    b.queues.append(q)
                }
            }
        }
        // The declared consumers read their notification queues meanwhile, each at the drain rate.
        if now > last {
            let readers = notificationReaders(s, cluster)
            for i in b.queues.indices where role.isNotificationQueue(b.queues[i].name) {
                let n = readers[b.queues[i].name] ?? 0
                if n > 0 { b.queues[i].messages = max(0, b.queues[i].messages - Int((now - last) * SimBroker.Queue.drainRate * Double(n))) }
            }
        }
        var memory = 0.0, disk = 0.0
        for q in b.queues {
            let lazy = SimBrokerDriver.policy(for: q, in: b)?.definition["queue-mode"].stringValue == "lazy"
            if lazy { disk += Double(q.messages) * cfg.messageBytes } else { memory += Double(q.messages) * cfg.messageBytes }
        }
        let mb = 1_048_576.0
        if memory > cfg.memoryMB * cfg.watermark * mb {
            b.alarm = String(format: "memory alarm: queues hold %.0f MB, over vm_memory_high_watermark %.2f of %.0f MB RAM; publishers blocked",
                             memory / mb, cfg.watermark, cfg.memoryMB)
        } else if cfg.diskFreeMB - disk / mb < cfg.diskFreeLimitMB {
            b.alarm = String(format: "disk alarm: %.0f MB free, below disk_free_limit %.0f MB (lazy queues page %.0f MB to disk); publishers blocked",
                             max(0, cfg.diskFreeMB - disk / mb), cfg.diskFreeLimitMB, disk / mb)
        } else {
            b.alarm = nil
        }
        // A broker nothing published to and nothing changed on stays as it was in the model.
        guard publishers > 0 || b != before else { return }
        b.publishedAt = now
        s.brokers[key] = b
    }

    /// Queue name → how many declared consumers read it from the broker's cluster now: a unit of theirs runs
    /// on a host of their group whose configuration option names the cluster.
    func notificationReaders(_ s: SimState, _ cluster: [String]) -> [String: Int] {
        var out: [String: Int] = [:]
        for c in SimNotificationConsumer.declared(in: region, defaultQueues: [brokerRole?.notificationQueue ?? "notifications.info"]) {
            for name in region.groups[c.group] ?? [] {
                guard let h = s.hosts[name], c.units.contains(where: { h.services[$0]?.running == true }),
                      let value = h.files[c.file].map(IniDocument.init)?.get(c.section, c.option), namesCluster(value, cluster)
                else { continue }
                for q in c.queues { out[q, default: 0] += 1 }
            }
        }
        return out
    }

    /// Why a unit on `host` cannot start now: the broker it publishes to has an alarm on.
    func blockedByBroker(host: String, unit: String, now: Double) -> String? {
        guard let role = brokerRole else { return nil }
        let cluster = brokerClusterHosts
        return mutate { s -> String? in
            brokerTick(&s, now: now)
            guard let alarm = s.brokers["default"]?.alarm, let h = s.hosts[host], publishes(h, cluster) else { return nil }
            return role.blocked(unit, alarm)
        }
    }
}

struct SimBrokerDriver: BrokerDriver {
    let sim: SimRegion
    var key: String { "default" }

    func touch() { sim.clock.advance(0.05, host: nil) }

    func overview() async throws -> BrokerOverview {
        touch()
        let (b, _) = drained()
        // What the broker reports of itself is its component's; the counts are the model's.
        guard var overview = sim.brokerRole?.overview else {
            throw HTTPFailure(description: "broker: no component of the simulated region is its message broker (no plugin gives a broker role)")
        }
        overview.messages = b.queues.reduce(0) { $0 + $1.messages }
        overview.queues = b.queues.count
        return overview
    }
    func vhosts() async throws -> [BrokerVhost] { touch(); return (sim.state.brokers[key]?.vhosts ?? []).map { BrokerVhost(name: $0) } }
    func ensureVhost(_ name: String) async throws {
        touch()
        sim.mutate { s in if s.brokers[key]?.vhosts.contains(name) == false { s.brokers[key]?.vhosts.append(name) } }
    }
    func ensureUser(_ name: String, password: String, tags: String?) async throws {
        touch()
        sim.mutate { s in
            let old = s.brokers[key]?.users[name]
            s.brokers[key]?.users[name] = tags ?? old ?? ""
        }
    }
    func ensurePermissions(vhost: String, user: String, configure: String, write: String, read: String) async throws {
        touch()
        sim.mutate { $0.brokers[key]?.permissions["\(vhost)|\(user)"] = "\(configure)|\(write)|\(read)" }
    }
    func putPolicy(vhost: String, name: String, pattern: String, definition: LuaValue, applyTo: String, priority: Int) async throws {
        touch()
        sim.mutate { s in
            s.brokers[key]?.policies.removeAll { $0.vhost == vhost && $0.name == name }
            s.brokers[key]?.policies.append(.init(vhost: vhost, name: name, pattern: pattern, applyTo: applyTo, definition: definition, priority: priority))
        }
    }
    func deletePolicy(vhost: String, name: String) async throws {
        touch()
        sim.mutate { $0.brokers[key]?.policies.removeAll { $0.vhost == vhost && $0.name == name } }
    }
    func policies(vhost: String?) async throws -> [BrokerPolicy] {
        touch()
        return (sim.state.brokers[key]?.policies ?? []).filter { vhost == nil || $0.vhost == vhost }
    }
    func policyFor(_ q: SimBroker.Queue, _ b: SimBroker) -> String? { Self.policy(for: q, in: b)?.name }

    /// The policy the broker applies to a queue: the highest priority of those whose pattern matches.
    static func policy(for q: SimBroker.Queue, in b: SimBroker) -> SimBroker.Policy? {
        b.policies.filter { p in
            p.vhost == q.vhost && (try? NSRegularExpression(pattern: p.pattern))?.firstMatch(in: q.name, range: NSRange(q.name.startIndex..., in: q.name)) != nil
        }.max { $0.priority < $1.priority }
    }
    /// The broker with its queues' consumers having taken what they could since last asked:
    /// a queue has one consumer while a unit that reads it runs somewhere.
    func drained() -> (SimBroker, consumers: [String: Int]) {
        let now = sim.clock.now(host: RunLane.current).timeIntervalSince1970
        let readers = sim.components.queueReaders
        let cluster = sim.brokerClusterHosts
        return sim.mutate { s -> (SimBroker, consumers: [String: Int]) in
            // Notifications published and read by declared consumers (brokerTick drains those queues).
            sim.brokerTick(&s, now: now, key: key)
            guard var b = s.brokers[key] else { return (SimBroker(), [:]) }
            let running = Set(s.hosts.values.flatMap { h in h.services.filter(\.value.running).map(\.key) })
            let notificationReaders = sim.notificationReaders(s, cluster)
            var consumers: [String: Int] = [:]
            for i in b.queues.indices {
                let q = b.queues[i]
                if q.readerUnit(readers: readers) == nil {
                    // A notification queue: its declared consumers, drained by brokerTick.
                    consumers["\(q.vhost)|\(q.name)"] = notificationReaders[q.name] ?? 0
                    b.queues[i].at = max(q.at ?? now, now)
                    continue
                }
                let n = q.readerUnit(readers: readers).map { unit in running.contains { $0.contains(unit) } ? 1 : 0 } ?? 0
                consumers["\(q.vhost)|\(q.name)"] = n
                let elapsed = max(0, now - (q.at ?? now))
                if n > 0, q.messages > 0 {
                    b.queues[i].messages = max(0, q.messages - Int(elapsed * SimBroker.Queue.drainRate * Double(n)))
                }
                b.queues[i].at = max(q.at ?? now, now)
            }
            s.brokers[key] = b
            return (b, consumers)
        }
    }
    func queues(vhost: String?) async throws -> [BrokerQueue] {
        touch()
        let (b, consumers) = drained()
        return b.queues.filter { vhost == nil || $0.vhost == vhost }.map {
            BrokerQueue(vhost: $0.vhost, name: $0.name, policy: policyFor($0, b), messages: $0.messages,
                        consumers: consumers["\($0.vhost)|\($0.name)"] ?? 0, durable: $0.durable)
        }
    }
    func queue(vhost: String, name: String) async throws -> BrokerQueue {
        touch()
        let (b, consumers) = drained()
        guard let q = b.queues.first(where: { $0.vhost == vhost && $0.name == name }) else {
            throw HTTPFailure(description: "broker: \(sim.brokerRole?.label ?? "the simulated broker"): GET /queues/\(vhost)/\(name): 404 Object Not Found")
        }
        return BrokerQueue(vhost: q.vhost, name: q.name, policy: policyFor(q, b), messages: q.messages,
                           consumers: consumers["\(q.vhost)|\(q.name)"] ?? 0)
    }
}

// MARK: HTTP

/// Answers for the simulated APIs behind their VIPs: 200 while a server in `ready`
/// runs the component's services, 503 in maintenance (GETs pass in `writes` mode).
struct SimHTTP: HTTPRequester {
    let sim: SimRegion

    func request(method: String, url: String, headers: [String: String], body: Data?, timeout: Double, caFile: String?,
                 insecure: Bool) async throws -> HTTPResponse
    {
        sim.clock.advance(0.05, host: nil)
        guard let u = URL(string: url), let host = u.host else { throw HTTPFailure(description: "\(method) \(url): not a URL") }
        let state = sim.state
        let name = sim.region.vips.first { (_, v) in v["url"].stringValue.flatMap { URL(string: $0)?.host } == host }?.key
            ?? (host.hasSuffix(".sim") ? String(host.dropLast(4)) : nil)
        guard let name, let vip = state.vips[name] else {
            throw HTTPFailure(description: "\(method) \(url): connection refused (no simulated service answers at \(host))")
        }
        // The API behind the VIP, and the component whose services serve it (the VIP's own name
        // for one no plugin declares).
        let api = sim.components.api(named: name)
        let component = api?.component ?? name
        if vip.maintenance == "all" || (vip.maintenance == "writes" && !["GET", "HEAD"].contains(method.uppercased())) {
            return HTTPResponse(status: 503, headers: ["retry-after": "120"], body: "{\"error\": \"maintenance\"}", duration: 0.01)
        }
        let live = vip.servers.filter { $0.value == "ready" }.keys.sorted().filter { server in
            state.hosts[server]?.services.values.contains { $0.component == component && $0.running } ?? false
        }
        guard let first = live.first else {
            return HTTPResponse(status: 503, headers: [:], body: "<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>", duration: 0.01)
        }
        let release = state.hosts[first]?.services.values.first { $0.component == component }?.release ?? "?"
        // The version document at the root: 300 Multiple Choices or 200, as the real API
        // answers it (its plugin says which; 200 for an API no plugin declares).
        let path = u.path.isEmpty ? "/" : u.path
        if ["/", "/versions"].contains(path) {
            let status = api?.api.versionStatus ?? 200
            return HTTPResponse(status: status, headers: ["content-type": "application/json", "x-served-by": first],
                                body: "{\"versions\": [{\"id\": \"current\", \"status\": \"CURRENT\", \"release\": \"\(release)\"}]}",
                                duration: 0.02)
        }
        return HTTPResponse(status: 200, headers: ["content-type": "application/json", "x-served-by": first],
                            body: "{\"status\": \"ok\", \"component\": \"\(component)\", \"release\": \"\(release)\", \"server\": \"\(first)\"}",
                            duration: 0.02)
    }
}

/// `ansible.playbook` on the simulated region: no playbook runs (nothing models its tasks),
/// so it is recorded, not judged, once per distinct command line. What can be judged is:
/// an `ansible-playbook` whose playbook file is not there fails as Ansible does (exit 1,
/// `ERROR! the playbook: … could not be found`), and a `--limit` host the region does not
/// have ran no task, as it would in the real inventory (the region is the inventory here).
struct SimPlaybooks: PlaybookDriver {
    let sim: SimRegion

    func run(_ request: PlaybookRequest, onEvent: @escaping @Sendable (PlaybookEvent) -> Void) async throws -> PlaybookOutcome {
        sim.clock.advance(1, host: nil)
        let program = (request.arguments.first.map { ($0 as NSString).lastPathComponent }) ?? ""
        if program == "ansible-playbook", request.arguments.count > 1 {
            let playbook = request.arguments[1]
            let path = playbook.hasPrefix("/") ? playbook : "\(request.directory ?? FileManager.default.currentDirectoryPath)/\(playbook)"
            if !FileManager.default.fileExists(atPath: path) {
                var outcome = PlaybookOutcome(exitCode: 1)
                outcome.limit = request.limit
                outcome.stderr = "ERROR! the playbook: \(playbook) could not be found"
                return outcome
            }
        }
        sim.unjudged.record(request.shape, host: nil, why: "the simulated region runs no playbook (its hosts are counted as having run it)")
        var outcome = PlaybookOutcome(exitCode: 0)
        outcome.limit = request.limit
        for host in request.limit ?? [] {
            if sim.region.hosts[host] != nil { outcome.hosts[host] = PlaybookHostStats() } else { outcome.missing.append(host) }
        }
        return outcome
    }
}
