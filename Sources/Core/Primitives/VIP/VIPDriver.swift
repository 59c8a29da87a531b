import Foundation
import LuaBridge

/// Moves an API's traffic between servers and blocks user actions during a window.
/// `switch` returns what `restore` needs to put things back (the records: VIPRecords.swift).
public protocol VIPDriver: Sendable {
    func get() async throws -> VIPState
    /// Makes `targets` take traffic (brought up first) and every other server stop.
    func switchTo(_ targets: [String]) async throws -> VIPSwitchRecord
    /// Throws `restore: expected what vip.switch returned` when `previous` lacks this driver's part.
    func restore(_ previous: VIPSwitchRecord) async throws
    /// "off", "writes" or "all".
    func maintenance(_ mode: String) async throws
}

/// VIP drivers by the `driver:` a VIP names in the region file: the one place one is
/// chosen. Adding a driver (say F5 iControl, or an Octavia-fronted VIP) is a type
/// conforming to ``VIPDriver`` in its own file and one line in ``registry``
/// (docs/architecture.md, "Adding a driver").
public enum VIPDrivers {
    /// What a driver is built from: the VIP's name and its settings in the region.
    public struct Context: Sendable {
        public let name: String
        public let settings: [String: LuaValue]
        public let region: Region
        public let transport: any Transport
    }
    public typealias Make = @Sendable (Context) throws -> any VIPDriver

    public static let defaultKind = "haproxy"
    /// In the order error messages list them.
    public static let registry: KeyValuePairs<String, Make> = [
        "haproxy": { try HAProxyVIP(name: $0.name, settings: $0.settings, region: $0.region, transport: $0.transport) },
        "keepalived": { try KeepalivedVIP(name: $0.name, settings: $0.settings, region: $0.region, transport: $0.transport) },
        "command": { try CommandVIP(name: $0.name, settings: $0.settings, region: $0.region, transport: $0.transport) },
    ]

    public static func make(_ kind: String) -> Make? { registry.first { $0.key == kind }?.value }
    public static var known: [String] { registry.map(\.key) }
}

/// The VIPs of a region, by name, with their drivers.
public struct VIPDirectory: Sendable {
    public let region: Region
    public let transport: any Transport
    let simulated: (@Sendable (String) throws -> any VIPDriver)?

    public init(region: Region, transport: any Transport, simulated: (@Sendable (String) throws -> any VIPDriver)? = nil) {
        self.region = region
        self.transport = transport
        self.simulated = simulated
    }

    func settings(_ name: String) throws -> [String: LuaValue] {
        guard case .map(let s)? = region.vips[name] else {
            let known = region.vips.keys.sorted().joined(separator: ", ")
            throw VIPError(vip: name, message: "no VIP named '\(name)' in region \(region.name) (vips: \(known.isEmpty ? "none" : known))")
        }
        return s
    }

    public func url(_ name: String) throws -> String {
        guard let url = try settings(name)["url"]?.stringValue else { throw VIPError(vip: name, message: "no url set for this VIP") }
        return url
    }

    public func driver(_ name: String) throws -> any VIPDriver {
        let s = try settings(name)
        if let simulated { return try simulated(name) }
        let kind = s["driver"]?.stringValue ?? VIPDrivers.defaultKind
        guard let make = VIPDrivers.make(kind) else {
            throw VIPError(vip: name, message: "unknown driver '\(kind)' (\(VIPDrivers.known.joined(separator: ", ")))")
        }
        return try make(VIPDrivers.Context(name: name, settings: s, region: region, transport: transport))
    }

    /// Server names for a selector: names listed under `servers:` for a group, or server names themselves.
    static func serverNames(_ selector: [String], settings: [String: LuaValue]) -> [String] {
        var out: [String] = []
        for s in selector {
            if let listed = settings["servers"]?[s].arrayValue?.compactMap(\.stringValue) { out += listed } else { out.append(s) }
        }
        return out
    }
}

/// HAProxy through its runtime API.
struct HAProxyVIP: VIPDriver {
    let name: String
    let backend: String
    let runtime: HAProxyRuntime
    let settings: [String: LuaValue]

    init(name: String, settings: [String: LuaValue], region: Region, transport: any Transport) throws {
        self.name = name
        self.settings = settings
        guard let backend = settings["backend"]?.stringValue else { throw VIPError(vip: name, message: "haproxy driver needs `backend`") }
        self.backend = backend
        let endpoint: HAProxyRuntime.Endpoint
        if let via = settings["via"]?.stringValue {
            guard let host = region.hosts[via] else { throw VIPError(vip: name, message: "via: no host named '\(via)'") }
            guard let socket = settings["socket"]?.stringValue else { throw VIPError(vip: name, message: "via needs `socket` (its path on \(via))") }
            endpoint = .remote(host: host, socket: socket, transport: transport)
        } else if let socket = settings["socket"]?.stringValue {
            endpoint = .unix(socket)
        } else if let address = settings["address"]?.stringValue, let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
            endpoint = .tcp(String(address[..<colon]), port)
        } else {
            throw VIPError(vip: name, message: "haproxy driver needs `socket` (unix socket path) or `address` (host:port of a TCP stats socket)")
        }
        runtime = HAProxyRuntime(vip: name, endpoint: endpoint)
    }

    func get() async throws -> VIPState {
        let servers = try await runtime.servers(backend)
        var map: [String: VIPState.Server] = [:]
        for s in servers { map[s.name] = VIPState.Server(state: s.state, address: s.address, up: s.operational == 2) }
        return VIPState(vip: name, backend: backend, servers: map)
    }

    func switchTo(_ targets: [String]) async throws -> VIPSwitchRecord {
        let servers = try await runtime.servers(backend)
        let known = Set(servers.map(\.name))
        let missing = targets.filter { !known.contains($0) }
        guard !targets.isEmpty else { throw VIPError(vip: name, message: "switch: no target server given") }
        guard missing.isEmpty else {
            throw VIPError(vip: name, message: "backend \(backend) has no server \(missing.joined(separator: ", ")) (servers: \(servers.map(\.name).joined(separator: ", ")))")
        }
        let previous = VIPSwitchRecord(vip: name, backend: backend,
                                       servers: Dictionary(uniqueKeysWithValues: servers.map { ($0.name, $0.state) }))
        // New servers ready before old ones go to maintenance: never a moment with none.
        let up = targets.map { "set server \(backend)/\($0) state ready" }.joined(separator: "; ")
        _ = try await runtime.send(up)
        let others = servers.map(\.name).filter { !targets.contains($0) }
        if !others.isEmpty {
            _ = try await runtime.send(others.map { "set server \(backend)/\($0) state maint" }.joined(separator: "; "))
        }
        return previous
    }

    func restore(_ previous: VIPSwitchRecord) async throws {
        guard let states = previous.servers else { throw VIPError(vip: name, message: "restore: expected what vip.switch returned") }
        let ready = states.filter { $0.value != "maint" }.sorted { $0.key < $1.key }
        let maint = states.filter { $0.value == "maint" }.sorted { $0.key < $1.key }
        if !ready.isEmpty {
            _ = try await runtime.send(ready.map { "set server \(backend)/\($0.key) state \($0.value)" }.joined(separator: "; "))
        }
        if !maint.isEmpty {
            _ = try await runtime.send(maint.map { "set server \(backend)/\($0.key) state maint" }.joined(separator: "; "))
        }
    }

    func maintenance(_ mode: String) async throws {
        guard let map = settings["maintenance_map"]?.stringValue else {
            throw VIPError(vip: name, message: "maintenance needs `maintenance_map` (the map file the HAProxy config consults; see docs/region-file.md)")
        }
        let key = settings["maintenance_key"]?.stringValue ?? name
        _ = try await runtime.send("set map \(map) \(key) \(mode)")
    }
}

/// Operator-supplied commands, for hardware balancers: `switch`, `restore` and
/// `maintenance` command templates run on `via` (or this machine), with
/// `{targets}`, `{mode}` and `{vip}` filled in.
struct CommandVIP: VIPDriver {
    let name: String
    let settings: [String: LuaValue]
    let host: RegionHost?
    let transport: any Transport

    init(name: String, settings: [String: LuaValue], region: Region, transport: any Transport) throws {
        self.name = name
        self.settings = settings
        self.transport = transport
        if let via = settings["via"]?.stringValue {
            guard let h = region.hosts[via] else { throw VIPError(vip: name, message: "via: no host named '\(via)'") }
            host = h
        } else {
            host = nil
        }
    }

    func run(_ key: String, _ fill: [String: String]) async throws -> String {
        guard var command = settings[key]?.stringValue else { throw VIPError(vip: name, message: "the command driver has no `\(key)` command") }
        // One pass over the template, so a value that contains "{vip}" is not filled again.
        var filled = ""
        var rest = Substring(command)
        let values = fill.merging(["vip": name], uniquingKeysWith: { a, _ in a })
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            filled += rest[..<open]
            let key = String(rest[rest.index(after: open)..<close])
            if let v = values[key] {
                // {targets} becomes one shell word per server.
                filled += key == "targets" ? v.split(separator: " ").map { ShellQuote.quote(String($0)) }.joined(separator: " ") : ShellQuote.quote(v)
            } else {
                filled += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        command = filled + rest
        let capture = OutputCapture()
        let result: CommandResult
        if let host {
            result = try await transport.run(HostCommand(command, timeout: 120), on: host, output: capture)
        } else {
            result = try await ProcessRunner.run("/bin/sh", ["-c", command], stdin: nil, output: capture, timeout: 120)
        }
        guard result.exitCode == 0 else {
            throw VIPError(vip: name, message: "`\(command)` exited \(result.exitCode ?? -1): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.stdout
    }

    func get() async throws -> VIPState {
        VIPState(vip: name, output: try await run("get", [:]))
    }

    func switchTo(_ targets: [String]) async throws -> VIPSwitchRecord {
        let before = settings["get"] != nil ? try await run("get", [:]) : ""
        _ = try await run("switch", ["targets": targets.joined(separator: " ")])
        return VIPSwitchRecord(vip: name, before: before, targets: targets)
    }

    func restore(_ previous: VIPSwitchRecord) async throws {
        _ = try await run("restore", ["before": previous.before ?? ""])
    }

    func maintenance(_ mode: String) async throws {
        _ = try await run("maintenance", ["mode": mode])
    }
}
