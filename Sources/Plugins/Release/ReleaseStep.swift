import FerryCore
import LuaBridge

/// What moving one component to one release takes: the manage commands in order,
/// whether the release is a stop that cannot be skipped, and what changes for
/// clients. Plugins keep these as data; `ferry releases` prints them and the Lua
/// modules run them, so both read one source.
public struct ReleaseStep: Sendable {
    public var component: String
    /// The release the component moves to.
    public var release: String
    /// Run in order. A command may use an earlier release's tools (`tool`), as
    /// Nova's Kilo flavor migration before Liberty's sync does.
    public var commands: [ManageCommand]
    /// Why this release cannot be skipped on the way to a later one; nil when it can.
    public var requiredStop: String?
    /// APIs (or API versions) this release removes.
    public var apiRemovals: [String]
    /// Catalog endpoints this release needs registered.
    public var endpoints: [EndpointSpec]
    /// Other things an operator must know (not commands).
    public var notes: [String]

    public init(_ component: String, _ release: String, commands: [ManageCommand], requiredStop: String? = nil,
                apiRemovals: [String] = [], endpoints: [EndpointSpec] = [], notes: [String] = [])
    {
        self.component = component
        self.release = release
        self.commands = commands
        self.requiredStop = requiredStop
        self.apiRemovals = apiRemovals
        self.endpoints = endpoints
        self.notes = notes
    }

    /// The online data migrations of this release, if it has some to run.
    public var onlineMigrations: ManageCommand? { commands.first { $0.onlineMigrations != nil } }
}

/// One command of a release step, as argv (program first, no virtualenv path: the
/// runner prefixes the release's virtualenv).
public struct ManageCommand: Sendable {
    public var argv: [String]
    /// What it does or why it is needed.
    public var purpose: String
    /// Run with this release's tools instead of the step's release.
    public var tool: String?
    /// Options added only when the runbook gives the named parameter
    /// (`--transport-url` ← `transport_url`).
    public var options: [(flag: String, parameter: String)]
    /// Set for an online data migration command: how to loop it.
    public var onlineMigrations: OnlineMigrationContract?
    /// Set for a command that exits 0 whether or not it did everything: how its output tells.
    public var completion: CompletionCheck?

    public init(_ argv: [String], _ purpose: String, tool: String? = nil, options: [(flag: String, parameter: String)] = [],
                onlineMigrations: OnlineMigrationContract? = nil, completion: CompletionCheck? = nil)
    {
        self.argv = argv
        self.purpose = purpose
        self.tool = tool
        self.options = options
        self.onlineMigrations = onlineMigrations
        self.completion = completion
    }

    public var text: String {
        (argv + options.flatMap { [$0.flag, "<\($0.parameter)>"] }).joined(separator: " ")
    }
}

/// How the output of a command that exits 0 either way tells whether it did everything: the
/// first of `patterns` (Lua patterns, two captures: how many it matched, how many it completed)
/// found in its output; fewer completed than matched fails with `incomplete`, and output none
/// of them matches fails too.
public struct CompletionCheck: Sendable {
    public var patterns: [String]
    /// What the rows left mean and what to do (after "N of M completed: ").
    public var incomplete: String

    public init(patterns: [String], incomplete: String) {
        self.patterns = patterns
        self.incomplete = incomplete
    }
}

/// How an online data migration command is run until done: batches of
/// `--max-count N`, and what each exit code means.
public struct OnlineMigrationContract: Sendable {
    /// `--max-count` (Nova) or `--max_count` (Cinder).
    public var maxCountFlag: String
    /// Exit code → `done`, `more`, `errors`, or `progress` (the code says nothing: the output's
    /// `progressPattern` counts tell — more while a batch migrated rows, done when none matched).
    public var exitCodes: [Int32: String]
    /// A batch size that keeps each call short.
    public var defaultMaxCount: Int
    /// Which later release refuses to sync while these are not done, and why.
    public var requiredBefore: String?
    /// Output that means a migration failed whatever the exit code (releases that print it and exit 0 or 1).
    public var failureText: String?
    /// A Lua pattern with two captures, rows matched and rows migrated, found once per migration
    /// that matched rows in a batch. With it, a batch that matched rows but migrated none is an error
    /// (they cannot be migrated as they are), whatever the exit code.
    public var progressPattern: String?

    public init(maxCountFlag: String, exitCodes: [Int32: String], defaultMaxCount: Int = 1000, requiredBefore: String? = nil,
                failureText: String? = nil, progressPattern: String? = nil)
    {
        self.maxCountFlag = maxCountFlag
        self.exitCodes = exitCodes
        self.defaultMaxCount = defaultMaxCount
        self.requiredBefore = requiredBefore
        self.failureText = failureText
        self.progressPattern = progressPattern
    }

    public var exitCodeText: String {
        exitCodes.keys.sorted().map { "\($0) \(exitCodes[$0]!)" }.joined(separator: ", ")
            + (failureText.map { "; output \"\($0)\" fails" } ?? "")
    }
}

/// A Keystone catalog entry a release needs (install-guide shape; the host part is the region's).
public struct EndpointSpec: Sendable {
    public var serviceName: String
    public var serviceType: String
    /// The port the install guide uses, and the path after it (`/v3/%(project_id)s`).
    public var port: Int
    public var path: String
    public var why: String

    public init(serviceName: String, serviceType: String, port: Int, path: String, why: String) {
        self.serviceName = serviceName
        self.serviceType = serviceType
        self.port = port
        self.path = path
        self.why = why
    }

    /// As the install guide registers it, on its `controller` host.
    public var guideURL: String { "http://controller:\(port)\(path)" }
}

/// A systemd unit of a component, per package family, for the releases that ship it.
public struct ServiceUnit: Sendable {
    /// `api`, `scheduler`, `volume`, `compute`, `l3`, …
    public var role: String
    /// Where it runs: the region group of the runbook library (`controller`, `compute`, `network`).
    public var placement: String
    public var rpm: String?
    public var deb: String?
    /// First release that ships it, and the first that no longer does.
    public var from: String?
    public var until: String?

    public init(role: String, placement: String = "controller", rpm: String?, deb: String?, from: String? = nil, until: String? = nil) {
        self.role = role
        self.placement = placement
        self.rpm = rpm
        self.deb = deb
        self.from = from
        self.until = until
    }

    public func unit(_ family: PackageFamily) -> String? { family == .rpm ? rpm : deb }

    /// Whether `release` ships it.
    public func exists(in release: String) -> Bool {
        guard let i = Releases.index(release) else { return true }
        if let from, let f = Releases.index(from), i < f { return false }
        if let until, let u = Releases.index(until), i >= u { return false }
        return true
    }
}

/// What Ferry knows of one component across releases.
public struct ComponentKnowledge: Sendable {
    public var component: String
    /// Steps keyed by the release they move to; a release without an entry has no
    /// known step (the component did not exist yet, or nothing is recorded).
    public var steps: [ReleaseStep]
    public var services: [ServiceUnit]
    public var packages: [PackageFamily: [String]]
    /// The first release Ferry has steps for (placement: Stein, when it leaves nova_api).
    public var firstRelease: String
    /// What holds across releases (order of upgrades, scale lessons, broker facts).
    public var notes: [String]

    public init(component: String, steps: [ReleaseStep], services: [ServiceUnit], packages: [PackageFamily: [String]],
                firstRelease: String = "kilo", notes: [String] = [])
    {
        self.component = component
        self.steps = steps
        self.services = services
        self.packages = packages
        self.firstRelease = firstRelease
        self.notes = notes
    }

    public func step(for release: String) -> ReleaseStep? {
        guard let r = Releases.find(release) else { return nil }
        return steps.first { $0.release == r.name }
    }

    /// The steps of the walk `from` → `to`, one per release of the chain that has one.
    /// The steps from `from` to `to`, one per release. With `slurp` and a SLURP-to-SLURP
    /// hop (2023.1 → 2024.1), the release between is skipped, as that path supports,
    /// keeping only `to` and any required stop of this component.
    public func steps(from: String, to: String, slurp: Bool = false) throws -> [ReleaseStep] {
        let chain = try Releases.chain(from: from, to: to)
        let skip = slurp && Releases.skipSupported(from: from, to: to)
        return chain.compactMap { r in
            guard let s = step(for: r.name) else { return nil }
            return !skip || r.name == chain.last?.name || s.requiredStop != nil ? s : nil
        }
    }

    /// Unit names for a family, optionally only those of one role or placement, in `release`.
    public func units(_ family: PackageFamily, role: String? = nil, release: String? = nil) -> [String] {
        services.filter { s in
            (role == nil || s.role == role || s.placement == role) && (release.map { s.exists(in: $0) } ?? true)
        }.compactMap { $0.unit(family) }
    }
}
