import Foundation
import LuaBridge

/// What a drill compares on a real region before and after each repetition, where there
/// is no model to compare: the Keystone catalog (services, endpoints, regions, without
/// the ids a restore hands out anew), the broker's policies, and where each VIP sends
/// traffic. Databases and hosts are for the runbook's checks.
public struct RegionSnapshot: Sendable {
    /// Each part as lines that compare as sets (`catalog`, `broker`, `vip <name>`).
    public var parts: [String: Set<String>] = [:]
    /// Parts that could not be read, with why (they are not compared).
    public var unreadable: [String: String] = [:]

    public init() {}

    /// Reads every part the region has settings for. A part that fails to read is
    /// recorded as unreadable, never thrown: the drill goes on without it.
    public static func capture(region: Region, transport: any Transport) async -> RegionSnapshot {
        await capture(RunEnvironment(region: region, transport: transport))
    }

    /// The same, with the drivers `env` hands out (the only place drivers are chosen).
    static func capture(_ env: RunEnvironment) async -> RegionSnapshot {
        let region = env.region
        var snapshot = RegionSnapshot()
        if case .map = region.keystone {
            do {
                var lines = Set<String>()
                // An opaque snapshot (the simulated region's) has no lines: the drill compares its model instead.
                if case .contents(let s) = try await env.catalog().snapshot() {
                    let serviceNames = Dictionary(s.services.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
                    for v in s.services {
                        lines.insert("service \(v.name ?? "?") (\(v.type))"
                            + "\(v.enabled ? "" : " disabled")\(v.description.flatMap { $0.isEmpty ? nil : ": \($0)" } ?? "")")
                    }
                    for e in s.endpoints {
                        let service = serviceNames[e.serviceID].flatMap { $0 } ?? "?"
                        lines.insert("endpoint \(service) \(e.interface) \(e.region ?? "?") \(e.url)\(e.enabled ? "" : " disabled")")
                    }
                    for r in s.regions ?? [] {
                        lines.insert("region \(r.id)\(r.parentRegionID.map { " in \($0)" } ?? "")")
                    }
                }
                snapshot.parts["catalog"] = lines
            } catch {
                snapshot.unreadable["catalog"] = String(describing: error)
            }
        }
        if case .map = region.broker {
            do {
                let policies = try await env.broker().policies(vhost: nil)
                snapshot.parts["broker"] = Set(policies.map { p in
                    "policy \(p.vhost)/\(p.name) \(p.pattern) \(p.applyTo) \(p.priority) \(p.definition.jsonString())"
                })
            } catch {
                snapshot.unreadable["broker"] = String(describing: error)
            }
        }
        let vips = env.vips
        for name in region.vips.keys.sorted() {
            do {
                snapshot.parts["vip \(name)"] = Set(flatten(try await vips.driver(name).get().luaValue))
            } catch {
                snapshot.unreadable["vip \(name)"] = String(describing: error)
            }
        }
        return snapshot
    }

    /// `key = value` lines of a VIP's state, leaving out what moves by itself (health).
    static func flatten(_ value: LuaValue, _ prefix: String = "") -> [String] {
        switch value {
        case .map(let m):
            return m.keys.sorted().filter { !["up", "check", "health"].contains($0) }.flatMap { flatten(m[$0]!, prefix.isEmpty ? $0 : prefix + "." + $0) }
        case .array(let a):
            return a.enumerated().flatMap { flatten($1, "\(prefix)[\($0 + 1)]") }
        default:
            // Surrounding whitespace (a command's trailing newline) is not a difference.
            return ["\(prefix) = \((value.stringValue ?? value.jsonString()).trimmingCharacters(in: .whitespacesAndNewlines))"]
        }
    }

    /// What changed from `before` to `after`, one line each ("catalog: endpoint … added").
    public static func differences(_ before: RegionSnapshot, _ after: RegionSnapshot, limit: Int = 20) -> [String] {
        var out: [String] = []
        for part in before.parts.keys.sorted() {
            guard let was = before.parts[part] else { continue }
            guard let now = after.parts[part] else {
                out.append("\(part): could not be read after the rollback (\(after.unreadable[part] ?? "not read"))")
                continue
            }
            for line in now.subtracting(was).sorted() { out.append("\(part): \(line) (new)") }
            for line in was.subtracting(now).sorted() { out.append("\(part): \(line) (gone)") }
        }
        return Array(out.prefix(limit))
    }
}
