import Foundation
import LuaBridge

/// What a run would do, readable before anything runs.
public struct Plan: Sendable, Encodable {
    public struct Step: Sendable, Encodable {
        public var index: Int
        public var name: String
        public var location: String
        public var desc: String?
        /// nil for a step that runs once; the host count otherwise (nil hosts when chosen at run time).
        public var perHost: Bool
        public var hosts: Int?
        public var selector: String?
        public var waves: [Int]
        public var parallel: Int?
        public var maxFail: String?
        public var gate: String?
        public var adaptive: Bool
        public var timeout: Double?
        public var retries: Int
        public var before: [String]
        public var after: [String]
        public var confirm: String?
        public var conditional: Bool
        public var tags: [String]
        public var reversible: Bool
        /// Why the step will not run with these options, if it will not.
        public var skipped: String?
    }

    public var runbook: String
    public var from: String?
    public var to: String?
    public var region: String
    public var transport: String
    public var steps: [Step]
    public var checks: [String]
    /// The run's inputs (`-e`, `--vars`), `KEY=VALUE`, secret references as references.
    public var inputs: [String] = []
    /// `--limit PATTERN`, and how many of the region's hosts it leaves.
    public var limit: String?
    public var limitHosts: Int?

    public var irreversible: [String] { steps.filter { !$0.reversible && $0.skipped == nil }.map(\.name) }

    public static func build(_ runbook: Runbook, region: Region, options: RunOptions = RunOptions()) throws -> Plan {
        let selector = HostSelector(region: region)
        let skip = Engine.selectionRule(runbook.steps, options)
        var problems: [String] = []
        var limited: Set<String>?
        if let limit = options.limit {
            do { limited = Set(try selector.names(limit)) } catch let e as FerryError {
                throw FerryError.usage("--limit \(limit): \(e.message)")
            }
        }
        let steps = runbook.steps.map { step -> Step in
            var hosts: Int?
            var selectorText: String?
            switch step.on {
            case .selectors(let s):
                selectorText = s.joined(separator: ", ")
                do { hosts = try selector.hosts(s).filter { limited?.contains($0.name) ?? true }.count } catch {
                    problems.append("\(step.location): step \"\(step.name)\": \(error)")
                }
            case .function: selectorText = "(chosen by a function at run time)"
            case nil: break
            }
            var waves: [Int] = []
            if let hosts, step.isPerHost {
                let size = step.batch.map { max(1, $0.resolve(total: hosts)) } ?? max(1, hosts)
                var left = hosts
                var current = size
                while left > 0 {
                    waves.append(min(current, left))
                    left -= current
                    if step.adaptive { current += size }
                }
            }
            return Step(
                index: step.index, name: step.name, location: step.location.description, desc: step.desc, perHost: step.isPerHost,
                hosts: hosts, selector: selectorText, waves: waves,
                parallel: step.isPerHost ? (step.parallel ?? region.ssh.parallel) : nil,
                maxFail: step.isPerHost ? step.maxFail.description : nil, gate: step.gate?.label, adaptive: step.adaptive,
                timeout: step.timeout, retries: step.retries, before: step.before.map(\.label), after: step.after.map(\.label),
                confirm: step.confirm, conditional: step.when != nil, tags: step.tags, reversible: step.isReversible,
                skipped: skip(step))
        }
        if !problems.isEmpty { throw ValidationErrors(problems) }
        for check in runbook.checkOrder {
            if case .selectors(let s) = runbook.checks[check]?.on {
                do { _ = try selector.hosts(s) } catch {
                    throw ValidationErrors(["\(runbook.checks[check]!.location): check \"\(check)\": \(error)"])
                }
            }
        }
        return Plan(runbook: runbook.info.name, from: runbook.info.from, to: runbook.info.to, region: region.name,
                    transport: region.simulate != nil ? "the simulation (\(region.groups["computes"]?.count ?? 0) compute nodes, virtual clock)" : region.ssh.transport.rawValue, steps: steps, checks: runbook.checkOrder,
                    inputs: RunInputs.describe(options.vars ?? [:]), limit: options.limit, limitHosts: limited?.count)
    }

    /// The plan as an operator reads it.
    public func render() -> String {
        var out = "Plan: \(runbook)"
        if let from, let to { out += " (\(from) → \(to))" }
        out += " on region \(region) via \(transport)\n"
        if !inputs.isEmpty { out += "Inputs: \(inputs.joined(separator: ", "))\n" }
        if let limit { out += "Limit: \(limit) (\(limitHosts ?? 0) host(s)): per-host steps act only on these\n" }
        out += "\n"
        for s in steps {
            let marker = s.skipped != nil ? "-" : (s.reversible ? " " : "!")
            var line = String(format: "%@ %2d. %@", marker, s.index + 1, s.name)
            if s.perHost {
                line += "  on \(s.selector ?? "?")"
                if let hosts = s.hosts { line += " (\(hosts) host\(hosts == 1 ? "" : "s"))" }
            }
            out += line + "\n"
            var details: [String] = []
            if let d = s.desc { details.append(d) }
            if s.perHost {
                var d = "parallel \(s.parallel ?? 0)"
                if s.waves.count > 1 {
                    let shown = s.waves.prefix(6).map(String.init).joined(separator: ", ")
                    d += ", \(s.waves.count) waves (\(shown)\(s.waves.count > 6 ? ", …" : ""))\(s.adaptive ? " adaptive" : "")"
                }
                if s.maxFail != "0" { d += ", max_fail \(s.maxFail ?? "0")" }
                details.append(d)
            }
            if let g = s.gate { details.append("gate: \(g)") }
            if !s.before.isEmpty { details.append("before: \(s.before.joined(separator: ", "))") }
            if !s.after.isEmpty { details.append("after: \(s.after.joined(separator: ", "))") }
            if let t = s.timeout { details.append("timeout \(DurationText.format(t))") }
            if s.retries > 0 { details.append("retries \(s.retries)") }
            if let c = s.confirm { details.append("asks: \"\(c)\"") }
            if s.conditional { details.append("runs only when its condition holds") }
            if !s.tags.isEmpty { details.append("tags: \(s.tags.joined(separator: ", "))") }
            details.append(s.reversible ? "undo: yes" : "undo: NONE (irreversible)")
            if let skipped = s.skipped { details.append("skipped: \(skipped)") }
            for d in details { out += "       \(d)\n" }
        }
        let irreversible = self.irreversible
        out += "\n\(steps.filter { $0.skipped == nil }.count) step(s) to run"
        out += irreversible.isEmpty ? "; every one can be rolled back.\n" : "; irreversible: \(irreversible.joined(separator: ", ")).\n"
        return out
    }
}

extension Engine {
    /// Why a step is left out by --from / --only / --tags / --skip-tags (nil: it runs).
    /// `--from` goes by the steps' order in the runbook, not by their journal indexes.
    static func selectionRule(_ steps: [StepDefinition], _ options: RunOptions) -> (StepDefinition) -> String? {
        let fromPosition = options.fromStep.flatMap { name in steps.firstIndex { $0.name == name } }
        let positions = Dictionary(steps.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        return { step in
            if let fromPosition, let position = positions[step.name], position < fromPosition { return "before --from \(options.fromStep!)" }
            if !options.onlySteps.isEmpty && !options.onlySteps.contains(step.name) { return "not in --only" }
            if !options.tags.isEmpty && Set(options.tags).isDisjoint(with: step.tags) { return "no tag in --tags" }
            if !Set(options.skipTags).isDisjoint(with: step.tags) { return "tagged with --skip-tags" }
            return nil
        }
    }
}
