import FerryCore

/// One OpenStack release series (openstack/releases data/series_status.yaml).
public struct OpenStackRelease: Sendable, Hashable, CustomStringConvertible {
    /// How Ferry names it everywhere (runbooks, region files, step names): the
    /// lowercase series name up to Zed, the release id from 2023.1 on.
    public let name: String
    /// The series name (`Kilo`, `Antelope`).
    public let series: String
    /// The release id where the series has one (`2015.1`, `2023.1`).
    public let id: String?
    /// Nova's major version for the series (12 for Liberty), also its order.
    public let number: Int
    /// Initial release date (YYYY-MM-DD).
    public let released: String
    /// A "tick": upgrades are supported from the previous SLURP release directly.
    public let slurp: Bool

    public var description: String { name }

    /// `2023.1 (Antelope, SLURP)`, `queens`.
    public var label: String {
        if let id, id == name { return "\(name) (\(series)\(slurp ? ", SLURP" : ""))" }
        return name
    }
}

/// What Ferry knows of the release order (docs/openstack-facts.md#release-order-and-slurp): Kilo to 2026.1.
public enum Releases {
    public static let all: [OpenStackRelease] = [
        .init(name: "kilo", series: "Kilo", id: "2015.1", number: 11, released: "2015-04-30", slurp: false),
        .init(name: "liberty", series: "Liberty", id: nil, number: 12, released: "2015-10-15", slurp: false),
        .init(name: "mitaka", series: "Mitaka", id: nil, number: 13, released: "2016-04-07", slurp: false),
        .init(name: "newton", series: "Newton", id: nil, number: 14, released: "2016-10-06", slurp: false),
        .init(name: "ocata", series: "Ocata", id: nil, number: 15, released: "2017-02-22", slurp: false),
        .init(name: "pike", series: "Pike", id: nil, number: 16, released: "2017-08-30", slurp: false),
        .init(name: "queens", series: "Queens", id: nil, number: 17, released: "2018-02-28", slurp: false),
        .init(name: "rocky", series: "Rocky", id: nil, number: 18, released: "2018-08-30", slurp: false),
        .init(name: "stein", series: "Stein", id: nil, number: 19, released: "2019-04-10", slurp: false),
        .init(name: "train", series: "Train", id: nil, number: 20, released: "2019-10-16", slurp: false),
        .init(name: "ussuri", series: "Ussuri", id: nil, number: 21, released: "2020-05-13", slurp: false),
        .init(name: "victoria", series: "Victoria", id: nil, number: 22, released: "2020-10-14", slurp: false),
        .init(name: "wallaby", series: "Wallaby", id: nil, number: 23, released: "2021-04-14", slurp: false),
        .init(name: "xena", series: "Xena", id: nil, number: 24, released: "2021-10-06", slurp: false),
        .init(name: "yoga", series: "Yoga", id: nil, number: 25, released: "2022-03-30", slurp: false),
        .init(name: "zed", series: "Zed", id: nil, number: 26, released: "2022-10-05", slurp: false),
        .init(name: "2023.1", series: "Antelope", id: "2023.1", number: 27, released: "2023-03-22", slurp: true),
        .init(name: "2023.2", series: "Bobcat", id: "2023.2", number: 28, released: "2023-10-04", slurp: false),
        .init(name: "2024.1", series: "Caracal", id: "2024.1", number: 29, released: "2024-04-03", slurp: true),
        .init(name: "2024.2", series: "Dalmatian", id: "2024.2", number: 30, released: "2024-10-02", slurp: false),
        .init(name: "2025.1", series: "Epoxy", id: "2025.1", number: 31, released: "2025-04-02", slurp: true),
        .init(name: "2025.2", series: "Flamingo", id: "2025.2", number: 32, released: "2025-10-01", slurp: false),
        .init(name: "2026.1", series: "Gazpacho", id: "2026.1", number: 33, released: "2026-04-01", slurp: true),
    ]

    public static var names: [String] { all.map(\.name) }

    /// The release called `name`: its Ferry name, series name (`antelope`) or id
    /// (`2015.1`), in any case.
    public static func find(_ name: String) -> OpenStackRelease? {
        let key = name.lowercased()
        return all.first { $0.name == key || $0.series.lowercased() == key || $0.id == key }
    }

    /// Position in ``all`` (Kilo is 0).
    public static func index(_ name: String) -> Int? {
        guard let r = find(name) else { return nil }
        return all.firstIndex(of: r)
    }

    /// Like ``find(_:)``, but an unknown name is an error that lists the known ones.
    public static func named(_ name: String) throws -> OpenStackRelease {
        guard let r = find(name) else {
            throw FerryError.invalid("unknown release '\(name)' (Ferry knows \(names.joined(separator: ", ")))")
        }
        return r
    }

    /// `a` comes at or after `b` (false when either is unknown).
    public static func atLeast(_ a: String?, _ b: String) -> Bool {
        guard let a, let x = index(a), let y = index(b) else { return false }
        return x >= y
    }

    /// `a` comes before `b` (false when either is unknown).
    public static func before(_ a: String?, _ b: String) -> Bool {
        guard let a, let x = index(a), let y = index(b) else { return false }
        return x < y
    }

    /// The releases an upgrade walks through: after `from`, up to and including `to`.
    /// `chain(from: "kilo", to: "queens")` is liberty … queens.
    public static func chain(from: String, to: String) throws -> [OpenStackRelease] {
        let start = try named(from)
        let end = try named(to)
        let a = all.firstIndex(of: start)!
        let b = all.firstIndex(of: end)!
        guard a < b else {
            throw FerryError.invalid(
                a == b ? "release chain \(start.name) → \(end.name): already there (nothing to walk)"
                    : "release chain \(start.name) → \(end.name): \(end.name) comes before \(start.name); schema migrations only go forward")
        }
        return Array(all[(a + 1)...b])
    }

    /// Whether the walk `from` → `to` may skip a release: only SLURP to the next SLURP
    /// (2023.1 → 2024.1 …). Everything else goes one release at a time.
    public static func skipSupported(from: String, to: String) -> Bool {
        guard let a = find(from), let b = find(to), a.slurp, b.slurp,
            let chain = try? chain(from: from, to: to)
        else { return false }
        return chain.filter(\.slurp).count == 1
    }
}
