import Foundation
import LuaBridge

/// The native functions behind the runbook API (`host:run`, `inventory.*`,
/// `ssh.run`, `sleep`, `parallel`, `log.*`, `secret`, …). The prelude wraps them.
enum RuntimeAPI {
    static func natives(_ box: RuntimeBox) -> [LuaFunction] {
        [
            LuaFunction("__native.host_run") { call in
                let env = try box.require("host:run")
                let hostName = try call.string(1)
                let command = try call.string(2)
                let opts = try call.table(3, optional: true)
                let host = try lookup(env, hostName)
                let check = opts["check"].boolValue ?? true
                var hostCommand = HostCommand(command, sudo: opts["sudo"].boolValue ?? false)
                if let stdin = opts["stdin"].stringValue { hostCommand.stdin = Data(stdin.utf8) }
                if case .map(let m) = opts["env"] {
                    for (k, v) in m {
                        // A name goes into the shell text; only a shell identifier may.
                        guard k.first.map({ $0 == "_" || ($0.isASCII && $0.isLetter) }) == true,
                              k.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
                        else { throw LuaArgumentError("host:run: env name '\(k)' is not a shell variable name (letters, digits and _, not starting with a digit)") }
                        hostCommand.environment[k] = v.stringValue ?? v.jsonString()
                    }
                }
                if !opts["timeout"].isNil {
                    guard let t = seconds(opts["timeout"]) else {
                        throw LuaArgumentError("host:run: timeout must be a duration like \"30s\"")
                    }
                    hostCommand.timeout = t
                }
                let invocation = call.invocation
                // Inside a step with a timeout, a command gets at most the time left, so the
                // host kills it when the step gives up instead of leaving it running.
                if let deadline = invocation?.deadline {
                    // On a virtual clock the deadline is simulated time, on the caller's lane.
                    let now = env.clock.reading(host: invocation?.host)
                    let left = max(0.5, deadline - now)
                    hostCommand.timeout = min(hostCommand.timeout ?? left, left)
                }
                // Time a command takes counts on the caller's lane (a per-host step's host),
                // even when it runs on another host.
                hostCommand.lane = RunLane.current ?? invocation?.host
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] \(hostName): would run `\(command)`", invocation: invocation))
                    return .value(["code": 0, "stdout": "", "stderr": "", "duration": 0, "dry_run": true])
                }
                let capture = outputCapture(env, invocation, host: hostName, command: command)
                let prepared = hostCommand
                return .yield {
                    let result: CommandResult
                    do {
                        result = try await env.transport.run(prepared, on: host, output: capture)
                    } catch let failure as LocalWriteError {
                        env.localWrites.record(failure)
                        throw failure
                    }
                    // Output that could not be kept (a full disk) fails the command, whatever it returned.
                    try env.checkWrites(capture)
                    if check && !result.succeeded {
                        throw CommandFailed(host: hostName, command: command, result: result)
                    }
                    var out: [String: LuaValue] = [
                        "code": result.exitCode.map { .int(Int64($0)) } ?? .int(-1),
                        "stdout": .string(result.stdout), "stderr": .string(result.stderr),
                        "duration": .number(result.duration),
                    ]
                    if let s = result.signal { out["signal"] = .int(Int64(s)) }
                    return [.map(out)]
                }
            },
            LuaFunction("__native.host_put") { call in
                let env = try box.require("host:put")
                let host = try lookup(env, try call.string(1))
                let source = try call.string(2)
                let destination = try call.string(3)
                let opts = try call.table(4, optional: true)
                let mode = opts["mode"].stringValue.flatMap { Int($0, radix: 8) } ?? opts["mode"].intValue
                guard let directory = box.directory,
                    let local = LuaSandbox(readableRoots: [directory], modulePaths: []).resolve(source)
                else {
                    throw LuaArgumentError("host:put: '\(source)' must be a file inside the runbook's directory")
                }
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] \(host.name): would copy \(source) to \(destination)",
                                    invocation: call.invocation))
                    return .none
                }
                return .yield {
                    try await env.transport.put(file: local, to: destination, mode: mode, on: host)
                    return []
                }
            },
            // The "did you mean" of validate_spec: the same nearest name as a step's fields.
            LuaFunction("__native.nearest") { call in
                let candidates = (try call.table(2).arrayValue ?? []).compactMap(\.stringValue)
                return .value(nearest(to: try call.string(1), among: candidates).map(LuaValue.string) ?? .nil)
            },
            LuaFunction("__native.shell_quote") { call in .value(.string(ShellQuote.quote(try call.string(1)))) },
            LuaFunction("__native.ini_get") { call in
                let env = try box.require("host:ini")
                let host = try lookup(env, try call.string(1))
                let path = try call.string(2)
                let section = try call.string(3)
                let key = try call.string(4)
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] \(host.name): would read [\(section)] \(key) from \(path)",
                                    invocation: call.invocation))
                    return .value(.nil)
                }
                return .yield {
                    let document = try await readIni(env, host, path)
                    return [document.get(section, key).map { .string($0) } ?? .nil]
                }
            },
            LuaFunction("__native.ini_set") { call in
                let env = try box.require("host:ini")
                let host = try lookup(env, try call.string(1))
                let path = try call.string(2)
                let section = try call.string(3)
                let key = try call.string(4)
                // A string sets one line; a list sets a repeated key, one line per value.
                let many = call.isTable(5)
                let values: [String]? = call.isNil(5) ? nil : many ? try iniValues(try call.value(5)) : [try call.string(5)]
                let invocation = call.invocation
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] \(host.name): would set [\(section)] \(key) in \(path)",
                                    invocation: invocation))
                    return .value(.nil)
                }
                return .yield {
                    let (previous, backup, existed) = try await IniEdit.set(env, host, path, section, key, values)
                    if let backup {
                        // Journaled with what undoes it (the backup on the host, never the
                        // values, which may be secrets): a rollback of a step without `undo`
                        // puts each file back as it was before the step's first edit.
                        let change: LuaValue = [
                            "host": .string(host.name), "path": .string(path), "section": .string(section), "key": .string(key),
                            "backup": .string(backup), "existed": .bool(existed), "phase": .string(invocation?.phase.rawValue ?? "run"),
                        ]
                        try await env.artifact("ini-change", change, invocation)
                    }
                    if many { return [.array(previous.map { .string($0) })] }
                    return [previous.last.map { .string($0) } ?? .nil]
                }
            },
            LuaFunction("__native.ini_values") { call in
                let env = try box.require("host:ini")
                let host = try lookup(env, try call.string(1))
                let path = try call.string(2)
                let section = try call.string(3)
                let key = try call.string(4)
                if env.dryRun { return .value(.array([])) }
                return .yield {
                    let document = try await readIni(env, host, path)
                    return [.array(document.values(section, key).map { .string($0) })]
                }
            },
            LuaFunction("__native.inventory_hosts") { call in
                let env = try box.require("inventory.hosts")
                return .value(.array(try env.selector.hosts(try selectors(call, 1, "inventory.hosts")).map(\.luaValue)))
            },
            LuaFunction("__native.inventory_group") { call in
                let env = try box.require("inventory.group")
                let name = try call.string(1)
                guard let members = env.region.groups[name] else {
                    throw LuaArgumentError("inventory.group: no group named '\(name)'")
                }
                return .value(.array(members.map { env.region.hosts[$0]!.luaValue }))
            },
            LuaFunction("__native.inventory_host") { call in
                let env = try box.require("inventory.host")
                return .value(try lookup(env, try call.string(1)).luaValue)
            },
            LuaFunction("__native.ssh_run") { call in
                let env = try box.require("ssh.run")
                let selector = try selectors(call, 1, "ssh.run")
                let command = try call.string(2)
                let opts = try call.table(3, optional: true)
                let hosts = try env.selector.hosts(selector)
                if !opts["timeout"].isNil && seconds(opts["timeout"]) == nil {
                    throw LuaArgumentError("ssh.run: timeout must be a duration like \"30s\"")
                }
                let limit = opts["parallel"].intValue ?? env.region.ssh.parallel
                let check = opts["check"].boolValue ?? false
                var hostCommand = HostCommand(command, sudo: opts["sudo"].boolValue ?? false)
                hostCommand.timeout = seconds(opts["timeout"])
                let invocation = call.invocation
                let captures = Dictionary(uniqueKeysWithValues: hosts.map {
                    ($0.name, outputCapture(env, invocation, host: $0.name, command: command))
                })
                if env.dryRun {
                    return .value(.map(Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, ["code": 0, "dry_run": true] as LuaValue) })))
                }
                let prepared = hostCommand
                return .yield {
                    // Called from a host's lane (a per-host step), each target runs on a lane of its
                    // own within the caller's, so the lanes of hosts running the step are left alone.
                    let parent = RunLane.current ?? invocation?.host
                    let tag = "ssh-\(UUID().uuidString)-"
                    let results = await FanOut.run(hosts, limit: limit, clock: env.clock, parent: parent,
                                                   lane: { parent == nil ? $0.name : tag + $0.name }) { host in
                        try await env.transport.run(prepared, on: host, output: captures[host.name]!)
                    }
                    for capture in captures.values { try env.checkWrites(capture) }
                    var out: [String: LuaValue] = [:]
                    var failures: [String] = []
                    for (host, outcome) in results {
                        switch outcome {
                        case .success(let r):
                            out[host] = ["code": r.exitCode.map { .int(Int64($0)) } ?? .int(-1), "stdout": .string(r.stdout),
                                         "stderr": .string(r.stderr), "duration": .number(r.duration)]
                            if !r.succeeded { failures.append(host) }
                        case .failure(let e):
                            if let failure = e as? LocalWriteError { env.localWrites.record(failure) }
                            out[host] = ["code": -1, "error": .string(String(describing: e))]
                            failures.append(host)
                        }
                    }
                    if check && !failures.isEmpty {
                        throw LuaArgumentError("ssh.run: `\(command)` failed on \(failures.count) host(s): \(failures.sorted().prefix(5).joined(separator: ", "))")
                    }
                    return [.map(out)]
                }
            },
            LuaFunction("__native.log") { call in
                let level = LogLine.Level(rawValue: try call.string(1)) ?? .info
                let message = try call.string(2)
                if let env = box.current {
                    env.log(LogLine(level: level, message: message, invocation: call.invocation))
                }
                return .none
            },
            LuaFunction("__native.print") { call in
                let text = TerminalText.neutralized(try call.string(1)) + "\n"
                // Standard output redirected to a full disk loses the line; it does not stop the run.
                try? FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
                return .none
            },
            LuaFunction("__native.sleep") { call in
                guard let s = seconds(try call.value(1)) else { throw LuaArgumentError("sleep: expected a duration like \"5s\"") }
                let clock = box.current?.clock ?? WallClock()
                // The caller's lane (a host, a parallel item) comes with the task.
                let host = RunLane.current ?? call.invocation?.host
                return .yield {
                    try await clock.sleep(s, host: host)
                    return []
                }
            },
            LuaFunction("__native.duration") { call in
                guard let s = seconds(try call.value(1)) else {
                    throw LuaArgumentError("'\(try call.value(1).stringValue ?? "?")' is not a duration (write \"500ms\", \"30s\", \"5m\", \"2h\")")
                }
                return .value(.number(s))
            },
            LuaFunction("__native.now") { call in
                // Virtual in a simulated region, so `wait_until` deadlines follow simulated time.
                guard let env = box.current else { return .value(.number(Monotonic.seconds())) }
                return .value(.number(env.clock.reading(host: RunLane.current ?? call.invocation?.host)))
            },
            LuaFunction("__native.secret") { call in
                let value = try call.value(1)
                guard let ref = SecretReference(value) else {
                    throw LuaArgumentError("secret(ref): expected { env = NAME }, { file = PATH } or { file = PATH, key = NAME [, vault_password_file = PATH] }")
                }
                let region = box.current?.region
                return .value(.string(try ref.resolve(relativeTo: region?.directory, programs: region?.vaultPasswordPrograms ?? [])))
            },
            LuaFunction("__native.parallel") { call in
                let opts = try call.table(3, optional: true)
                let count = call.lengthOf(1)
                let limit = max(1, opts["limit"].intValue ?? 50)
                let list = call.ref(1)
                let fn = call.ref(2)
                let vm = call.vm
                let context = call.context
                guard let item = box.parallelItem else { throw LuaArgumentError("parallel is not ready") }
                let clock = box.current?.clock ?? WallClock()
                let caller = call.invocation?.host
                return .yield {
                    defer { Task { await vm.release(list); await vm.release(fn) } }
                    // Each item has a lane of its own within the caller's.
                    let parent = RunLane.current ?? caller
                    let tag = "parallel-\(UUID().uuidString)-"
                    let results = try await Window(clock: clock, parent: parent, limit: limit).run(count: count, lane: { tag + String($0 + 1) }) {
                        i, _ in
                        let r = try await vm.call(item, [.ref(list), .ref(fn), .value(.int(Int64(i + 1)))], context: context)
                        return r.first ?? .nil
                    }
                    return [.array(results)]
                }
            },
        ]
    }

    /// A selector argument: one string or a list of them.
    static func selectors(_ call: LuaCall, _ index: Int, _ what: String) throws -> [String] {
        guard call.isTable(index) else { return [try call.string(index)] }
        guard let list = try call.value(index).arrayValue?.compactMap(\.stringValue) else {
            throw LuaArgumentError("\(what): expected a selector or a list of selectors")
        }
        return list
    }

    static func lookup(_ env: RunEnvironment, _ name: String) throws -> RegionHost {
        guard let host = env.region.hosts[name] else { throw LuaArgumentError("no host named '\(name)' in region \(env.region.name)") }
        return host
    }

    /// The values of `conf:set(section, key, {…})`: a list (an empty table removes the key).
    static func iniValues(_ given: LuaValue) throws -> [String] {
        let list: [LuaValue]
        if let a = given.arrayValue { list = a } else if case .map(let m) = given, m.isEmpty { list = [] } else {
            throw LuaArgumentError("host:ini set: expected a value or a list of values, got a table with keys")
        }
        return try list.map { v in
            switch v {
            case .string(let s): return s
            case .int(let i): return String(i)
            case .number(let d): return String(d)
            default: throw LuaArgumentError("host:ini set: a list of values must hold strings or numbers")
            }
        }
    }

    static func seconds(_ v: LuaValue) -> Double? {
        switch v {
        case .int(let i) where i >= 0: return Double(i)
        case .number(let d) where d >= 0: return d
        case .string(let s): return DurationText.seconds(s)
        default: return nil
        }
    }

    /// The folder of the step's output files (nil: the run keeps no output files).
    static func outputFolder(_ env: RunEnvironment, _ invocation: Invocation?) -> String? {
        guard let dir = env.outputDirectory, let invocation else { return nil }
        // Step and host names come from the runbook and the region: each is one path
        // component (a host named ../../tmp/x writes inside the step's folder).
        let step = FileName.component(invocation.stepName + (invocation.phase == .run ? "" : "-" + invocation.phase.rawValue))
        return "\(dir)/\(String(format: "%03d", invocation.stepIndex))-\(step)"
    }

    static func outputCapture(_ env: RunEnvironment, _ invocation: Invocation?, host: String, command: String) -> OutputCapture {
        guard let folder = outputFolder(env, invocation), let invocation else { return OutputCapture() }
        let file = FileName.component(host)
        let stamp = ISO8601DateFormatter().string(from: Date())
        return OutputCapture(
            stdoutPath: "\(folder)/\(file).out", stderrPath: "\(folder)/\(file).err",
            header: "### \(stamp) attempt \(invocation.attempt): \(command)\n")
    }

    static func readIni(_ env: RunEnvironment, _ host: RegionHost, _ path: String) async throws -> IniDocument {
        try await IniEdit.read(env.transport, host, path)
    }
}

/// Reads and rewrites INI files on hosts, keeping a timestamped backup of each version,
/// through the transport's typed file operations.
enum IniEdit {
    static func read(_ transport: any Transport, _ host: RegionHost, _ path: String) async throws -> IniDocument {
        IniDocument(try await transport.file(.read(path: path), on: host).content ?? "")
    }

    /// Sets a key to its values (one line each; nil or none removes it). Returns the previous
    /// values, the backup's path (nil when nothing changed) and whether the file existed.
    static func set(_ env: RunEnvironment, _ host: RegionHost, _ path: String, _ section: String, _ key: String,
                    _ values: [String]?) async throws -> ([String], String?, Bool)
    {
        let text = try await env.transport.file(.read(path: path), on: host).content
        var document = IniDocument(text ?? "")
        let previous = document.setValues(section, key, values)
        if previous == (values ?? []) { return (previous, nil, text != nil) }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let backup = "\(path).ferry-\(formatter.string(from: Date()))-\(String(UInt16.random(in: 0..<UInt16.max), radix: 16))"
        _ = try await env.transport.file(.replace(path: path, content: document.text, backup: backup), on: host)
        return (previous, backup, text != nil)
    }

    /// Puts a file back from its backup (or removes it if the step created it).
    static func revert(_ transport: any Transport, _ host: RegionHost, _ path: String, backup: String, existed: Bool) async throws {
        _ = try await transport.file(.restore(path: path, backup: backup, existed: existed), on: host)
    }
}

enum Monotonic {
    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Runs an operation on many hosts with at most `limit` at once.
enum FanOut {
    /// Runs `body` on each host through the ``Window`` (at most `limit` at once), each on a
    /// lane of `clock` within `parent`'s (nil: the coordinator's), named by `lane`. Returns
    /// each host's outcome, in the order of `hosts`.
    static func run<T: Sendable>(_ hosts: [RegionHost], limit: Int, clock: any RunClock = WallClock(), parent: String? = nil,
                                 lane: (RegionHost) -> String = \.name,
                                 _ body: @escaping @Sendable (RegionHost) async throws -> T) async -> [(String, Result<T, any Error>)]
    {
        let outcomes = try? await Window(clock: clock, parent: parent, limit: limit).run(count: hosts.count, lane: { lane(hosts[$0]) }) {
            i, _ -> Result<T, any Error> in
            do { return .success(try await body(hosts[i])) } catch { return .failure(error) }
        }
        guard let outcomes else { return hosts.map { ($0.name, .failure(CancellationError())) } }
        return zip(hosts, outcomes).map { ($0.name, $1) }
    }
}
