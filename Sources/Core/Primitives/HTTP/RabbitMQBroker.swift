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

    /// Reads an answer of the management API into records; one it does not understand is an
    /// error naming the request and the key (`GET /queues: unexpected answer: [2].name: missing`).
    func read<T>(_ request: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as LuaRecordError {
            throw HTTPFailure(description: "broker: RabbitMQ at \(url): \(request): unexpected answer: \(e)")
        }
    }

    public func overview() async throws -> BrokerOverview {
        let o = try await call("GET", "/overview")
        return try read("GET /overview") {
            let f = try FieldReader(o)
            // A broker without statistics yet may leave the totals out (or answer them as an empty list).
            let queueTotals = try FieldReader(.map(o["queue_totals"].mapValue ?? [:]), at: "queue_totals")
            let objectTotals = try FieldReader(.map(o["object_totals"].mapValue ?? [:]), at: "object_totals")
            return BrokerOverview(rabbitmqVersion: try f.optionalString("rabbitmq_version"), clusterName: try f.optionalString("cluster_name"),
                                  node: try f.optionalString("node"), messages: try queueTotals.optionalInt("messages"),
                                  queues: try objectTotals.optionalInt("queues"), connections: try objectTotals.optionalInt("connections"))
        }
    }

    public func vhosts() async throws -> [BrokerVhost] {
        let answer = try await call("GET", "/vhosts").arrayValue ?? []
        return try read("GET /vhosts") { try answer.enumerated().map { BrokerVhost(name: try FieldReader($1, at: "[\($0 + 1)]").string("name")) } }
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

    public func policies(vhost: String?) async throws -> [BrokerPolicy] {
        let path = vhost.map { "/policies/\(Self.segment($0))" } ?? "/policies"
        let answer = try await call("GET", path).arrayValue ?? []
        return try read("GET \(path)") {
            try answer.enumerated().map { i, p in
                let f = try FieldReader(p, at: "[\(i + 1)]")
                return BrokerPolicy(vhost: try f.string("vhost"), name: try f.string("name"), pattern: try f.string("pattern"),
                                    applyTo: try f.string("apply-to"), definition: p["definition"], priority: try f.optionalInt("priority") ?? 0)
            }
        }
    }

    /// A queue as the API answers it; `consumers` is 0 when the API leaves it out.
    static func queue(_ q: LuaValue, at path: String, durable: Bool) throws -> BrokerQueue {
        let f = try FieldReader(q, at: path)
        return BrokerQueue(vhost: try f.string("vhost"), name: try f.string("name"), policy: try f.optionalString("policy"),
                           messages: try f.optionalInt("messages"), consumers: try f.optionalInt("consumers") ?? 0,
                           durable: durable ? try f.optionalBool("durable") : nil)
    }

    public func queues(vhost: String?) async throws -> [BrokerQueue] {
        let path = vhost.map { "/queues/\(Self.segment($0))" } ?? "/queues"
        let answer = try await call("GET", path).arrayValue ?? []
        return try read("GET \(path)") { try answer.enumerated().map { try Self.queue($1, at: "[\($0 + 1)]", durable: true) } }
    }

    /// One queue; unlike a listing's, it has no `durable`.
    public func queue(vhost: String, name: String) async throws -> BrokerQueue {
        let path = "/queues/\(Self.segment(vhost))/\(Self.segment(name))"
        let q = try await call("GET", path)
        return try read("GET \(path)") { try Self.queue(q, at: "", durable: false) }
    }
}
