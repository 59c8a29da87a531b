import Foundation
import LuaBridge

// What crosses the `CatalogDriver` seam, and the tables `catalog.*` returns for each
// (docs/lua-api.md, "catalog").

/// A Keystone service: `{ id, name, type, enabled, description }`.
public struct CatalogService: LuaParsableRecord {
    public var id: String
    /// Keystone lets a service have no name (its type is required).
    public var name: String?
    public var type: String
    public var enabled: Bool
    public var description: String?

    public init(id: String, name: String?, type: String, enabled: Bool = true, description: String? = nil) {
        (self.id, self.name, self.type, self.enabled, self.description) = (id, name, type, enabled, description)
    }

    public var luaValue: LuaValue {
        .record(["id": .string(id), "name": .optional(name), "type": .string(type), "enabled": .bool(enabled),
                 "description": .optional(description)])
    }

    public init(lua: LuaValue) throws { try self.init(lua: lua, at: "") }

    /// `enabled` may be left out: a service is enabled unless it says otherwise.
    init(lua: LuaValue, at path: String) throws {
        let f = try FieldReader(lua, at: path)
        self.init(id: try f.string("id"), name: try f.optionalString("name"), type: try f.string("type"),
                  enabled: try f.optionalBool("enabled") ?? true, description: try f.optionalString("description"))
    }
}

/// A Keystone endpoint: `{ id, service_id, service, type, interface, region, url, enabled }`.
public struct CatalogEndpoint: LuaParsableRecord {
    public var id: String
    public var serviceID: String
    public var interface: String
    /// Keystone allows an endpoint in no region.
    public var region: String?
    public var url: String
    public var enabled: Bool
    /// Its service's name and type, where the endpoint was listed with them (`catalog.endpoints`,
    /// `catalog.snapshot`); nil in what Keystone answers a change with.
    public var service: String?
    public var type: String?

    public init(id: String, serviceID: String, interface: String, region: String?, url: String, enabled: Bool = true,
                service: String? = nil, type: String? = nil)
    {
        (self.id, self.serviceID, self.interface, self.region, self.url, self.enabled) = (id, serviceID, interface, region, url, enabled)
        (self.service, self.type) = (service, type)
    }

    public var luaValue: LuaValue {
        .record(["id": .string(id), "service_id": .string(serviceID), "interface": .string(interface), "region": .optional(region),
                 "url": .string(url), "enabled": .bool(enabled), "service": .optional(service), "type": .optional(type)])
    }

    /// What `catalog.ensure_endpoint` returns: the endpoint with what was done to it.
    public func luaValue(action: CatalogEndpointAction) -> LuaValue {
        var m = luaValue.mapValue ?? [:]
        m["action"] = .string(action.rawValue)
        return .map(m)
    }

    public init(lua: LuaValue) throws { try self.init(lua: lua, at: "") }

    init(lua: LuaValue, at path: String) throws {
        let f = try FieldReader(lua, at: path)
        self.init(id: try f.string("id"), serviceID: try f.string("service_id"), interface: try f.string("interface"),
                  region: try f.optionalString("region"), url: try f.string("url"), enabled: try f.optionalBool("enabled") ?? true,
                  service: try f.optionalString("service"), type: try f.optionalString("type"))
    }

    /// The filter of `catalog.endpoints`: `service` is a service's name, type or id; nil
    /// fields match anything.
    public func matches(service: String?, interface: String?, region: String?) -> Bool {
        (service == nil || self.service == service || type == service || serviceID == service)
            && (interface == nil || self.interface == interface)
            && (region == nil || self.region == region)
    }
}

/// What `catalog.ensure_endpoint` did (its `action` field).
public enum CatalogEndpointAction: String, Sendable {
    case created, updated, unchanged
}

/// A Keystone region: `{ id, description, parent_region_id }`.
public struct CatalogRegion: LuaParsableRecord {
    public var id: String
    public var description: String?
    public var parentRegionID: String?

    public init(id: String, description: String? = nil, parentRegionID: String? = nil) {
        (self.id, self.description, self.parentRegionID) = (id, description, parentRegionID)
    }

    public var luaValue: LuaValue {
        .record(["id": .string(id), "description": .optional(description), "parent_region_id": .optional(parentRegionID)])
    }

    public init(lua: LuaValue) throws { try self.init(lua: lua, at: "") }

    init(lua: LuaValue, at path: String) throws {
        let f = try FieldReader(lua, at: path)
        self.init(id: try f.string("id"), description: try f.optionalString("description"),
                  parentRegionID: try f.optionalString("parent_region_id"))
    }
}

/// Every service, endpoint and region: `{ services = { … }, endpoints = { … }, regions = { … } }`.
public struct CatalogContents: LuaParsableRecord {
    public var services: [CatalogService]
    public var endpoints: [CatalogEndpoint]
    /// Nil in a snapshot taken before regions were part of snapshots: restoring it leaves regions alone.
    public var regions: [CatalogRegion]?

    public init(services: [CatalogService], endpoints: [CatalogEndpoint], regions: [CatalogRegion]?) {
        (self.services, self.endpoints, self.regions) = (services, endpoints, regions)
    }

    public var luaValue: LuaValue {
        .record(["services": .array(services.map(\.luaValue)), "endpoints": .array(endpoints.map(\.luaValue)),
                 "regions": regions.map { .array($0.map(\.luaValue)) } ?? .nil])
    }

    public init(lua: LuaValue) throws {
        let f = try FieldReader(lua)
        self.init(services: try f.list("services") { try CatalogService(lua: $0, at: $1) },
                  endpoints: try f.list("endpoints") { try CatalogEndpoint(lua: $0, at: $1) },
                  regions: try f.optionalList("regions") { try CatalogRegion(lua: $0, at: $1) })
    }
}

/// What `catalog.snapshot()` returns and `catalog.restore` takes back.
public enum CatalogSnapshot: LuaParsableRecord {
    /// Keystone's catalog as listed.
    case contents(CatalogContents)
    /// A copy a driver alone reads, put back whole, ids included: `{ simulated = "…" }`,
    /// the simulated region's model catalog as JSON (docs/lua-api.md, catalog.snapshot).
    case opaque(String)

    public var luaValue: LuaValue {
        switch self {
        case .contents(let c): return c.luaValue
        case .opaque(let text): return ["simulated": .string(text)]
        }
    }

    /// A table with `services` is read as contents, else one with `simulated` is opaque.
    public init(lua: LuaValue) throws {
        let f = try FieldReader(lua)
        if f.present("services") == nil, let text = f.present("simulated") {
            self = .opaque(try FieldReader.string(text, at: "simulated"))
        } else {
            self = .contents(try CatalogContents(lua: lua))
        }
    }
}

/// What `catalog.restore` did: `{ created = N, deleted = N, updated = N }`.
public struct CatalogRestoreSummary: LuaRecord {
    public var created: Int
    public var deleted: Int
    public var updated: Int

    public init(created: Int = 0, deleted: Int = 0, updated: Int = 0) {
        (self.created, self.deleted, self.updated) = (created, deleted, updated)
    }

    public var luaValue: LuaValue {
        ["created": .int(Int64(created)), "deleted": .int(Int64(deleted)), "updated": .int(Int64(updated))]
    }
}

/// A service of a token's catalog: what Keystone puts in a new project-scoped token
/// (`catalog.token_catalog()`): `{ id, name, type, endpoints = { { id, interface, region, url } } }`,
/// each URL with Keystone's substitutions done (`%(tenant_id)s` → the project's id), and
/// without the endpoints Keystone could not format (an unknown `%(key)s`: Kilo knows no
/// `project_id`, openstack/keystone@2015.1.0 keystone/catalog/core.py format_url).
public struct CatalogTokenService: LuaParsableRecord {
    public struct Endpoint: Sendable, Equatable {
        public var id: String?
        public var interface: String
        public var region: String?
        public var url: String
        public init(id: String?, interface: String, region: String?, url: String) {
            (self.id, self.interface, self.region, self.url) = (id, interface, region, url)
        }
    }

    public var id: String?
    public var name: String?
    public var type: String
    public var endpoints: [Endpoint]

    public init(id: String?, name: String?, type: String, endpoints: [Endpoint]) {
        (self.id, self.name, self.type, self.endpoints) = (id, name, type, endpoints)
    }

    public var luaValue: LuaValue {
        .record(["id": .optional(id), "name": .optional(name), "type": .string(type),
                 "endpoints": .array(endpoints.map { e -> LuaValue in
                     LuaValue.record(["id": .optional(e.id), "interface": .string(e.interface), "region": .optional(e.region),
                                      "url": .string(e.url)])
                 })])
    }

    public init(lua: LuaValue) throws { try self.init(lua: lua, at: "") }

    static func endpoint(_ e: LuaValue, at path: String) throws -> Endpoint {
        let f = try FieldReader(e, at: path)
        let region = try f.optionalString("region_id") ?? f.optionalString("region")
        return Endpoint(id: try f.optionalString("id"), interface: try f.string("interface"), region: region, url: try f.string("url"))
    }

    /// Also reads Keystone's own answer (`token.catalog[i]`), whose endpoints name their
    /// region `region_id` (and `region`, from Kilo on) and whose name may be empty.
    init(lua: LuaValue, at path: String) throws {
        let f = try FieldReader(lua, at: path)
        let endpoints: [Endpoint] = try f.optionalList("endpoints", Self.endpoint) ?? []
        let name = try f.optionalString("name")
        self.init(id: try f.optionalString("id"), name: name?.isEmpty == true ? nil : name, type: try f.string("type"), endpoints: endpoints)
    }
}
