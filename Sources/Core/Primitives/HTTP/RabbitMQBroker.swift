import Foundation
import LuaBridge

/// RabbitMQ through its management HTTP API.
public struct RabbitMQBroker: Sendable {
    let url: String
    let authorization: String
    let caFile: String?
    let insecure: Bool
    let http = HTTPService.shared

    public init(region: Region) throws {
        let b = region.broker
        guard case .map = b, let url = b["url"].stringValue else {
            throw HTTPFailure(description: "broker: region \(region.name) has no broker: { url: … } section")
        }
        let password = try region.secretValue(b["password"]) ?? ""
        let user = b["username"].stringValue ?? "guest"
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        caFile = b["ca_file"].stringValue.map { RegionPaths.expand($0, relativeTo: region.directory) }
        insecure = b["insecure"].boolValue ?? false
    }

    static func segment(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? s }

    func call(_ method: String, _ path: String, body: LuaValue? = nil, expect: Set<Int> = [200, 201, 204]) async throws -> LuaValue {
        let response: HTTPResponse
        do {
            response = try await http.request(
                method: method, url: url + "/api" + path,
                headers: ["Authorization": authorization, "Content-Type": "application/json"],
                body: body.map { Data($0.jsonString().utf8) }, caFile: caFile, insecure: insecure)
        } catch let e as HTTPFailure {
            throw HTTPFailure(description: "broker: RabbitMQ management API at \(url) unreachable: \(e.description)")
        }
        guard expect.contains(response.status) else {
            let reason = response.json?["reason"].stringValue ?? String(response.body.prefix(200))
            let what = response.status == 401 ? "authentication rejected (wrong user or password?)" : "HTTP \(response.status): \(reason)"
            throw HTTPFailure(description: "broker: RabbitMQ at \(url): \(method) \(path): \(what)")
        }
        return response.json ?? .nil
    }

    public func overview() async throws -> LuaValue {
        let o = try await call("GET", "/overview")
        return ["rabbitmq_version": o["rabbitmq_version"], "cluster_name": o["cluster_name"], "node": o["node"],
                "messages": o["queue_totals"]["messages"], "queues": o["object_totals"]["queues"],
                "connections": o["object_totals"]["connections"]]
    }

    public func vhosts() async throws -> [LuaValue] {
        try await call("GET", "/vhosts").arrayValue?.map { ["name": $0["name"]] } ?? []
    }

    public func ensureVhost(_ name: String) async throws { _ = try await call("PUT", "/vhosts/\(Self.segment(name))", body: [:]) }

    /// Creates the user or sets its password; its tags change only when given.
    public func ensureUser(_ name: String, password: String, tags: String?) async throws {
        var keep = tags
        if keep == nil {
            let existing = try await call("GET", "/users/\(Self.segment(name))", expect: [200, 404])
            keep = existing["tags"].stringValue ?? existing["tags"].arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
        }
        _ = try await call("PUT", "/users/\(Self.segment(name))", body: ["password": .string(password), "tags": .string(keep ?? "")])
    }

    public func ensurePermissions(vhost: String, user: String, configure: String, write: String, read: String) async throws {
        _ = try await call("PUT", "/permissions/\(Self.segment(vhost))/\(Self.segment(user))",
                           body: ["configure": .string(configure), "write": .string(write), "read": .string(read)])
    }

    public func putPolicy(vhost: String, name: String, pattern: String, definition: LuaValue, applyTo: String, priority: Int) async throws {
        _ = try await call("PUT", "/policies/\(Self.segment(vhost))/\(Self.segment(name))", body: [
            "pattern": .string(pattern), "definition": definition, "apply-to": .string(applyTo), "priority": .int(Int64(priority)),
        ])
    }

    public func deletePolicy(vhost: String, name: String) async throws {
        _ = try await call("DELETE", "/policies/\(Self.segment(vhost))/\(Self.segment(name))", expect: [204, 404])
    }

    public func policies(vhost: String?) async throws -> [LuaValue] {
        let path = vhost.map { "/policies/\(Self.segment($0))" } ?? "/policies"
        return try await call("GET", path).arrayValue?.map {
            ["vhost": $0["vhost"], "name": $0["name"], "pattern": $0["pattern"], "definition": $0["definition"],
             "apply_to": $0["apply-to"], "priority": $0["priority"]]
        } ?? []
    }

    public func queues(vhost: String?) async throws -> [LuaValue] {
        let path = vhost.map { "/queues/\(Self.segment($0))" } ?? "/queues"
        return try await call("GET", path).arrayValue?.map {
            ["vhost": $0["vhost"], "name": $0["name"], "policy": $0["policy"], "messages": $0["messages"],
             "consumers": $0["consumers"].isNil ? 0 : $0["consumers"], "durable": $0["durable"]]
        } ?? []
    }

    public func queue(vhost: String, name: String) async throws -> LuaValue {
        let q = try await call("GET", "/queues/\(Self.segment(vhost))/\(Self.segment(name))")
        return ["vhost": q["vhost"], "name": q["name"], "policy": q["policy"], "messages": q["messages"],
                "consumers": q["consumers"].isNil ? 0 : q["consumers"]]
    }
}
