import LuaBridge

/// Where something was declared in a runbook.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible, Codable {
    public var file: String
    public var line: Int
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
    public var description: String { "\(file):\(line)" }
}

/// A count of hosts or a share of them: `10` or `"10%"`.
public enum HostAmount: Sendable, Hashable, CustomStringConvertible {
    case count(Int)
    case percent(Double)

    public func resolve(total: Int) -> Int {
        switch self {
        case .count(let n): return n
        case .percent(let p): return Int((Double(total) * p / 100).rounded(.down))
        }
    }

    public var description: String {
        switch self {
        case .count(let n): return String(n)
        case .percent(let p): return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        }
    }
}

/// Which hosts a per-host step or check runs on.
public enum HostSelection: Sendable {
    case selectors([String])
    /// A Lua function returning hosts or names, evaluated when the step starts.
    case function(LuaRef)
}

/// A check named in `before` / `after` / `gate`, or given inline as a function.
public enum CheckReference: Sendable {
    case named(String)
    case inline(LuaRef)

    public var label: String {
        switch self {
        case .named(let n): return n
        case .inline: return "(inline check)"
        }
    }
}

public struct StepDefinition: Sendable {
    public var index: Int
    public var name: String
    public var location: SourceLocation
    public var desc: String?
    public var run: LuaRef
    public var undo: LuaRef?
    public var on: HostSelection?
    public var parallel: Int?
    public var batch: HostAmount?
    public var pause: Double?
    public var gate: CheckReference?
    public var adaptive: Bool
    public var maxFail: HostAmount
    public var timeout: Double?
    public var retries: Int
    public var retryDelay: Double
    public var before: [CheckReference]
    public var after: [CheckReference]
    public var confirm: String?
    public var when: LuaRef?
    public var tags: [String]
    /// `per = "wave"`: `run(hosts, ctx)` and `undo(hosts, ctx)` are called once per wave with
    /// the wave's hosts (a playbook with `--limit`), and say which of them failed.
    public var perWave: Bool = false

    public var isPerHost: Bool { on != nil }
    public var isReversible: Bool { undo != nil }
}

/// What a check describes (`phase = ...`): the region `before` the upgrade (a preflight:
/// it holds again once a rollback put the region back), the upgraded region (`after`), or
/// both (`always`, the default: what every check was before checks had a phase). A step's
/// `before`/`after`/`gate` run the checks they name whatever their phase; the phase decides
/// what a drill runs on its own (after the upgrade: `after` and `always`; after the
/// rollback: `before` and `always`) and what `ferry check --phase` picks.
public enum CheckPhase: String, Sendable, Codable, CaseIterable {
    case before, after, always

    /// Whether a check of this phase holds for the region at `moment` (`.always`: any check).
    public func fits(_ moment: CheckPhase) -> Bool { self == .always || moment == .always || self == moment }
}

public struct CheckDefinition: Sendable {
    public var name: String
    public var location: SourceLocation
    public var desc: String?
    public var probe: LuaRef
    /// Keep probing until it passes or this much time has gone (0: one attempt).
    public var within: Double
    public var every: Double
    public var on: HostSelection?
    public var phase: CheckPhase = .always
}

public struct RunbookInfo: Sendable {
    public var name: String
    public var from: String?
    public var to: String?
    public var description: String?
    public var location: SourceLocation?
}
