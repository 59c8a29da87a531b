import FerryCore
import FerrySimulation
import Foundation
import LuaBridge

/// Nova's service rows, compute nodes and their placement allocations in the simulated region,
/// row by row (``SimTable``), and what the releases do with them:
///
/// - A service writes its row on start with its release's `SERVICE_VERSION` (openstack/nova@12.0.0 …
///   @17.0.0 nova/objects/service.py: Liberty 2, Mitaka 9, Newton 15, Ocata 16, Pike 22, Queens 30;
///   Kilo has no `version` column: Liberty's migration 299_service_version_number adds it, 0 for old rows).
/// - A compute retired without `nova service-delete` keeps its `nova-compute` row (and compute node)
///   forever. The minimum version over the non-deleted rows (nova/db/sqlalchemy/api.py
///   `service_get_minimum_version`: `deleted == 0`, not forced down) caps the compute RPC API: a minimum
///   of 0 gives Mitaka's 4.11 (nova/compute/rpcapi.py `_determine_version_cap`), and multiattach needs 27
///   (nova/compute/api.py `MIN_COMPUTE_MULTIATTACH`), all @17.0.0. The services cache the minimum
///   (`enable_min_version_cache` in nova/cmd/api.py, compute.py, conductor.py, scheduler.py) until they restart.
/// - Placement allocations: Ocata computes write their instances' allocations (openstack/nova@15.0.0
///   nova/compute/resource_tracker.py `_update_usage_from_instance`); from Pike a compute does so only
///   while a `nova-compute` row older than Pike (version < 22) remains (`has_ocata_computes`, @17.0.0
///   resource_tracker.py `_update_usage_from_instances`), and Queens has no `heal_allocations` (Rocky's
///   nova-manage). An instance left without allocations is invisible to the scheduler.
///
/// Where the model keeps them: the `nova` database's flags `service:<host>:<binary>` and `node:<host>`,
/// the flags `healed:<host>` of the database holding placement (`nova_api` until Stein, `placement` after).
enum NovaServices {
    /// `SERVICE_VERSION` by release (Kilo: the 0 migration 299 gives old rows).
    static let serviceVersion: [String: Int] = [
        "kilo": 0, "liberty": 2, "mitaka": 9, "newton": 15, "ocata": 16, "pike": 22, "queens": 30, "rocky": 35, "stein": 37,
        "train": 40,
    ]
    static func version(_ release: String) -> Int {
        if let v = serviceVersion[release] { return v }
        return Sim.atLeast(release, "train") ? 40 + (Releases.index(release) ?? 0) - (Releases.index("train") ?? 0) : 0
    }
    /// Pike's marker: from it on, computes heal allocations only while an older row exists.
    static let healMarker = 22
    /// Instances each compute node of the simulated region runs.
    static func instancesPerCompute(_ state: SimState, context: any SimContext) -> Int {
        guard context.computes > 0 else { return 0 }
        return (state.databases["nova"]?.counters["instances"] ?? 0) / context.computes
    }

    /// The binary whose row a unit writes, or nil (the API, the console proxies, placement write none modelled here).
    static func binary(unit: String) -> String? {
        for (role, binary) in [("compute", "nova-compute"), ("conductor", "nova-conductor"), ("scheduler", "nova-scheduler"),
                               ("consoleauth", "nova-consoleauth"), ("cert", "nova-cert")]
        where NovaKnowledge.knowledge.units(.rpm, role: role).contains(unit) || NovaKnowledge.knowledge.units(.deb, role: role).contains(unit) {
            return binary
        }
        return nil
    }

    // MARK: Rows

    struct Service: Equatable {
        var host, binary: String
        var id: Int
        var version: Int
        var deleted = 0
        var disabled = 0
        var forcedDown = 0
        var deletedAt: String?

        var flag: String { "service:\(host):\(binary)" }
        var encoded: String { "\(id)|\(version)|\(deleted)|\(disabled)|\(forcedDown)|\(deletedAt ?? "")" }

        init(host: String, binary: String, id: Int, version: Int) {
            (self.host, self.binary, self.id, self.version) = (host, binary, id, version)
        }

        init?(flag: String, value: String) {
            let key = flag.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            let v = value.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard key.count == 3, key[0] == "service", v.count == 6, let id = Int(v[0]), let version = Int(v[1]),
                  let deleted = Int(v[2]), let disabled = Int(v[3]), let forced = Int(v[4]) else { return nil }
            (host, binary, self.id, self.version) = (String(key[1]), String(key[2]), id, version)
            (self.deleted, self.disabled, forcedDown, deletedAt) = (deleted, disabled, forced, v[5].isEmpty ? nil : v[5])
        }
    }

    struct Node: Equatable {
        var host: String
        var id: Int
        var deleted = 0
        var deletedAt: String?
        var flag: String { "node:\(host)" }
        var encoded: String { "\(id)|\(deleted)|\(deletedAt ?? "")" }
        init(host: String, id: Int) { (self.host, self.id) = (host, id) }
        init?(flag: String, value: String) {
            guard flag.hasPrefix("node:") else { return nil }
            let v = value.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard v.count == 3, let id = Int(v[0]), let deleted = Int(v[1]) else { return nil }
            (host, self.id, self.deleted, deletedAt) = (String(flag.dropFirst(5)), id, deleted, v[2].isEmpty ? nil : v[2])
        }
    }

    static func services(_ db: SimDatabase) -> [Service] {
        db.flags.compactMap { k, v in k.hasPrefix("service:") ? Service(flag: k, value: v) : nil }.sorted { $0.id < $1.id }
    }

    static func nodes(_ db: SimDatabase) -> [Node] {
        db.flags.compactMap { k, v in k.hasPrefix("node:") ? Node(flag: k, value: v) : nil }.sorted { $0.id < $1.id }
    }

    static func nextID(_ db: inout SimDatabase, _ kind: String) -> Int {
        let id = (db.counters["next_id:\(kind)"] ?? 1)
        db.counters["next_id:\(kind)"] = id + 1
        return id
    }

    /// The rows a region running `release` has: a `nova-compute` row and compute node per compute (and per retired
    /// compute: `Sim.retiredComputes`), the controllers' conductor, scheduler and consoleauth (cert before Pike) rows.
    static func seed(_ state: inout SimState, release: String, context: any SimContext) {
        guard var db = state.databases["nova"] else { return }
        let v = version(release)
        func add(_ host: String, _ binary: String, version: Int) {
            let s = Service(host: host, binary: binary, id: nextID(&db, "services"), version: version)
            db.flags[s.flag] = s.encoded
        }
        func addNode(_ host: String) {
            let n = Node(host: host, id: nextID(&db, "compute_nodes"))
            db.flags[n.flag] = n.encoded
        }
        for host in Sim.hosts(state, in: "nova_old") {
            var binaries = ["nova-conductor", "nova-scheduler", "nova-consoleauth"]
            if Sim.before(release, "pike") { binaries.append("nova-cert") }
            for b in binaries { add(host, b, version: v) }
        }
        for host in Sim.hosts(state, in: "computes") {
            add(host, "nova-compute", version: v)
            addNode(host)
        }
        for host in Sim.retiredComputes(release: release, context: context) {
            add(host, "nova-compute", version: v)
            addNode(host)
        }
        let placementHosts = (Sim.hosts(state, in: "nova_old") + Sim.hosts(state, in: "nova_new")).filter { h in
            state.hosts[h]?.services.contains { placementUnits.contains($0.key) && $0.value.component == "nova" } ?? false
        }
        if !placementHosts.isEmpty { db.flags["placement_api_hosts"] = placementHosts.joined(separator: " ") }
        recount(&db)
        state.databases["nova"] = db
        // A region already at Ocata or later has its instances' allocations in placement.
        if Sim.atLeast(release, "ocata"), let name = placementDatabase(state), var placement = state.databases[name] {
            for host in Sim.hosts(state, in: "computes") { placement.flags["healed:\(host)"] = "1" }
            state.databases[name] = placement
        }
    }

    /// A unit writing its row as it starts with `release`'s code (nova/service.py `Service.start`: the row is
    /// created when missing, its version updated), then the computes' periodic task (allocations).
    static func started(unit: String, host: String, release: String, state: inout SimState) {
        guard var db = state.databases["nova"], db.schema["main"] != nil else { return }
        if placementUnits.contains(unit) {
            // Where placement runs: the hosts whose nova httpd/apache2 started (read by `heal` without a scan).
            var hosts = Set((db.flags["placement_api_hosts"] ?? "").split(separator: " ").map(String.init))
            if hosts.insert(host).inserted {
                db.flags["placement_api_hosts"] = hosts.sorted().joined(separator: " ")
                state.databases["nova"] = db
            }
            heal(&state, starting: nil)
            return
        }
        guard let binary = binary(unit: unit) else { return }
        if db.counters["compute_rows"] == nil { recount(&db) }
        let key = "service:\(host):\(binary)"
        let before = db.flags[key].flatMap { Service(flag: key, value: $0) }
        var row = before
        if row == nil || row!.deleted != 0 {
            row = Service(host: host, binary: binary, id: nextID(&db, "services"), version: 0)
        }
        row!.version = Sim.atLeast(db.schema["main"], "liberty") ? version(release) : 0
        db.flags[key] = row!.encoded
        count(&db, before, -1)
        count(&db, row, +1)
        if binary == "nova-compute", db.flags["node:\(host)"].flatMap({ Node(flag: "node:\(host)", value: $0) }).map({ $0.deleted != 0 }) ?? true {
            let n = Node(host: host, id: nextID(&db, "compute_nodes"))
            db.flags[n.flag] = n.encoded
        }
        state.databases["nova"] = db
        heal(&state, starting: binary == "nova-compute" ? (host, release) : nil)
    }

    /// The units that serve placement from nova's packages (httpd, apache2).
    static let placementUnits = Set(NovaKnowledge.knowledge.units(.rpm, role: "placement-api") + NovaKnowledge.knowledge.units(.deb, role: "placement-api"))

    /// The non-deleted, not forced-down `nova-compute` rows and those below the heal marker, as counters
    /// (`compute_rows`, `compute_rows_below_marker`): a compute's start then costs no scan of every row.
    static func recount(_ db: inout SimDatabase) {
        let live = services(db).filter { $0.binary == "nova-compute" && $0.deleted == 0 && $0.forcedDown == 0 }
        db.counters["compute_rows"] = live.count
        db.counters["compute_rows_below_marker"] = live.filter { $0.version < healMarker }.count
    }

    static func count(_ db: inout SimDatabase, _ row: Service?, _ sign: Int) {
        guard let row, row.binary == "nova-compute", row.deleted == 0, row.forcedDown == 0 else { return }
        db.counters["compute_rows", default: 0] += sign
        if row.version < healMarker { db.counters["compute_rows_below_marker", default: 0] += sign }
    }

    /// Whether the minimum over the live `nova-compute` rows is below 22 (0 with no row, as Nova answers).
    static func oldRowsRemain(_ db: SimDatabase) -> Bool {
        guard let live = db.counters["compute_rows"], let old = db.counters["compute_rows_below_marker"] else {
            return minimumComputeVersion(db) < healMarker
        }
        return live == 0 || old > 0
    }

    /// Whether a placement API from nova's packages runs on one of the hosts that started one.
    static func placementServing(_ state: SimState, _ nova: SimDatabase) -> Bool {
        (nova.flags["placement_api_hosts"] ?? "").split(separator: " ").contains { host in
            state.hosts[String(host)]?.services.contains { placementUnits.contains($0.key) && $0.value.component == "nova" && $0.value.running } ?? false
        }
    }

    /// The database that holds placement's tables for a region at this point: `nova_api` (Newton … Stein), else `placement`.
    static func placementDatabase(_ state: SimState) -> String? {
        if state.databases["placement"] != nil { return "placement" }
        if let api = state.databases["nova_api"], Sim.atLeast(api.schema["main"], "newton") { return "nova_api" }
        return nil
    }

    /// The minimum version over the non-deleted, not forced-down `nova-compute` rows (0 with none, as Nova says).
    static func minimumComputeVersion(_ db: SimDatabase) -> Int {
        services(db).filter { $0.binary == "nova-compute" && $0.deleted == 0 && $0.forcedDown == 0 }.map(\.version).min() ?? 0
    }

    /// The resource trackers' allocations: an Ocata compute writes its instances' allocations; a Pike-or-later one
    /// only while the minimum compute version is below 22. `starting` is a compute whose unit is starting now
    /// (not yet running in the model). Needs placement's database and a running placement API.
    static func heal(_ state: inout SimState, starting: (host: String, release: String)?) {
        guard let nova = state.databases["nova"], let placementDB = placementDatabase(state),
              var placement = state.databases[placementDB] else { return }
        let oldRowsRemain = oldRowsRemain(nova)
        var computes: [(host: String, release: String)] = []
        if let starting {
            // A compute's start changes only its own allocations (the minimum can only have risen).
            computes = [starting]
        } else {
            let units = Set(NovaKnowledge.knowledge.units(.rpm, role: "compute") + NovaKnowledge.knowledge.units(.deb, role: "compute"))
            for host in Sim.hosts(state, in: "computes") {
                guard let h = state.hosts[host] else { continue }
                if let svc = h.services.first(where: { units.contains($0.key) && $0.value.running }) { computes.append((host, svc.value.release)) }
            }
        }
        var serving: Bool?
        var changed = false
        for c in computes {
            let v = version(c.release)
            guard v >= 16, placement.flags["healed:\(c.host)"] == nil, v < healMarker || oldRowsRemain else { continue }
            if serving == nil { serving = placementServing(state, nova) }
            guard serving == true else { break }
            placement.flags["healed:\(c.host)"] = "1"
            changed = true
        }
        if changed { state.databases[placementDB] = placement }
    }

    // MARK: Tables

    static func table(_ name: String, database: String, state: SimState, context: any SimContext) -> SimTable? {
        switch (database, name) {
        case ("nova", "services"):
            guard let db = state.databases["nova"], db.schema["main"] != nil else { return nil }
            let liberty = Sim.atLeast(db.schema["main"], "liberty")
            var columns = ["id", "host", "binary", "topic", "disabled", "deleted", "deleted_at"]
            if liberty { columns += ["forced_down", "version"] }
            var unmodelled: Set<String> = ["created_at", "updated_at", "report_count", "disabled_reason"]
            if liberty { unmodelled.insert("last_seen_up") }
            if Sim.atLeast(db.schema["main"], "pike") { unmodelled.insert("uuid") }
            let rows = services(db).map { s -> [String: LuaValue] in
                var r: [String: LuaValue] = [
                    "id": .int(Int64(s.id)), "host": .string(s.host), "binary": .string(s.binary),
                    "topic": .string(String(s.binary.dropFirst("nova-".count))), "disabled": .int(Int64(s.disabled)),
                    "deleted": .int(Int64(s.deleted)), "deleted_at": s.deletedAt.map { .string($0) } ?? .nil,
                ]
                if liberty { r["forced_down"] = .int(Int64(s.forcedDown)); r["version"] = .int(Int64(s.version)) }
                return r
            }
            return SimTable(columns: columns, rows: rows, unmodelled: unmodelled)
        case ("nova", "compute_nodes"):
            guard let db = state.databases["nova"], db.schema["main"] != nil else { return nil }
            let mitaka = Sim.atLeast(db.schema["main"], "mitaka")
            var columns = ["id", "host", "hypervisor_hostname", "running_vms", "deleted", "deleted_at"]
            if mitaka { columns.insert("uuid", at: 1) }
            let perHost = instancesPerCompute(state, context: context)
            let computes = Set(Sim.hosts(state, in: "computes"))
            let rows = nodes(db).map { n -> [String: LuaValue] in
                var r: [String: LuaValue] = [
                    "id": .int(Int64(n.id)), "host": .string(n.host), "hypervisor_hostname": .string(n.host),
                    "running_vms": .int(Int64(computes.contains(n.host) ? perHost : 0)), "deleted": .int(Int64(n.deleted)),
                    "deleted_at": n.deletedAt.map { .string($0) } ?? .nil,
                ]
                if mitaka { r["uuid"] = .string(Sim.uuid("node:\(n.host)")) }
                return r
            }
            return SimTable(columns: columns, rows: rows, unmodelled: [
                "service_id", "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "hypervisor_type",
                "hypervisor_version", "cpu_info", "disk_available_least", "free_ram_mb", "free_disk_gb", "current_workload",
                "host_ip", "supported_instances", "pci_stats", "metrics", "extra_resources", "stats", "numa_topology",
                "ram_allocation_ratio", "cpu_allocation_ratio", "disk_allocation_ratio", "created_at", "updated_at", "mapped",
            ])
        case (_, "resource_providers"), (_, "allocations"):
            guard placementDatabase(state) == database, let placement = state.databases[database], let nova = state.databases["nova"] else { return nil }
            // A provider per compute node whose compute ran Ocata or later (it registers itself), named after its node.
            let computes = Set(services(nova).filter { $0.binary == "nova-compute" && $0.version >= 16 }.map(\.host))
            let providers = nodes(nova).filter { $0.deleted == 0 && computes.contains($0.host) }
            if name == "resource_providers" {
                return SimTable(columns: ["id", "uuid", "name", "generation", "root_provider_id", "parent_provider_id"],
                                rows: providers.map { n in
                                    ["id": .int(Int64(n.id)), "uuid": .string(Sim.uuid("node:\(n.host)")), "name": .string(n.host),
                                     "generation": .int(1), "root_provider_id": .int(Int64(n.id)), "parent_provider_id": .nil]
                                },
                                unmodelled: ["created_at", "updated_at", "can_host"])
            }
            // Allocations: VCPU (0), MEMORY_MB (1), DISK_GB (2) of each instance on a healed node.
            let perHost = instancesPerCompute(state, context: context)
            var rows: [[String: LuaValue]] = []
            var id: Int64 = 1
            for n in providers where placement.flags["healed:\(n.host)"] != nil {
                for i in 0..<perHost {
                    let consumer = LuaValue.string(Sim.uuid("instance:\(n.host):\(i)"))
                    for (rc, used) in [(0, 2), (1, 4096), (2, 40)] {
                        rows.append(["id": .int(id), "resource_provider_id": .int(Int64(n.id)), "consumer_id": consumer,
                                     "resource_class_id": .int(Int64(rc)), "used": .int(Int64(used))])
                        id += 1
                    }
                }
            }
            return SimTable(columns: ["id", "resource_provider_id", "consumer_id", "resource_class_id", "used"], rows: rows,
                            unmodelled: ["created_at", "updated_at"])
        default:
            return nil
        }
    }

    /// Applies what the model keeps of a change: services (soft delete and undelete, disabled, forced_down, version;
    /// a row inserted; a row deleted) and compute nodes (soft delete and undelete). Anything else: nil.
    static func apply(_ change: SimTableChange, database: String, state: inout SimState, context: any SimContext) -> Int? {
        guard database == "nova", var db = state.databases["nova"] else { return nil }
        switch change {
        case .update("services", let rows, let set):
            let allowed: Set<String> = ["deleted", "deleted_at", "disabled", "forced_down", "version"]
            guard set.allSatisfy({ Set($0.keys).isSubset(of: allowed) }) else { return nil }
            var changedRows = 0
            for (row, values) in zip(rows, set) {
                guard let host = row["host"]?.stringValue, let binary = row["binary"]?.stringValue else { continue }
                let key = "service:\(host):\(binary)"
                guard var s = db.flags[key].flatMap({ Service(flag: key, value: $0) }) else { continue }
                let before = s
                if let v = values["deleted"]?.intValue { s.deleted = v }
                if let v = values["deleted_at"] { s.deletedAt = v.stringValue }
                if let v = values["disabled"]?.intValue { s.disabled = v }
                if let v = values["forced_down"]?.intValue { s.forcedDown = v }
                if let v = values["version"]?.intValue { s.version = v }
                if s != before { changedRows += 1 }
                db.flags[key] = s.encoded
            }
            recount(&db)
            state.databases["nova"] = db
            heal(&state, starting: nil)
            return changedRows
        case .insert("services", let row):
            guard let host = row["host"]?.stringValue, let binary = row["binary"]?.stringValue,
                  Set(row.keys).isSubset(of: ["host", "binary", "topic", "disabled", "deleted", "version", "forced_down", "report_count",
                                              "created_at", "updated_at", "disabled_reason"]) else { return nil }
            var s = Service(host: host, binary: binary, id: nextID(&db, "services"), version: row["version"]?.intValue ?? 0)
            s.disabled = row["disabled"]?.intValue ?? 0
            s.forcedDown = row["forced_down"]?.intValue ?? 0
            s.deleted = row["deleted"]?.intValue ?? 0
            if let existing = db.flags[s.flag].flatMap({ Service(flag: s.flag, value: $0) }), existing.deleted == 0 {
                return nil // uniq_services0host0topic0deleted: the model does not keep two live rows of one host and binary
            }
            db.flags[s.flag] = s.encoded
            recount(&db)
            state.databases["nova"] = db
            heal(&state, starting: nil)
            return 1
        case .delete("services", let rows):
            for row in rows {
                guard let host = row["host"]?.stringValue, let binary = row["binary"]?.stringValue else { continue }
                db.flags.removeValue(forKey: "service:\(host):\(binary)")
            }
            recount(&db)
            state.databases["nova"] = db
            heal(&state, starting: nil)
            return rows.count
        case .update("compute_nodes", let rows, let set):
            guard set.allSatisfy({ Set($0.keys).isSubset(of: ["deleted", "deleted_at"]) }) else { return nil }
            var changedRows = 0
            for (row, values) in zip(rows, set) {
                guard let host = row["host"]?.stringValue, var n = db.flags["node:\(host)"].flatMap({ Node(flag: "node:\(host)", value: $0) })
                else { continue }
                let before = n
                if let v = values["deleted"]?.intValue { n.deleted = v }
                if let v = values["deleted_at"] { n.deletedAt = v.stringValue }
                if n != before { changedRows += 1 }
                db.flags[n.flag] = n.encoded
            }
            state.databases["nova"] = db
            return changedRows
        default:
            return nil
        }
    }
}
