import Foundation
import LuaBridge

/// The native behind `ansible.playbook`: runs `ansible-playbook` (or a wrapper:
/// `kolla-ansible`, `openstack-ansible`) on this machine, streams its events into the run's
/// log, keeps them beside the step's output, and fails naming each failed host and task.
enum PlaybookAPI {
    /// The programs a runbook may start through `command` without the region allowing more
    /// (`playbooks: { programs: [...] }`): a runbook cannot run any other program here.
    static let wrappers: Set<String> = ["ansible-playbook", "kolla-ansible", "openstack-ansible"]

    static func natives(_ box: RuntimeBox) -> [LuaFunction] {
        [
            LuaFunction("__native.ansible_playbook") { call in
                let env = try box.require("ansible.playbook")
                let spec = try call.table(1)
                let built = try request(spec, env: env, directory: box.directory, invocation: call.invocation)
                let request = built.request
                let display = request.display
                let fail = spec["fail"].boolValue ?? true
                let invocation = call.invocation
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] would run `\(display)`", invocation: invocation))
                    var outcome = PlaybookOutcome(exitCode: 0)
                    for host in request.limit ?? [] { outcome.hosts[host] = PlaybookHostStats() }
                    var value = outcome.luaValue(command: display, events: nil)
                    if case .map(var m) = value { m["dry_run"] = .bool(true); value = .map(m) }
                    built.cleanup()
                    return .value(value)
                }
                let driver = env.playbooks
                return .yield {
                    defer { built.cleanup() }
                    env.log(LogLine(level: .info, message: "running `\(display)`", invocation: invocation))
                    let outcome = try await driver.run(request) { event in
                        switch event {
                        case .play(let name):
                            env.log(LogLine(level: .info, message: "play: \(name)", invocation: invocation))
                        case .task:
                            break
                        case .failed(let f):
                            env.log(LogLine(level: .warn, message: "\(f.host): \(f.summary)", invocation: invocation))
                        }
                    }
                    let failed = outcome.failedHosts.count
                    env.log(LogLine(level: outcome.succeeded ? .info : .warn,
                                    message: "`\(display)`: \(outcome.plays) play(s), \(outcome.tasks) task(s), \(outcome.hosts.count) host(s), \(failed) failed"
                                        + (request.eventsPath.map { " (events: \($0))" } ?? ""),
                                    invocation: invocation))
                    if fail, !outcome.succeeded { throw FerryError.failed(outcome.failureMessage(display)) }
                    return [outcome.luaValue(command: display, events: request.eventsPath)]
                }
            }
        ]
    }

    struct Built {
        var request: PlaybookRequest
        var extraVarsFile: String?
        func cleanup() { if let extraVarsFile { try? FileManager.default.removeItem(atPath: extraVarsFile) } }
    }

    static func strings(_ v: LuaValue, _ what: String) throws -> [String] {
        switch v {
        case .nil: return []
        case .map(let m) where m.isEmpty: return []
        case .string(let s): return [s]
        case .array(let items):
            return try items.map { item in
                if let s = item.stringValue { return s }
                if let name = item["name"].stringValue { return name }  // a host object
                throw LuaArgumentError("ansible.playbook: \(what) must be a string or a list of strings (or hosts), got a list holding \(item.typeName)")
            }
        default:
            throw LuaArgumentError("ansible.playbook: \(what) must be a string or a list of strings, got \(v.typeName)")
        }
    }

    static func request(_ spec: LuaValue, env: RunEnvironment, directory: String?, invocation: Invocation?) throws -> Built {
        var arguments: [String]
        switch (spec["playbook"], spec["command"]) {
        case (.string(let playbook), .nil):
            arguments = ["ansible-playbook", playbook]
        case (.nil, .array):
            arguments = try strings(spec["command"], "command")
            guard let program = arguments.first else { throw LuaArgumentError("ansible.playbook: command is an empty list") }
            let base = (program as NSString).lastPathComponent
            guard wrappers.contains(base) else {
                throw LuaArgumentError("ansible.playbook: command runs \(program), which is none of \(wrappers.sorted().joined(separator: ", ")) (a runbook runs no other program on this machine)")
            }
        case (.nil, .nil):
            throw LuaArgumentError("ansible.playbook: give playbook = \"site.yml\" or command = { \"kolla-ansible\", \"-i\", \"multinode\", \"upgrade\" }")
        case (.string, _), (_, .array):
            throw LuaArgumentError("ansible.playbook: give playbook or command, not both")
        default:
            throw LuaArgumentError("ansible.playbook: playbook must be a path (a string) and command a list of strings")
        }
        for inventory in try strings(spec["inventory"], "inventory") { arguments += ["-i", inventory] }
        var limit: [String]?
        switch spec["limit"] {
        case .nil: break
        case .string(let pattern): arguments += ["--limit", pattern]
        default:
            let hosts = try strings(spec["limit"], "limit")
            guard !hosts.isEmpty else { throw LuaArgumentError("ansible.playbook: limit is an empty list (a playbook on no host)") }
            limit = hosts
            arguments += ["--limit", hosts.joined(separator: ",")]
        }
        let tags = try strings(spec["tags"], "tags")
        if !tags.isEmpty { arguments += ["--tags", tags.joined(separator: ",")] }
        let skip = try strings(spec["skip_tags"], "skip_tags")
        if !skip.isEmpty { arguments += ["--skip-tags", skip.joined(separator: ",")] }
        for (flag, option) in [("check", "--check"), ("diff", "--diff"), ("become", "--become")] {
            switch spec[flag] {
            case .nil, .bool(false): break
            case .bool(true): arguments.append(option)
            case let other: throw LuaArgumentError("ansible.playbook: \(flag) must be true or false, got \(other.typeName)")
            }
        }
        if !spec["forks"].isNil {
            guard let forks = spec["forks"].intValue, forks > 0 else {
                throw LuaArgumentError("ansible.playbook: forks must be a whole number ≥ 1")
            }
            arguments += ["--forks", String(forks)]
        }
        var environment: [String: String] = [:]
        switch spec["env"] {
        case .nil, .map, .array([]): break
        default: throw LuaArgumentError("ansible.playbook: env must be a table of names to values")
        }
        for (key, value) in spec["env"].mapValue ?? [:] {
            guard key.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil else {
                throw LuaArgumentError("ansible.playbook: env name '\(key)' is not a variable name")
            }
            guard key != "ANSIBLE_STDOUT_CALLBACK" else {
                throw LuaArgumentError("ansible.playbook: ANSIBLE_STDOUT_CALLBACK is Ferry's (its events are how the playbook is journaled); add callbacks with ANSIBLE_CALLBACKS_ENABLED")
            }
            environment[key] = value.stringValue ?? value.jsonString()
        }
        // Where the events go: beside the step's command output (0600 files in 0700 folders).
        var eventsPath: String?
        if let folder = RuntimeAPI.outputFolder(env, invocation) {
            let who = FileName.component(invocation?.host ?? "wave")
            eventsPath = "\(folder)/\(who).playbook-\(UUID().uuidString.prefix(8)).jsonl"
        }
        var extraVarsFile: String?
        if !spec["extra_vars"].isNil {
            guard spec["extra_vars"].mapValue != nil else {
                throw LuaArgumentError("ansible.playbook: extra_vars must be a table of names to values")
            }
            // A file, never the command line: values may be secrets (docs/security.md).
            let dir = eventsPath.map { ($0 as NSString).deletingLastPathComponent } ?? NSTemporaryDirectory() + "ferry-ansible-vars-\(getpid())"
            try PrivateFiles.makeDirectory(dir)
            let path = "\(dir)/.extra-vars-\(UUID().uuidString).json"
            try PrivateFiles.write(Data(spec["extra_vars"].jsonString().utf8), to: path)
            extraVarsFile = path
            arguments += ["--extra-vars", "@" + path]
        }
        arguments += try strings(spec["args"], "args")
        var timeout: Double?
        if !spec["timeout"].isNil {
            guard let t = RuntimeAPI.seconds(spec["timeout"]), t > 0 else {
                throw LuaArgumentError("ansible.playbook: timeout must be a duration like \"30m\"")
            }
            timeout = t
        }
        let cwd = spec["cwd"].stringValue ?? directory
        return Built(request: PlaybookRequest(arguments: arguments, limit: limit, environment: environment, directory: cwd,
                                              timeout: timeout, eventsPath: eventsPath),
                     extraVarsFile: extraVarsFile)
    }
}
