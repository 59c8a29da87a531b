import Foundation
import LuaBridge
import Synchronization

/// The Keystone v3 catalog: services and endpoints, with a token obtained by
/// password and renewed before it expires (or when Keystone says it has).
public final class KeystoneCatalog: Sendable {
    public typealias Settings = KeystoneCredentials

    let settings: Settings
    private let token = Mutex<(value: String, expires: Date)?>(nil)
    let http = HTTPService.shared

    /// Logs in with the region's credentials (``KeystoneCredentials/resolve(region:environment:)``:
    /// the `keystone:` section, a clouds.yaml cloud, an openrc, or `OS_*`).
    public convenience init(region: Region) throws {
        self.init(credentials: try KeystoneCredentials.resolve(region: region))
    }

    public init(credentials: KeystoneCredentials) {
        settings = credentials
    }

    func fail(_ message: String) -> HTTPFailure { HTTPFailure(description: "catalog: Keystone at \(settings.authURL): \(message)") }

    /// A new token: `POST /auth/tokens` with the credentials (its answer holds the token's
    /// catalog too). A refusal names who logged in and where the credentials came from.
    func requestToken() async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await http.request(method: "POST", url: settings.authURL + "/auth/tokens",
                                              headers: ["Content-Type": "application/json", "Accept": "application/json"],
                                              body: Data(settings.authBody.jsonString().utf8),
                                              caFile: settings.caFile, insecure: settings.insecure,
                                              idempotent: true)  // a token more changes nothing
        } catch let e as HTTPFailure {
            throw fail("cannot authenticate: \(e.description)")
        }
        guard response.status == 201 else {
            throw fail(response.status == 401 ? "authentication as \(settings.who) rejected (wrong password or secret?; credentials from \(settings.source))" : "authentication failed: HTTP \(response.status) \(response.body.prefix(200))")
        }
        return response
    }

    func authenticate() async throws -> String {
        if let t = token.withLock({ $0 }), t.expires.timeIntervalSinceNow > 60 { return t.value }
        let response = try await requestToken()
        guard let value = response.headers["x-subject-token"] else {
            throw fail("POST /auth/tokens: Keystone answered 201 without an X-Subject-Token")
        }
        let expiresText = response.json?["token"]["expires_at"].stringValue ?? ""
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let expires = formatter.date(from: expiresText) ?? ISO8601DateFormatter().date(from: expiresText) ?? Date().addingTimeInterval(3000)
        token.withLock { $0 = (value, expires) }
        return value
    }

    /// The token in use (authenticating if needed); for tests of renewal.
    public func currentTokenForTests() async throws -> String { try await authenticate() }

    /// Forgets the token (tests; and after Keystone rejects it).
    public func invalidateToken() { token.withLock { $0 = nil } }

    /// Calls the API; a 401 renews the token once.
    func call(_ method: String, _ path: String, body: LuaValue? = nil, expect: Set<Int>) async throws -> LuaValue {
        for attempt in 0..<2 {
            let t = try await authenticate()
            let response: HTTPResponse
            do {
                response = try await http.request(
                    method: method, url: settings.authURL + path,
                    headers: ["X-Auth-Token": t, "Content-Type": "application/json", "Accept": "application/json"],
                    body: body.map { Data($0.jsonString().utf8) }, caFile: settings.caFile, insecure: settings.insecure)
            } catch let e as HTTPFailure {
                throw fail(e.description)
            }
            if response.status == 401 && attempt == 0 {
                invalidateToken()
                continue
            }
            guard expect.contains(response.status) else {
                let detail = response.json?["error"]["message"].stringValue ?? String(response.body.prefix(200))
                let what = response.status == 409 ? "conflict" : "HTTP \(response.status)"
                throw fail("\(method) \(path): \(what): \(detail)")
            }
            return response.json ?? .nil
        }
        throw fail("\(method) \(path): the renewed token was rejected too")
    }

    /// Reads an answer of Keystone's into records; one it does not understand is an error
    /// naming the request and the key (`GET /services: unexpected answer: services[3].type: missing`).
    func read<T>(_ request: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as LuaRecordError { throw fail("\(request): unexpected answer: \(e)") }
    }

    /// Each element of the list under `key` of an answer, read by `element`.
    func list<T>(_ answer: LuaValue, _ key: String, _ request: String, _ element: (LuaValue, String) throws -> T) throws -> [T] {
        try read(request) { try (answer[key].arrayValue ?? []).enumerated().map { try element($1, "\(key)[\($0 + 1)]") } }
    }

    // MARK: Services and endpoints

    public func services() async throws -> [CatalogService] {
        try list(try await call("GET", "/services", expect: [200]), "services", "GET /services", Self.service)
    }

    static func service(_ s: LuaValue, at path: String) throws -> CatalogService {
        let f = try FieldReader(s, at: path)
        return CatalogService(id: try f.string("id"), name: try f.optionalString("name"), type: try f.string("type"),
                              enabled: try f.optionalBool("enabled") ?? true, description: try f.optionalString("description"))
    }

    /// An endpoint as Keystone answers it: its region is `region_id` (`region` before Keystone's v3 rename).
    static func endpoint(_ e: LuaValue, at path: String) throws -> CatalogEndpoint {
        let f = try FieldReader(e, at: path)
        return CatalogEndpoint(id: try f.string("id"), serviceID: try f.string("service_id"), interface: try f.string("interface"),
                               region: try f.optionalString("region_id") ?? f.optionalString("region"), url: try f.string("url"),
                               enabled: try f.optionalBool("enabled") ?? true)
    }

    static func region(_ r: LuaValue, at path: String) throws -> CatalogRegion {
        let f = try FieldReader(r, at: path)
        return CatalogRegion(id: try f.string("id"), description: try f.optionalString("description"),
                             parentRegionID: try f.optionalString("parent_region_id"))
    }

    /// Endpoints, each with its service's name and type, filtered as asked.
    public func endpoints(service: String? = nil, interface: String? = nil, region: String? = nil) async throws -> [CatalogEndpoint] {
        let services = try await self.services()
        let byID = Dictionary(uniqueKeysWithValues: services.map { ($0.id, $0) })
        let listed = try list(try await call("GET", "/endpoints", expect: [200]), "endpoints", "GET /endpoints", Self.endpoint).map { e in
            var e = e
            e.service = byID[e.serviceID]?.name
            e.type = byID[e.serviceID]?.type
            return e
        }
        return listed.filter { $0.matches(service: service, interface: interface, region: region) }
    }

    func findService(_ nameOrType: String) async throws -> CatalogService? {
        let all = try await services()
        return all.first { $0.name == nameOrType } ?? all.first { $0.type == nameOrType }
    }

    public func ensureService(name: String, type: String, description: String?) async throws -> (CatalogService, created: Bool) {
        if let existing = try await services().first(where: { $0.name == name && $0.type == type }) {
            return (existing, false)
        }
        var body: [String: LuaValue] = ["name": .string(name), "type": .string(type), "enabled": true]
        if let description { body["description"] = .string(description) }
        let created = try await call("POST", "/services", body: ["service": .map(body)], expect: [201])
        return (try read("POST /services") { try Self.service(created["service"], at: "service") }, true)
    }

    /// Creates the endpoint, or updates its URL if one exists for the service, interface and region.
    public func ensureEndpoint(service: String, interface: String, region: String, url: String) async throws
        -> (CatalogEndpoint, action: CatalogEndpointAction)
    {
        guard let svc = try await findService(service) else {
            throw fail("no service named or typed '\(service)' (ensure_service it first)")
        }
        let existing = try await endpoints(interface: interface, region: region).filter { $0.serviceID == svc.id }
        if let e = existing.first {
            if e.url == url { return (e, .unchanged) }
            return (try await updateEndpoint(id: e.id, url: url), .updated)
        }
        let created = try await call("POST", "/endpoints", body: ["endpoint": [
            "service_id": .string(svc.id), "interface": .string(interface), "region_id": .string(region), "url": .string(url),
            "enabled": true,
        ]], expect: [201])
        return (try read("POST /endpoints") { try Self.endpoint(created["endpoint"], at: "endpoint") }, .created)
    }

    /// The catalog Keystone puts in a new project-scoped token (POST /auth/tokens, with the
    /// catalog): what nova, cinder and the other services that authenticate are given. Unlike
    /// GET /endpoints, the URLs are substituted and the endpoints Keystone cannot format are
    /// gone (openstack/keystone@2015.1.0 keystone/catalog/backends/sql.py get_v3_catalog skips
    /// them). The token is not kept: the run's own stays as it was.
    public func tokenCatalog() async throws -> [CatalogTokenService] {
        let response = try await requestToken()
        guard let json = response.json, json["token"]["catalog"].arrayValue != nil else {
            throw fail("POST /auth/tokens: the token has no catalog (is \(settings.who) scoped to a project?)")
        }
        return try list(json["token"], "catalog", "POST /auth/tokens") { try CatalogTokenService(lua: $0, at: "token.\($1)") }
    }

    // MARK: Regions

    public func regions() async throws -> [CatalogRegion] {
        try list(try await call("GET", "/regions", expect: [200]), "regions", "GET /regions", Self.region)
    }

    /// Creates a region; an existing id is a conflict (Keystone answers 409). Ferry sets no
    /// parent, so the region it returns has none.
    public func createRegion(id: String, description: String?) async throws -> CatalogRegion {
        var body: [String: LuaValue] = ["id": .string(id)]
        if let description { body["description"] = .string(description) }
        let r = try await call("POST", "/regions", body: ["region": .map(body)], expect: [201])
        let made = try read("POST /regions") { try Self.region(r["region"], at: "region") }
        return CatalogRegion(id: made.id, description: made.description)
    }

    public func ensureRegion(id: String, description: String?) async throws -> (CatalogRegion, created: Bool) {
        if let existing = try await regions().first(where: { $0.id == id }) { return (existing, false) }
        return (try await createRegion(id: id, description: description), true)
    }

    public func deleteRegion(id: String) async throws {
        _ = try await call("DELETE", "/regions/\(id)", expect: [204])
    }

    public func updateEndpoint(id: String, url: String) async throws -> CatalogEndpoint {
        let r = try await call("PATCH", "/endpoints/\(id)", body: ["endpoint": ["url": .string(url)]], expect: [200])
        return try read("PATCH /endpoints/\(id)") { try Self.endpoint(r["endpoint"], at: "endpoint") }
    }

    public func deleteEndpoint(id: String) async throws {
        _ = try await call("DELETE", "/endpoints/\(id)", expect: [204])
    }

    public func deleteService(id: String) async throws {
        _ = try await call("DELETE", "/services/\(id)", expect: [204])
    }

    // MARK: Snapshot and restore

    public func snapshot() async throws -> CatalogSnapshot {
        .contents(CatalogContents(services: try await services(), endpoints: try await endpoints(), regions: try await regions()))
    }

    /// Regions the snapshot has and the catalog lacks are made (parents first) before the
    /// endpoints that name them; changed descriptions revert. Returns (created, updated).
    func restoreRegions(_ want: [CatalogRegion]) async throws -> (Int, Int) {
        var now = Dictionary(try await regions().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var created = 0, updated = 0
        var pending = want
        while !pending.isEmpty {
            // A region whose parent is there (or has none) can be made now.
            let ready = pending.filter { r in r.parentRegionID.map { now[$0] != nil } ?? true }
            guard !ready.isEmpty else { throw fail("restore: regions \(pending.map(\.id)) name parents that are gone") }
            pending.removeAll { r in ready.contains { $0.id == r.id } }
            for r in ready {
                if let existing = now[r.id] {
                    var patch: [String: LuaValue] = [:]
                    if (existing.description ?? "") != (r.description ?? "") {
                        patch["description"] = .string(r.description ?? "")
                    }
                    // A region moved under another since the snapshot goes back where it was.
                    if existing.parentRegionID != r.parentRegionID {
                        patch["parent_region_id"] = .optional(r.parentRegionID)
                    }
                    if !patch.isEmpty {
                        _ = try await call("PATCH", "/regions/\(r.id)", body: ["region": .map(patch)], expect: [200])
                        updated += 1
                    }
                    continue
                }
                var body: [String: LuaValue] = ["id": .string(r.id)]
                if let d = r.description { body["description"] = .string(d) }
                if let parent = r.parentRegionID { body["parent_region_id"] = .string(parent) }
                _ = try await call("POST", "/regions", body: ["region": .map(body)], expect: [201])
                now[r.id] = r
                created += 1
            }
        }
        return (created, updated)
    }

    /// Regions made since the snapshot go, once no endpoint names them (children first).
    func deleteRegions(notIn want: [CatalogRegion]) async throws -> Int {
        let keep = Set(want.map(\.id))
        let all = try await regions()
        var extra = all.filter { !keep.contains($0.id) }
        var deleted = 0
        while !extra.isEmpty {
            // A region some other region still names as parent (kept or not) is not a leaf.
            let remaining = all.filter { r in keep.contains(r.id) || extra.contains { $0.id == r.id } }
            let parents = Set(remaining.compactMap(\.parentRegionID))
            let leaves = extra.filter { !parents.contains($0.id) }
            guard !leaves.isEmpty else { break }
            for r in leaves {
                try await deleteRegion(id: r.id)
                deleted += 1
            }
            extra.removeAll { r in leaves.contains { $0.id == r.id } }
        }
        return deleted
    }

    /// Puts the catalog back as the snapshot had it: what was created since is
    /// deleted, what was deleted is recreated (with new ids), changed URLs revert.
    public func restore(_ snapshot: CatalogSnapshot) async throws -> CatalogRestoreSummary {
        guard case .contents(let want) = snapshot else { throw fail("restore: expected what catalog.snapshot() returned") }
        var summary = CatalogRestoreSummary()
        // Snapshots taken before regions were part of them leave regions alone.
        if let wantRegions = want.regions {
            let (c, u) = try await restoreRegions(wantRegions)
            summary.created += c
            summary.updated += u
        }
        let nowServices = try await services()
        // Services: keep by id; recreate missing ones; remember id changes.
        var serviceIDs: [String: String] = [:]
        for s in want.services {
            if nowServices.contains(where: { $0.id == s.id }) {
                serviceIDs[s.id] = s.id
            } else if let match = nowServices.first(where: { n in n.name == s.name && n.type == s.type && !want.services.contains(where: { $0.id == n.id }) }) {
                serviceIDs[s.id] = match.id
            } else {
                let (made, _) = try await ensureService(name: s.name ?? "", type: s.type, description: s.description)
                serviceIDs[s.id] = made.id
                summary.created += 1
                // Made enabled with the snapshot's description; a disabled one goes back disabled.
                if !s.enabled {
                    _ = try await call("PATCH", "/services/\(made.id)", body: ["service": ["enabled": false]], expect: [200])
                }
                continue
            }
            // A kept service whose description or enabled flag changed gets them back.
            guard let targetID = serviceIDs[s.id], let now = nowServices.first(where: { $0.id == targetID }) else { continue }
            var patch: [String: LuaValue] = [:]
            if now.enabled != s.enabled { patch["enabled"] = .bool(s.enabled) }
            // No description and an empty one are the same to Keystone's users.
            if (now.description ?? "") != (s.description ?? "") {
                patch["description"] = .string(s.description ?? "")
            }
            if !patch.isEmpty {
                _ = try await call("PATCH", "/services/\(targetID)", body: ["service": .map(patch)], expect: [200])
                summary.updated += 1
            }
        }
        let keepServiceIDs = Set(serviceIDs.values)
        let nowEndpoints = try await endpoints()
        func key(_ e: CatalogEndpoint, serviceID: String?) -> String {
            "\(serviceID ?? "")|\(e.interface)|\(e.region ?? "")"
        }
        let wantByKey = Dictionary(want.endpoints.map { (key($0, serviceID: serviceIDs[$0.serviceID]), $0) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for e in nowEndpoints {
            let k = key(e, serviceID: e.serviceID)
            if let w = wantByKey[k], !seen.contains(k) {
                seen.insert(k)
                if w.url != e.url {
                    _ = try await updateEndpoint(id: e.id, url: w.url)
                    summary.updated += 1
                }
            } else {
                try await deleteEndpoint(id: e.id)
                summary.deleted += 1
            }
        }
        for (k, e) in wantByKey where !seen.contains(k) {
            guard let serviceID = serviceIDs[e.serviceID] else { continue }
            _ = try await call("POST", "/endpoints", body: ["endpoint": [
                "service_id": .string(serviceID), "interface": .string(e.interface), "region_id": .optional(e.region), "url": .string(e.url),
                "enabled": .bool(e.enabled),
            ]], expect: [201])
            summary.created += 1
        }
        for s in nowServices where !keepServiceIDs.contains(s.id) {
            try await deleteService(id: s.id)
            summary.deleted += 1
        }
        if let wantRegions = want.regions { summary.deleted += try await deleteRegions(notIn: wantRegions) }
        return summary
    }
}
