import Foundation
import LuaBridge
import Synchronization

/// The Keystone v3 catalog: services and endpoints, with a token obtained by
/// password and renewed before it expires (or when Keystone says it has).
public final class KeystoneCatalog: Sendable {
    public struct Settings: Sendable {
        var authURL: String
        var username: String
        var password: String
        var project: String
        var userDomain: String
        var projectDomain: String
        var region: String?
        var caFile: String?
        var insecure: Bool
    }

    let settings: Settings
    private let token = Mutex<(value: String, expires: Date)?>(nil)
    let http = HTTPService.shared

    public init(region: Region) throws {
        let k = region.keystone
        guard case .map = k, let authURL = k["auth_url"].stringValue else {
            throw HTTPFailure(description: "catalog: region \(region.name) has no keystone: { auth_url: … } section")
        }
        let password = try region.secretValue(k["password"]) ?? ""
        settings = Settings(
            authURL: authURL.hasSuffix("/") ? String(authURL.dropLast()) : authURL, username: k["username"].stringValue ?? "admin",
            password: password, project: k["project"].stringValue ?? "admin",
            userDomain: k["user_domain"].stringValue ?? "Default", projectDomain: k["project_domain"].stringValue ?? "Default",
            region: k["region_name"].stringValue,
            caFile: k["ca_file"].stringValue.map { RegionPaths.expand($0, relativeTo: region.directory) }, insecure: k["insecure"].boolValue ?? false)
    }

    func fail(_ message: String) -> HTTPFailure { HTTPFailure(description: "catalog: Keystone at \(settings.authURL): \(message)") }

    func authenticate() async throws -> String {
        if let t = token.withLock({ $0 }), t.expires.timeIntervalSinceNow > 60 { return t.value }
        let body: LuaValue = ["auth": [
            "identity": ["methods": ["password"], "password": ["user": [
                "name": .string(settings.username), "domain": ["name": .string(settings.userDomain)],
                "password": .string(settings.password),
            ]]],
            "scope": ["project": ["name": .string(settings.project), "domain": ["name": .string(settings.projectDomain)]]],
        ]]
        let response: HTTPResponse
        do {
            response = try await http.request(method: "POST", url: settings.authURL + "/auth/tokens",
                                              headers: ["Content-Type": "application/json"], body: Data(body.jsonString().utf8),
                                              caFile: settings.caFile, insecure: settings.insecure)
        } catch let e as HTTPFailure {
            throw fail("cannot authenticate: \(e.description)")
        }
        guard response.status == 201, let value = response.headers["x-subject-token"] else {
            throw fail(response.status == 401 ? "authentication as \(settings.username) rejected (wrong password?)" : "authentication failed: HTTP \(response.status) \(response.body.prefix(200))")
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

    // MARK: Services and endpoints

    public func services() async throws -> [LuaValue] {
        try await call("GET", "/services", expect: [200])["services"].arrayValue?.map(Self.service) ?? []
    }

    static func service(_ s: LuaValue) -> LuaValue {
        ["id": s["id"], "name": s["name"], "type": s["type"], "enabled": s["enabled"].isNil ? true : s["enabled"],
         "description": s["description"]]
    }

    static func endpoint(_ e: LuaValue) -> LuaValue {
        ["id": e["id"], "service_id": e["service_id"], "interface": e["interface"], "region": e["region_id"].isNil ? e["region"] : e["region_id"],
         "url": e["url"], "enabled": e["enabled"].isNil ? true : e["enabled"]]
    }

    /// Endpoints, each with its service's name and type, filtered as asked.
    public func endpoints(service: String? = nil, interface: String? = nil, region: String? = nil) async throws -> [LuaValue] {
        let services = try await self.services()
        let byID = Dictionary(uniqueKeysWithValues: services.compactMap { s in s["id"].stringValue.map { ($0, s) } })
        var list = try await call("GET", "/endpoints", expect: [200])["endpoints"].arrayValue?.map(Self.endpoint) ?? []
        list = list.map { e in
            var m = e.mapValue ?? [:]
            let s = byID[e["service_id"].stringValue ?? ""]
            m["service"] = s?["name"] ?? .nil
            m["type"] = s?["type"] ?? .nil
            return .map(m)
        }
        return list.filter { e in
            (service == nil || e["service"].stringValue == service || e["type"].stringValue == service || e["service_id"].stringValue == service)
                && (interface == nil || e["interface"].stringValue == interface)
                && (region == nil || e["region"].stringValue == region)
        }
    }

    func findService(_ nameOrType: String) async throws -> LuaValue? {
        let all = try await services()
        return all.first { $0["name"].stringValue == nameOrType } ?? all.first { $0["type"].stringValue == nameOrType }
    }

    public func ensureService(name: String, type: String, description: String?) async throws -> (LuaValue, created: Bool) {
        if let existing = try await services().first(where: { $0["name"].stringValue == name && $0["type"].stringValue == type }) {
            return (existing, false)
        }
        var body: [String: LuaValue] = ["name": .string(name), "type": .string(type), "enabled": true]
        if let description { body["description"] = .string(description) }
        let created = try await call("POST", "/services", body: ["service": .map(body)], expect: [201])
        return (Self.service(created["service"]), true)
    }

    /// Creates the endpoint, or updates its URL if one exists for the service, interface and region.
    public func ensureEndpoint(service: String, interface: String, region: String, url: String) async throws -> (LuaValue, action: String) {
        guard let svc = try await findService(service), let serviceID = svc["id"].stringValue else {
            throw fail("no service named or typed '\(service)' (ensure_service it first)")
        }
        let existing = try await endpoints(interface: interface, region: region).filter { $0["service_id"].stringValue == serviceID }
        if let e = existing.first, let id = e["id"].stringValue {
            if e["url"].stringValue == url { return (e, "unchanged") }
            let updated = try await call("PATCH", "/endpoints/\(id)", body: ["endpoint": ["url": .string(url)]], expect: [200])
            return (Self.endpoint(updated["endpoint"]), "updated")
        }
        let created = try await call("POST", "/endpoints", body: ["endpoint": [
            "service_id": .string(serviceID), "interface": .string(interface), "region_id": .string(region), "url": .string(url),
            "enabled": true,
        ]], expect: [201])
        return (Self.endpoint(created["endpoint"]), "created")
    }

    // MARK: Regions

    public func regions() async throws -> [LuaValue] {
        try await call("GET", "/regions", expect: [200])["regions"].arrayValue?.map {
            ["id": $0["id"], "description": $0["description"], "parent_region_id": $0["parent_region_id"]]
        } ?? []
    }

    /// Creates a region; an existing id is a conflict (Keystone answers 409).
    public func createRegion(id: String, description: String?) async throws -> LuaValue {
        var body: [String: LuaValue] = ["id": .string(id)]
        if let description { body["description"] = .string(description) }
        let r = try await call("POST", "/regions", body: ["region": .map(body)], expect: [201])
        return ["id": r["region"]["id"], "description": r["region"]["description"]]
    }

    public func ensureRegion(id: String, description: String?) async throws -> (LuaValue, created: Bool) {
        if let existing = try await regions().first(where: { $0["id"].stringValue == id }) { return (existing, false) }
        return (try await createRegion(id: id, description: description), true)
    }

    public func deleteRegion(id: String) async throws {
        _ = try await call("DELETE", "/regions/\(id)", expect: [204])
    }

    public func updateEndpoint(id: String, url: String) async throws -> LuaValue {
        Self.endpoint(try await call("PATCH", "/endpoints/\(id)", body: ["endpoint": ["url": .string(url)]], expect: [200])["endpoint"])
    }

    public func deleteEndpoint(id: String) async throws {
        _ = try await call("DELETE", "/endpoints/\(id)", expect: [204])
    }

    public func deleteService(id: String) async throws {
        _ = try await call("DELETE", "/services/\(id)", expect: [204])
    }

    // MARK: Snapshot and restore

    public func snapshot() async throws -> LuaValue {
        ["services": .array(try await services()), "endpoints": .array(try await endpoints()), "regions": .array(try await regions())]
    }

    /// Regions the snapshot has and the catalog lacks are made (parents first) before the
    /// endpoints that name them; changed descriptions revert. Returns (created, updated).
    func restoreRegions(_ want: [LuaValue]) async throws -> (Int, Int) {
        var now = Dictionary(try await regions().compactMap { r in r["id"].stringValue.map { ($0, r) } }, uniquingKeysWith: { a, _ in a })
        var created = 0, updated = 0
        var pending = want
        while !pending.isEmpty {
            // A region whose parent is there (or has none) can be made now.
            let ready = pending.filter { r in r["parent_region_id"].stringValue.map { now[$0] != nil } ?? true }
            guard !ready.isEmpty else { throw fail("restore: regions \(pending.compactMap { $0["id"].stringValue }) name parents that are gone") }
            pending.removeAll { r in ready.contains { $0["id"] == r["id"] } }
            for r in ready {
                guard let id = r["id"].stringValue else { continue }
                if let existing = now[id] {
                    var patch: [String: LuaValue] = [:]
                    if (existing["description"].stringValue ?? "") != (r["description"].stringValue ?? "") {
                        patch["description"] = .string(r["description"].stringValue ?? "")
                    }
                    // A region moved under another since the snapshot goes back where it was.
                    if existing["parent_region_id"].stringValue != r["parent_region_id"].stringValue {
                        patch["parent_region_id"] = r["parent_region_id"].stringValue.map { .string($0) } ?? .nil
                    }
                    if !patch.isEmpty {
                        _ = try await call("PATCH", "/regions/\(id)", body: ["region": .map(patch)], expect: [200])
                        updated += 1
                    }
                    continue
                }
                var body: [String: LuaValue] = ["id": .string(id)]
                if let d = r["description"].stringValue { body["description"] = .string(d) }
                if let parent = r["parent_region_id"].stringValue { body["parent_region_id"] = .string(parent) }
                _ = try await call("POST", "/regions", body: ["region": .map(body)], expect: [201])
                now[id] = r
                created += 1
            }
        }
        return (created, updated)
    }

    /// Regions made since the snapshot go, once no endpoint names them (children first).
    func deleteRegions(notIn want: [LuaValue]) async throws -> Int {
        let keep = Set(want.compactMap { $0["id"].stringValue })
        let all = try await regions()
        var extra = all.filter { !keep.contains($0["id"].stringValue ?? "") }
        var deleted = 0
        while !extra.isEmpty {
            // A region some other region still names as parent (kept or not) is not a leaf.
            let remaining = all.filter { r in keep.contains(r["id"].stringValue ?? "") || extra.contains { $0["id"] == r["id"] } }
            let parents = Set(remaining.compactMap { $0["parent_region_id"].stringValue })
            let leaves = extra.filter { !parents.contains($0["id"].stringValue ?? "") }
            guard !leaves.isEmpty else { break }
            for r in leaves { if let id = r["id"].stringValue { try await deleteRegion(id: id); deleted += 1 } }
            extra.removeAll { r in leaves.contains { $0["id"] == r["id"] } }
        }
        return deleted
    }

    /// Puts the catalog back as the snapshot had it: what was created since is
    /// deleted, what was deleted is recreated (with new ids), changed URLs revert.
    public func restore(_ snapshot: LuaValue) async throws -> LuaValue {
        guard let wantServices = snapshot["services"].arrayValue, let wantEndpoints = snapshot["endpoints"].arrayValue else {
            throw fail("restore: expected what catalog.snapshot() returned")
        }
        var created = 0, deleted = 0, updated = 0
        // Snapshots taken before regions were part of them leave regions alone.
        let wantRegions = snapshot["regions"].arrayValue
        if let wantRegions {
            let (c, u) = try await restoreRegions(wantRegions)
            created += c
            updated += u
        }
        let nowServices = try await services()
        // Services: keep by id; recreate missing ones; remember id changes.
        var serviceIDs: [String: String] = [:]
        for s in wantServices {
            guard let id = s["id"].stringValue else { continue }
            if nowServices.contains(where: { $0["id"].stringValue == id }) {
                serviceIDs[id] = id
            } else if let match = nowServices.first(where: { n in n["name"] == s["name"] && n["type"] == s["type"] && !wantServices.contains(where: { w in w["id"] == n["id"] }) }) {
                serviceIDs[id] = match["id"].stringValue
            } else {
                let (made, _) = try await ensureService(name: s["name"].stringValue ?? "", type: s["type"].stringValue ?? "", description: s["description"].stringValue)
                serviceIDs[id] = made["id"].stringValue
                created += 1
                // Made enabled with the snapshot's description; a disabled one goes back disabled.
                if s["enabled"] == false, let newID = made["id"].stringValue {
                    _ = try await call("PATCH", "/services/\(newID)", body: ["service": ["enabled": false]], expect: [200])
                }
                continue
            }
            // A kept service whose description or enabled flag changed gets them back.
            guard let targetID = serviceIDs[id], let now = nowServices.first(where: { $0["id"].stringValue == targetID }) else { continue }
            var patch: [String: LuaValue] = [:]
            let wantEnabled = s["enabled"].isNil ? LuaValue.bool(true) : s["enabled"]
            if now["enabled"] != wantEnabled { patch["enabled"] = wantEnabled }
            // No description and an empty one are the same to Keystone's users.
            if (now["description"].stringValue ?? "") != (s["description"].stringValue ?? "") {
                patch["description"] = .string(s["description"].stringValue ?? "")
            }
            if !patch.isEmpty {
                _ = try await call("PATCH", "/services/\(targetID)", body: ["service": .map(patch)], expect: [200])
                updated += 1
            }
        }
        let keepServiceIDs = Set(serviceIDs.values)
        let nowEndpoints = try await endpoints()
        func key(_ e: LuaValue, serviceID: String?) -> String {
            "\(serviceID ?? "")|\(e["interface"].stringValue ?? "")|\(e["region"].stringValue ?? "")"
        }
        let wantByKey = Dictionary(wantEndpoints.map { (key($0, serviceID: serviceIDs[$0["service_id"].stringValue ?? ""]), $0) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for e in nowEndpoints {
            let k = key(e, serviceID: e["service_id"].stringValue)
            guard let id = e["id"].stringValue else { continue }
            if let want = wantByKey[k], !seen.contains(k) {
                seen.insert(k)
                if want["url"] != e["url"], let url = want["url"].stringValue {
                    _ = try await updateEndpoint(id: id, url: url)
                    updated += 1
                }
            } else {
                try await deleteEndpoint(id: id)
                deleted += 1
            }
        }
        for (k, e) in wantByKey where !seen.contains(k) {
            guard let serviceID = serviceIDs[e["service_id"].stringValue ?? ""] else { continue }
            _ = try await call("POST", "/endpoints", body: ["endpoint": [
                "service_id": .string(serviceID), "interface": e["interface"], "region_id": e["region"], "url": e["url"],
                "enabled": e["enabled"].isNil ? true : e["enabled"],
            ]], expect: [201])
            created += 1
        }
        for s in nowServices where !keepServiceIDs.contains(s["id"].stringValue ?? "") {
            if let id = s["id"].stringValue {
                try await deleteService(id: id)
                deleted += 1
            }
        }
        if let wantRegions { deleted += try await deleteRegions(notIn: wantRegions) }
        return ["created": .int(Int64(created)), "deleted": .int(Int64(deleted)), "updated": .int(Int64(updated))]
    }
}
