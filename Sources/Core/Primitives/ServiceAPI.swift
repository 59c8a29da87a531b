import Foundation
import LuaBridge

/// The natives behind `http.*`, `catalog.*` and `broker.*`.
enum ServiceAPI {
    static func natives(_ box: RuntimeBox) -> [LuaFunction] {
        @Sendable func catalog(_ what: String) throws -> any CatalogDriver { try box.require(what).catalog() }
        @Sendable func broker(_ what: String) throws -> any BrokerDriver { try box.require(what).broker() }
        @Sendable func dry(_ what: String, _ call: LuaCall) -> Bool {
            guard let env = box.current, env.dryRun else { return false }
            env.log(LogLine(level: .info, message: "[dry run] would \(what)", invocation: call.invocation))
            return true
        }
        return [
            LuaFunction("__native.http_request") { call in
                let spec = try call.table(1)
                guard let url = spec["url"].stringValue else { throw LuaArgumentError("http.request: url is required") }
                let method = spec["method"].stringValue ?? "GET"
                var headers: [String: String] = [:]
                for (k, v) in spec["headers"].mapValue ?? [:] { headers[k] = v.stringValue ?? v.jsonString() }
                var body: Data?
                if let text = spec["body"].stringValue { body = Data(text.utf8) }
                if !spec["json"].isNil {
                    body = Data(spec["json"].jsonString().utf8)
                    if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { headers["Content-Type"] = "application/json" }
                }
                if let env = box.current, env.dryRun, !["GET", "HEAD"].contains(method.uppercased()) {
                    env.log(LogLine(level: .info, message: "[dry run] would send \(method.uppercased()) \(url)", invocation: call.invocation))
                    return .value(["status": 0, "headers": [:], "body": "", "duration": 0, "dry_run": true])
                }
                let timeout = spec["timeout"].stringValue.flatMap(DurationText.seconds) ?? spec["timeout"].doubleValue ?? 30
                let insecure = spec["insecure"].boolValue ?? false
                if insecure, let env = box.current {
                    env.log(LogLine(level: .warn, message: "INSECURE: TLS certificates are NOT verified for \(url)", invocation: call.invocation))
                }
                let caFile = spec["ca_file"].stringValue
                let finalHeaders = headers
                let finalBody = body
                let requester: any HTTPRequester = box.current?.http ?? HTTPService.shared
                return .yield {
                    let r = try await requester.request(method: method, url: url, headers: finalHeaders, body: finalBody, timeout: timeout,
                                                                 caFile: caFile, insecure: insecure)
                    var value = r.luaValue
                    if let json = r.json, case .map(var m) = value {
                        m["json"] = json
                        value = .map(m)
                    }
                    return [value]
                }
            },
            LuaFunction("__native.catalog_services") { call in
                let c = try catalog("catalog.services")
                return .yield { [.array(try await c.services().map(\.luaValue))] }
            },
            LuaFunction("__native.catalog_endpoints") { call in
                let c = try catalog("catalog.endpoints")
                let f = try call.table(1, optional: true)
                return .yield {
                    [.array(try await c.endpoints(service: f["service"].stringValue, interface: f["interface"].stringValue,
                                                  region: f["region"].stringValue).map(\.luaValue))]
                }
            },
            LuaFunction("__native.catalog_ensure_service") { call in
                let c = try catalog("catalog.ensure_service")
                let s = try call.table(1)
                guard let name = s["name"].stringValue, let type = s["type"].stringValue else {
                    throw LuaArgumentError("catalog.ensure_service{name=, type=}: both are required")
                }
                if dry("ensure service \(name) (\(type))", call) { return .value(.nil) }
                return .yield { [try await c.ensureService(name: name, type: type, description: s["description"].stringValue).0.luaValue] }
            },
            LuaFunction("__native.catalog_ensure_endpoint") { call in
                let c = try catalog("catalog.ensure_endpoint")
                let e = try call.table(1)
                guard let service = e["service"].stringValue, let interface = e["interface"].stringValue,
                    let url = e["url"].stringValue
                else { throw LuaArgumentError("catalog.ensure_endpoint{service=, interface=, region=, url=}: service, interface and url are required") }
                let region = e["region"].stringValue ?? c.defaultRegion
                if dry("ensure \(interface) endpoint of \(service) in \(region): \(url)", call) { return .value(.nil) }
                return .yield {
                    let (endpoint, action) = try await c.ensureEndpoint(service: service, interface: interface, region: region, url: url)
                    return [endpoint.luaValue(action: action)]
                }
            },
            LuaFunction("__native.catalog_regions") { call in
                let c = try catalog("catalog.regions")
                return .yield { [.array(try await c.regions().map(\.luaValue))] }
            },
            LuaFunction("__native.catalog_create_region") { call in
                let c = try catalog("catalog.create_region")
                let spec = try call.table(1)
                guard let id = spec["id"].stringValue else { throw LuaArgumentError("catalog.create_region{id=}: id is required") }
                if dry("create region \(id)", call) { return .value(.nil) }
                return .yield { [try await c.createRegion(id: id, description: spec["description"].stringValue).luaValue] }
            },
            LuaFunction("__native.catalog_ensure_region") { call in
                let c = try catalog("catalog.ensure_region")
                let spec = try call.table(1)
                guard let id = spec["id"].stringValue else { throw LuaArgumentError("catalog.ensure_region{id=}: id is required") }
                if dry("ensure region \(id)", call) { return .value(.nil) }
                return .yield { [try await c.ensureRegion(id: id, description: spec["description"].stringValue).0.luaValue] }
            },
            LuaFunction("__native.catalog_delete_region") { call in
                let c = try catalog("catalog.delete_region")
                let id = try call.string(1)
                if dry("delete region \(id)", call) { return .none }
                return .yield {
                    try await c.deleteRegion(id: id)
                    return []
                }
            },
            LuaFunction("__native.catalog_update_endpoint") { call in
                let c = try catalog("catalog.update_endpoint")
                let id = try call.string(1)
                let url = try call.string(2)
                if dry("set endpoint \(id) to \(url)", call) { return .value(.nil) }
                return .yield { [try await c.updateEndpoint(id: id, url: url).luaValue] }
            },
            LuaFunction("__native.catalog_delete_endpoint") { call in
                let c = try catalog("catalog.delete_endpoint")
                let id = try call.string(1)
                if dry("delete endpoint \(id)", call) { return .none }
                return .yield {
                    try await c.deleteEndpoint(id: id)
                    return []
                }
            },
            LuaFunction("__native.catalog_token_catalog") { call in
                let c = try catalog("catalog.token_catalog")
                return .yield { [.array(try await c.tokenCatalog().map(\.luaValue))] }
            },
            LuaFunction("__native.catalog_snapshot") { call in
                let c = try catalog("catalog.snapshot")
                return .yield { [try await c.snapshot().luaValue] }
            },
            LuaFunction("__native.catalog_restore") { call in
                let c = try catalog("catalog.restore")
                let value = try call.value(1)
                if dry("restore the catalog", call) { return .value(.nil) }
                let snapshot: CatalogSnapshot
                do { snapshot = try CatalogSnapshot(lua: value) } catch let e as LuaRecordError {
                    throw LuaArgumentError("catalog.restore: expected what catalog.snapshot() returned (\(e))")
                }
                return .yield { [try await c.restore(snapshot).luaValue] }
            },
            LuaFunction("__native.broker_overview") { call in
                let b = try broker("broker.overview")
                return .yield { [try await b.overview().luaValue] }
            },
            LuaFunction("__native.broker_vhosts") { call in
                let b = try broker("broker.vhosts")
                return .yield { [.array(try await b.vhosts().map(\.luaValue))] }
            },
            LuaFunction("__native.broker_ensure_vhost") { call in
                let b = try broker("broker.ensure_vhost")
                let name = try call.string(1)
                if dry("ensure vhost \(name)", call) { return .none }
                return .yield {
                    try await b.ensureVhost(name)
                    return []
                }
            },
            LuaFunction("__native.broker_ensure_user") { call in
                let b = try broker("broker.ensure_user")
                let u = try call.table(1)
                guard let name = u["name"].stringValue else { throw LuaArgumentError("broker.ensure_user{name=, password=, tags=}: name is required") }
                let password = try box.require("broker.ensure_user").region.secretValue(u["password"]) ?? ""
                let tags = u["tags"].stringValue
                if dry("ensure user \(name)", call) { return .none }
                return .yield {
                    try await b.ensureUser(name, password: password, tags: tags)
                    return []
                }
            },
            LuaFunction("__native.broker_ensure_permissions") { call in
                let b = try broker("broker.ensure_permissions")
                let p = try call.table(1)
                guard let vhost = p["vhost"].stringValue, let user = p["user"].stringValue else {
                    throw LuaArgumentError("broker.ensure_permissions{vhost=, user=, configure=, write=, read=}: vhost and user are required")
                }
                if dry("grant \(user) on \(vhost)", call) { return .none }
                return .yield {
                    try await b.ensurePermissions(vhost: vhost, user: user, configure: p["configure"].stringValue ?? ".*",
                                                  write: p["write"].stringValue ?? ".*", read: p["read"].stringValue ?? ".*")
                    return []
                }
            },
            LuaFunction("__native.broker_policy") { call in
                let b = try broker("broker.policy")
                let vhost = try call.string(1)
                let name = try call.string(2)
                let spec = try call.table(3)
                guard let pattern = spec["pattern"].stringValue, case .map = spec["definition"] else {
                    throw LuaArgumentError("broker.policy(vhost, name, {pattern=, definition={...}}): pattern and definition are required")
                }
                if dry("set policy \(name) on \(vhost)", call) { return .none }
                return .yield {
                    try await b.putPolicy(vhost: vhost, name: name, pattern: pattern, definition: spec["definition"],
                                          applyTo: spec["apply_to"].stringValue ?? "all", priority: spec["priority"].intValue ?? 0)
                    return []
                }
            },
            LuaFunction("__native.broker_delete_policy") { call in
                let b = try broker("broker.delete_policy")
                let vhost = try call.string(1)
                let name = try call.string(2)
                if dry("delete policy \(name) on \(vhost)", call) { return .none }
                return .yield {
                    try await b.deletePolicy(vhost: vhost, name: name)
                    return []
                }
            },
            LuaFunction("__native.broker_policies") { call in
                let b = try broker("broker.policies")
                let f = try call.table(1, optional: true)
                return .yield { [.array(try await b.policies(vhost: f["vhost"].stringValue).map(\.luaValue))] }
            },
            LuaFunction("__native.broker_queues") { call in
                let b = try broker("broker.queues")
                let f = try call.table(1, optional: true)
                return .yield { [.array(try await b.queues(vhost: f["vhost"].stringValue).map(\.luaValue))] }
            },
            LuaFunction("__native.broker_queue") { call in
                let b = try broker("broker.queue")
                let vhost = try call.string(1)
                let name = try call.string(2)
                return .yield { [try await b.queue(vhost: vhost, name: name).luaValue] }
            },
        ]
    }
}
