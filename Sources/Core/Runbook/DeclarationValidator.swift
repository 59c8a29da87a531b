import LuaBridge

/// Checks every declaration and collects each problem with its `file:line`.
struct DeclarationValidator {
    let vm: LuaVM
    /// The prelude's table of declared functions (`{ __fn = id }` indexes it).
    let functions: LuaRef
    let files: [String]
    var problems: [String] = []

    init(vm: LuaVM, functions: LuaRef, files: [String]) {
        self.vm = vm
        self.functions = functions
        self.files = files
    }

    static let stepFields = [
        "run", "undo", "desc", "on", "parallel", "batch", "pause", "gate", "adaptive", "max_fail", "timeout",
        "retries", "retry_delay", "before", "after", "confirm", "when", "tags", "per",
    ]
    static let checkFields = ["probe", "within", "every", "on", "desc", "phase"]
    static let runbookFields = ["name", "from", "to", "description"]

    mutating func validate(_ declarations: LuaValue) async throws -> (
        RunbookInfo?, [StepDefinition], [String: CheckDefinition], [String]
    ) {
        for pending in declarations["pending"].arrayValue ?? [] {
            let loc = location(pending)
            problems.append(
                "\(loc): \(pending["kind"].stringValue ?? "step") \"\(pending["name"].stringValue ?? "?")\" has no body: write \(pending["kind"].stringValue ?? "step") \"name\" { ... }")
        }

        var info: RunbookInfo?
        let rb = declarations["runbook"]
        if rb.isNil {
            problems.append("\(LuaVM.displayPath(files[0])):1: no runbook { name = ..., from = ..., to = ... } declaration")
        } else {
            let loc = location(rb)
            let spec = rb["spec"]
            unknownFields(spec, Self.runbookFields, at: loc, what: "runbook")
            let name = spec["name"].stringValue
            if name == nil || name!.isEmpty { problems.append("\(loc): runbook needs a name (name = \"...\")") }
            info = RunbookInfo(
                name: name ?? "unnamed", from: spec["from"].stringValue, to: spec["to"].stringValue,
                description: spec["description"].stringValue, location: loc)
        }

        var checks: [String: CheckDefinition] = [:]
        var checkOrder: [String] = []
        for c in declarations["checks"].arrayValue ?? [] {
            let loc = location(c)
            let name = c["name"].stringValue ?? "?"
            let spec = c["spec"]
            let what = "check \"\(name)\""
            if let existing = checks[name] {
                problems.append("\(loc): \(what) is declared twice (first at \(existing.location))")
                continue
            }
            unknownFields(spec, Self.checkFields, at: loc, what: what)
            guard let probe = await function(spec["probe"], at: loc, what: "\(what): probe", required: true) else { continue }
            let within = duration(spec["within"], at: loc, what: "\(what): within") ?? 0
            let every = duration(spec["every"], at: loc, what: "\(what): every") ?? 5
            var phase = CheckPhase.always
            switch spec["phase"] {
            case .nil: break
            case .string(let p) where CheckPhase(rawValue: p) != nil: phase = CheckPhase(rawValue: p)!
            default:
                let hint = spec["phase"].stringValue.flatMap { nearest(to: $0, among: CheckPhase.allCases.map(\.rawValue)) }
                    .map { " (did you mean '\($0)'?)" } ?? ""
                problems.append("\(loc): \(what): phase must be \"before\", \"after\" or \"always\", got \(describe(spec["phase"]))\(hint)")
            }
            checks[name] = CheckDefinition(
                name: name, location: loc, desc: spec["desc"].stringValue, probe: probe, within: within, every: every,
                on: await selection(spec["on"], at: loc, what: what), phase: phase)
            checkOrder.append(name)
        }

        var steps: [StepDefinition] = []
        var seen: [String: SourceLocation] = [:]
        for s in declarations["steps"].arrayValue ?? [] {
            let loc = location(s)
            let name = s["name"].stringValue ?? "?"
            let spec = s["spec"]
            let what = "step \"\(name)\""
            if let first = seen[name] {
                problems.append("\(loc): duplicate step name \"\(name)\" (first declared at \(first))")
                continue
            }
            seen[name] = loc
            unknownFields(spec, Self.stepFields, at: loc, what: what)
            let run = await function(spec["run"], at: loc, what: "\(what): run", required: true)
            let undo = await function(spec["undo"], at: loc, what: "\(what): undo", required: false)
            let on = await selection(spec["on"], at: loc, what: what)
            let parallel = positive(spec["parallel"], at: loc, what: "\(what): parallel")
            let batch = amount(spec["batch"], at: loc, what: "\(what): batch", allowZero: false)
            let maxFail = amount(spec["max_fail"], at: loc, what: "\(what): max_fail", allowZero: true) ?? .count(0)
            let gate = await checkReferences(spec["gate"], at: loc, what: "\(what): gate", checks: checks)
            if gate.count > 1 { problems.append("\(loc): \(what): gate takes one check") }
            var adaptive = false
            if !spec["adaptive"].isNil {
                if let b = spec["adaptive"].boolValue { adaptive = b } else {
                    problems.append("\(loc): \(what): adaptive must be true or false, got \(spec["adaptive"].typeName)")
                }
            }
            if adaptive && (batch == nil || gate.isEmpty) {
                problems.append("\(loc): \(what): adaptive = true needs both batch and gate")
            }
            if on == nil {
                for field in ["parallel", "batch", "max_fail", "gate", "adaptive", "pause"] where !spec[field].isNil {
                    problems.append("\(loc): \(what): '\(field)' only applies to per-host steps (add on = ...)")
                }
            }
            var retries = 0
            if !spec["retries"].isNil {
                if let r = spec["retries"].intValue, r >= 0, case .int = spec["retries"] { retries = r } else {
                    problems.append("\(loc): \(what): retries must be a whole number ≥ 0, got \(describe(spec["retries"]))")
                }
            }
            var perWave = false
            switch spec["per"] {
            case .nil, .string("host"): break
            case .string("wave"):
                perWave = true
                if on == nil { problems.append("\(loc): \(what): per = \"wave\" needs on = ... (the hosts its waves are made of)") }
                if retries > 0 {
                    problems.append("\(loc): \(what): retries apply to one host; a step with per = \"wave\" is run once per wave (retry inside its run function)")
                }
            default:
                problems.append("\(loc): \(what): per must be \"host\" (run(host, ctx) for each host) or \"wave\" (run(hosts, ctx) once per wave), got \(describe(spec["per"]))")
            }
            var tags: [String] = []
            switch spec["tags"] {
            case .nil: break
            case .string(let t): tags = [t]
            case .array(let a) where a.allSatisfy({ $0.stringValue != nil }): tags = a.compactMap(\.stringValue)
            default: problems.append("\(loc): \(what): tags must be a string or a list of strings")
            }
            var confirm: String?
            if !spec["confirm"].isNil {
                if case .string(let c) = spec["confirm"] { confirm = c } else {
                    problems.append("\(loc): \(what): confirm must be the question to ask (a string)")
                }
            }
            var desc: String?
            if !spec["desc"].isNil {
                if case .string(let d) = spec["desc"] { desc = d } else { problems.append("\(loc): \(what): desc must be a string") }
            }
            let step = StepDefinition(
                index: steps.count, name: name, location: loc, desc: desc, run: run ?? LuaRef(id: -1), undo: undo, on: on,
                parallel: parallel, batch: batch, pause: duration(spec["pause"], at: loc, what: "\(what): pause"),
                gate: gate.first, adaptive: adaptive, maxFail: maxFail,
                timeout: duration(spec["timeout"], at: loc, what: "\(what): timeout"), retries: retries,
                retryDelay: duration(spec["retry_delay"], at: loc, what: "\(what): retry_delay") ?? 5,
                before: await checkReferences(spec["before"], at: loc, what: "\(what): before", checks: checks),
                after: await checkReferences(spec["after"], at: loc, what: "\(what): after", checks: checks),
                confirm: confirm, when: await function(spec["when"], at: loc, what: "\(what): when", required: false),
                tags: tags, perWave: perWave)
            steps.append(step)
        }
        if steps.isEmpty && problems.isEmpty {
            problems.append("\(LuaVM.displayPath(files[0])):1: the runbook declares no step")
        }
        return (info, steps, checks, checkOrder)
    }

    func location(_ decl: LuaValue) -> SourceLocation {
        SourceLocation(file: decl["file"].stringValue ?? "?", line: decl["line"].intValue ?? 0)
    }

    func describe(_ v: LuaValue) -> String {
        switch v {
        case .string(let s): return "\"\(s)\""
        case .map(let m) where m["__fn"] != nil: return "a function"
        default: return v.jsonString().count < 40 ? v.jsonString() : "a \(v.typeName)"
        }
    }

    mutating func unknownFields(_ spec: LuaValue, _ known: [String], at loc: SourceLocation, what: String) {
        guard case .map(let m) = spec else {
            if case .array(let a) = spec, !a.isEmpty {
                problems.append("\(loc): \(what): fields must be named (name = value), found a list")
            }
            return
        }
        for key in m.keys.sorted() where !known.contains(key) {
            let hint = nearest(to: key, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            problems.append("\(loc): \(what): unknown field '\(key)'\(hint)")
        }
    }

    mutating func function(_ v: LuaValue, at loc: SourceLocation, what: String, required: Bool) async -> LuaRef? {
        if v.isNil {
            if required { problems.append("\(loc): \(what) is missing: write \(what.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) = function(...) ... end") }
            return nil
        }
        guard case .map(let m) = v, m.count == 1, let id = m["__fn"]?.intValue else {
            problems.append("\(loc): \(what) must be a function, got \(describe(v))")
            return nil
        }
        return await vm.ref(in: functions, index: id)
    }

    mutating func duration(_ v: LuaValue, at loc: SourceLocation, what: String) -> Double? {
        switch v {
        case .nil: return nil
        case .int(let i) where i >= 0: return Double(i)
        case .number(let d) where d >= 0: return d
        case .string(let s):
            if let d = DurationText.seconds(s) { return d }
            problems.append("\(loc): \(what): '\(s)' is not a duration (write \"500ms\", \"30s\", \"5m\", \"2h\")")
            return nil
        default:
            problems.append("\(loc): \(what) must be a duration like \"30s\", got \(describe(v))")
            return nil
        }
    }

    mutating func positive(_ v: LuaValue, at loc: SourceLocation, what: String) -> Int? {
        if v.isNil { return nil }
        if case .int(let i) = v, i > 0 { return Int(i) }
        problems.append("\(loc): \(what) must be a whole number ≥ 1, got \(describe(v))")
        return nil
    }

    mutating func amount(_ v: LuaValue, at loc: SourceLocation, what: String, allowZero: Bool) -> HostAmount? {
        switch v {
        case .nil: return nil
        case .int(let i) where i > 0 || (allowZero && i == 0): return .count(Int(i))
        case .string(let s) where s.hasSuffix("%"):
            if let p = Double(s.dropLast()), p > 0 || (allowZero && p == 0), p <= 100 { return .percent(p) }
        default: break
        }
        problems.append("\(loc): \(what) must be a host count or a percentage like \"10%\", got \(describe(v))")
        return nil
    }

    mutating func selection(_ v: LuaValue, at loc: SourceLocation, what: String) async -> HostSelection? {
        switch v {
        case .nil: return nil
        case .string(let s): return .selectors([s])
        case .array(let a) where a.allSatisfy({ $0.stringValue != nil }): return .selectors(a.compactMap(\.stringValue))
        case .map(let m) where m["__fn"] != nil:
            guard let f = await function(v, at: loc, what: "\(what): on", required: true) else { return nil }
            return .function(f)
        default:
            problems.append("\(loc): \(what): on must be a group, a host, a list of them or a function, got \(describe(v))")
            return nil
        }
    }

    mutating func checkReferences(_ v: LuaValue, at loc: SourceLocation, what: String, checks: [String: CheckDefinition])
        async -> [CheckReference]
    {
        let items: [LuaValue]
        switch v {
        case .nil: return []
        case .array(let a): items = a
        default: items = [v]
        }
        var out: [CheckReference] = []
        for item in items {
            if case .string(let name) = item {
                if checks[name] == nil {
                    let hint = nearest(to: name, among: checks.keys).map { " (did you mean '\($0)'?)" } ?? ""
                    problems.append("\(loc): \(what): no check named \"\(name)\"\(hint)")
                } else {
                    out.append(.named(name))
                }
            } else if case .map(let m) = item, m["__fn"] != nil, let f = await function(item, at: loc, what: what, required: true) {
                out.append(.inline(f))
            } else {
                problems.append("\(loc): \(what): expected check names or functions, got \(describe(item))")
            }
        }
        return out
    }
}
