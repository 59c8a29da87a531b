import FerryCore
import Foundation
import LuaBridge

/// Runs commands on simulated hosts: interprets what the model knows (`systemctl`,
/// the components' manage commands, file edits, links) and records the rest, each
/// taking its simulated time on the host's lane of the virtual clock.
struct SimTransport: Transport {
    let sim: SimRegion

    func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult {
        try await perform(command, on: host, output: output) { lane in
            execute(command.command, stdin: command.stdin, host: host.name, lane: lane)
        }
    }

    /// Ferry's own file operations, applied to the model (no shell text parsed back).
    func file(_ operation: FileOperation, on host: RegionHost) async throws -> FileOperationResult {
        var command = HostCommand(operation.label)
        command.lane = RunLane.current
        var content: String?
        let result = try await perform(command, on: host, output: OutputCapture()) { _ in
            let name = host.name
            switch operation {
            case .read(let path):
                guard let text = sim.host(name)?.files[path] else { return SimOutcome(exitCode: 3, duration: 0.05) }
                content = text
                return SimOutcome(duration: 0.05)
            case .replace(let path, let text, let backup):
                sim.mutate { s in
                    let old = s.hosts[name]?.files[path] ?? ""
                    s.hosts[name]?.files[backup] = old
                    s.hosts[name]?.files[path] = text
                }
                return SimOutcome(duration: 0.1)
            case .restore(let path, let backup, let existed):
                guard existed else {
                    sim.mutate { $0.hosts[name]?.files[path] = nil }
                    return SimOutcome(duration: 0.05)
                }
                guard let saved = sim.host(name)?.files[backup] else {
                    return .fail("cp: cannot stat '\(backup)': No such file or directory", duration: 0.05)
                }
                sim.mutate { $0.hosts[name]?.files[path] = saved }
                return SimOutcome(duration: 0.05)
            }
        }
        if case .read = operation { if result.exitCode == 3 { return FileOperationResult(content: nil) } }
        guard result.succeeded else { throw CommandFailed(host: host.name, command: operation.label, result: result) }
        return FileOperationResult(content: content)
    }

    /// Runs a command on the model: faults first, then `apply` (given the lane whose time
    /// it takes), then its simulated time on that lane.
    private func perform(_ command: HostCommand, on host: RegionHost, output: OutputCapture,
                         _ apply: (String) -> SimOutcome) async throws -> CommandResult
    {
        guard sim.host(host.name) != nil else {
            throw TransportError(.unreachable, host: host.name, "no such host in the simulated region")
        }
        // The model could not be logged (a full disk): a change now might not outlive a
        // kill, so nothing more changes until the disk has room and the run is resumed.
        if let failure = sim.store.writeFailure { throw failure }
        let text = command.command
        // Whose time it takes: the per-host step's host that sent it, else the target.
        let lane = command.lane ?? RunLane.current ?? host.name
        let faults = sim.faults.matching(host: host.name, command: text, release: nil, primitive: nil)
        // A held command waits, in real time and taking no simulated time, until its
        // release file exists: a run can be paused at a known point (to kill it, say).
        for f in faults where f.kind == .hold {
            if let file = f.until { try await Self.waitForFile(file) }
        }
        for f in faults where f.kind == .unreachable {
            sim.clock.advance(sim.duration("ssh connect timeout", 10), host: lane)
            throw TransportError(.unreachable, host: host.name,
                                 f.message ?? "cannot connect to \(host.address):22: no route to host (simulated fault)")
        }
        var outcome: SimOutcome
        if let f = faults.first(where: { $0.kind == .fail }) {
            // A failing command changes nothing.
            outcome = .fail(f.message ?? "simulated failure of `\(text.prefix(60))`", duration: 2)
        } else {
            outcome = apply(lane)
        }
        for f in faults where f.kind == .slow { outcome.duration *= f.factor }
        // Real commands never take the same time twice: ±15%, seeded, different at each moment.
        let now = sim.clock.now(host: lane).timeIntervalSince1970
        outcome.duration *= 0.85 + 0.3 * sim.faults.random("jitter|\(host.name)|\(text)|\(sim.faults.elapsed(now))")
        var result: CommandResult
        if let limit = command.timeout, outcome.duration > limit {
            sim.clock.advance(limit, host: lane)
            throw TransportError(.timeout, host: host.name,
                                 "`\(command.command)` did not finish within \(DurationText.format(limit)); it was killed")
        }
        sim.clock.advance(outcome.duration, host: lane)
        // The step's time limit came first: the command was stopped there, as a real
        // timeout stops it (the step then fails with the timeout).
        if sim.clock.limitReached(host: lane) { throw CancellationError() }
        if sim.config.timeScale > 0 { try await Task.sleep(for: .seconds(outcome.duration * sim.config.timeScale)) }
        Data(outcome.stdout.utf8).withUnsafeBytes { output.append(stdout: $0) }
        Data(outcome.stderr.utf8).withUnsafeBytes { output.append(stderr: $0) }
        output.finish()
        result = CommandResult(exitCode: outcome.exitCode, stdout: output.stdout, stderr: output.stderr,
                               stdoutBytes: outcome.stdout.utf8.count, stderrBytes: outcome.stderr.utf8.count, duration: outcome.duration)
        return result
    }

    /// Returns once `path` exists; a cancelled run stops waiting.
    static func waitForFile(_ path: String) async throws {
        while !FileManager.default.fileExists(atPath: path) {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func put(file localPath: String, to remotePath: String, mode: Int?, on host: RegionHost) async throws {
        guard FileManager.default.fileExists(atPath: localPath) else {
            throw TransportError(.transfer, host: host.name, "put: no local file \(localPath)")
        }
        for f in sim.faults.matching(host: host.name, command: "put \(remotePath)", release: nil, primitive: nil) where f.kind == .fail || f.kind == .unreachable {
            throw TransportError(f.kind == .unreachable ? .unreachable : .transfer, host: host.name, f.message ?? "put \(remotePath): simulated fault")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: localPath)[.size] as? Int) ?? 0
        let sha = (try? SHA256File.hex(localPath)) ?? "?"
        sim.mutate { $0.hosts[host.name]?.files[remotePath] = "uploaded \(size) bytes sha256 \(sha)" }
        // A region's compute nodes share the uplink: about 50 MB/s each.
        sim.clock.advance(max(0.2, Double(size) / 50e6), host: host.name)
    }

    func shutdown() async {}

    // MARK: Interpreting

    func execute(_ text: String, stdin: Data?, host: String, lane: String) -> SimOutcome {
        var body = text
        if body.hasPrefix("sudo -n /bin/sh -c ") { body = Self.unquote(String(body.dropFirst("sudo -n /bin/sh -c ".count))) }
        body = body.replacingOccurrences(of: "\\\n", with: " ")
        if body.hasPrefix("export "), let semi = body.firstIndex(of: ";") { body = String(body[body.index(after: semi)...]) }
        // A script the model cannot follow (a loop, a condition, an expansion, a subshell):
        // recorded whole, and warned about, rather than guessed at piece by piece.
        if let why = Self.unfollowable(body) {
            sim.unjudged.record(body.trimmingCharacters(in: .whitespacesAndNewlines), host: host, why: why)
            return SimOutcome(duration: sim.duration("shell script", 1))
        }
        var total = SimOutcome(duration: 0)
        var last: Int32 = 0
        for (op, piece) in Self.split(body) {
            if op == "&&" && last != 0 { continue }
            if op == "||" && last == 0 { continue }
            let stages = Self.pipeline(piece)
            let r: SimOutcome
            if stages.count > 1 {
                r = pipeline(stages, text: piece.trimmingCharacters(in: .whitespaces), host: host)
            } else {
                let words = Self.words(piece)
                guard !words.isEmpty else { continue }
                r = simple(words, text: piece.trimmingCharacters(in: .whitespaces), stdin: stdin, host: host, lane: lane)
            }
            total.stdout += r.stdout
            total.stderr += r.stderr
            total.duration += r.duration
            last = r.exitCode
        }
        total.exitCode = last
        return total
    }

    /// A pipeline: each stage's program must exist (as the shell says, the pipeline exits with
    /// the last stage's status: 127 when that one is missing); what flows between the stages is
    /// not modelled, so the pipeline is recorded, not judged, and prints nothing.
    func pipeline(_ stages: [String], text: String, host: String) -> SimOutcome {
        var out = SimOutcome(duration: 0.05)
        for (i, stage) in stages.enumerated() {
            var words = Self.words(stage)
            while let w = words.first, w == "sudo" || w.hasPrefix("-") || w.contains("=") && words.count > 1 { words.removeFirst() }
            guard let first = words.first else { continue }
            if let missing = missingProgram(first) {
                out.stderr += missing.stderr
                if i == stages.count - 1 { out.exitCode = missing.exitCode }
            }
        }
        if out.exitCode == 0 { sim.unjudged.record(text, host: host, why: "a pipeline: what passes between its commands is not modelled") }
        return out
    }

    /// The shell's answer when `word` names no program the simulated host has (nil when it has it):
    /// a program no component interprets or names, not a judged shell command, and not one of the
    /// operating system's that the simulation records (``hostPrograms``).
    func missingProgram(_ word: String) -> SimOutcome? {
        let program = (word as NSString).lastPathComponent
        if Self.judgedPrograms.contains(program) || Self.hostPrograms.contains(program) { return nil }
        if sim.interpreters.contains(where: { $0.programs.contains(program) }) || sim.components.recordedPrograms.contains(program) {
            return nil
        }
        // sh (bash as /bin/sh on the region's RPM hosts): a name is looked up in PATH, a path is run as given.
        if word.contains("/") { return .fail("sh: \(word): No such file or directory", code: 127, duration: 0.01) }
        return .fail("sh: \(word): command not found", code: 127, duration: 0.01)
    }

    /// Programs the interpreter below runs against the model (SimTransport.simple).
    static let judgedPrograms: Set<String> = [
        "systemctl", "service", "true", ":", "false", "exit", "echo", "hostname", "sleep", "test", "[", "cat", "ln", "rm", "mv",
        "cp", "tar", "mkdir", "cd", "set", "export", "umask", "pwd", "timeout", "sudo", "env",
    ]

    /// Operating-system programs a region's hosts have (coreutils, util-linux, procps, iproute2,
    /// curl, the MariaDB client, a package manager, Python): run without judgement, recorded and
    /// warned about once per run. A program in neither list, nor taught by a component, is not
    /// installed: `command not found`, exit 127, as on a real host.
    static let hostPrograms: Set<String> = [
        "sh", "bash", "dash", "su", "runuser", "nohup", "nice", "ionice", "flock", "stdbuf", "xargs", "source", ".",
        "ls", "touch", "chmod", "chown", "chgrp", "install", "ln", "readlink", "realpath", "dirname", "basename", "stat", "du", "df",
        "find", "grep", "egrep", "fgrep", "sed", "awk", "gawk", "cut", "tr", "sort", "uniq", "wc", "head", "tail", "tee", "diff",
        "cmp", "md5sum", "sha1sum", "sha256sum", "base64", "date", "printf", "seq", "yes", "id", "whoami", "groups", "uname",
        "uptime", "free", "nproc", "lscpu", "ps", "pgrep", "pkill", "kill", "killall", "pidof", "top", "lsof", "fuser",
        "ip", "ss", "netstat", "ping", "arping", "nc", "ncat", "curl", "wget", "host", "dig", "getent", "hostnamectl",
        "gzip", "gunzip", "zcat", "xz", "unxz", "bzip2", "zip", "unzip", "rsync", "scp", "ssh", "sync", "mount", "umount",
        "lsblk", "blkid", "journalctl", "logger", "crontab", "chronyc", "ntpq", "timedatectl", "sysctl", "modprobe", "lsmod",
        "iptables", "iptables-save", "ip6tables", "conntrack", "rpm", "yum", "dnf", "apt-get", "apt", "apt-cache", "dpkg",
        "dpkg-query", "python", "python2", "python3", "pip", "pip3", "virtualenv", "mysql", "mysqldump", "mysqladmin",
        "mariadb", "openssl", "crudini", "jq", "haproxy", "keepalived", "socat",
    ]

    /// Why a script cannot be interpreted command by command, or nil: a shell keyword starts one
    /// of its pieces (a loop, a condition, a function), or it expands something (`$X`, `$(…)`,
    /// backquotes) or opens a subshell outside single quotes.
    static func unfollowable(_ body: String) -> String? {
        let keywords: Set<String> = ["if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
                                     "function", "select", "{", "}", "[[", "!"]
        for (_, piece) in split(body) {
            if let first = words(piece).first, keywords.contains(first) {
                return "a shell script (`\(first)`) the simulation does not follow"
            }
        }
        var quote: Character?
        var previous: Character?
        for c in body {
            defer { previous = c }
            if let q = quote {
                if c == q { quote = nil } else if q == "\"" && (c == "`" || (previous == "$" && (c == "(" || c == "{" || c.isLetter || c == "_"))) {
                    return "a shell expansion the simulation does not evaluate"
                }
                continue
            }
            if c == "'" || c == "\"" { quote = c; continue }
            if c == "`" || (previous == "$" && (c == "(" || c == "{" || c.isLetter || c == "_" || c == "?")) {
                return "a shell expansion the simulation does not evaluate"
            }
            if c == "(" && previous != "$" { return "a subshell the simulation does not follow" }
        }
        return nil
    }

    /// Splits a piece at `|` outside quotes (not `||`, which ``split(_:)`` already took).
    static func pipeline(_ piece: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quote: Character?
        for c in piece {
            if let q = quote {
                current.append(c)
                if c == q { quote = nil }
                continue
            }
            if c == "'" || c == "\"" { quote = c }
            if c == "|" {
                out.append(current)
                current = ""
                continue
            }
            current.append(c)
        }
        out.append(current)
        return out.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    func simple(_ input: [String], text: String, stdin: Data?, host: String, lane: String) -> SimOutcome {
        var words = input
        while let first = words.first, first == "sudo" || first == "-n" || first == "env" || first.contains("=") && !first.hasPrefix("-") && words.count > 1 {
            words.removeFirst()
            // sudo -u USER / -g GROUP: the option's value goes too.
            if first == "sudo" {
                while let o = words.first, o.hasPrefix("-") {
                    words.removeFirst()
                    if ["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"].contains(o), !words.isEmpty { words.removeFirst() }
                }
            }
        }
        // Output redirected to a file: the file gets what the command prints.
        if let r = words.firstIndex(where: { $0 == ">" || $0 == ">>" }), words.indices.contains(r + 1) {
            let path = words[r + 1]
            let append = words[r] == ">>"
            var rest = words
            rest.removeSubrange(r...(r + 1))
            let inner = simple(rest, text: text, stdin: stdin, host: host, lane: lane)
            sim.mutate { s in
                let before = append ? (s.hosts[host]?.files[path] ?? "") : ""
                s.hosts[host]?.files[path] = before + inner.stdout
            }
            return SimOutcome(exitCode: inner.exitCode, stderr: inner.stderr, duration: inner.duration)
        }
        if words.first == "timeout" {
            words.removeFirst()
            while let w = words.first, w.hasPrefix("-") || Double(w.trimmingCharacters(in: CharacterSet(charactersIn: "smhd"))) != nil {
                words.removeFirst()
                if w == "-k" || w == "-s", !words.isEmpty { words.removeFirst() }
            }
        }
        guard let program = words.first.map({ ($0 as NSString).lastPathComponent }) else { return SimOutcome(duration: 0) }
        switch program {
        case "systemctl", "service": return systemctl(program == "service" ? Array(words.dropFirst()).reversed() : Array(words.dropFirst()), host: host, lane: lane)
        case "true", ":": return SimOutcome(duration: 0.01)
        // Directories are not modelled (any path may hold a file); shell settings change nothing in the model.
        case "mkdir", "cd", "set", "export", "umask", "pwd": return SimOutcome(duration: 0.01)
        case "false": return SimOutcome(exitCode: 1, duration: 0.01)
        case "exit": return SimOutcome(exitCode: Int32(words.dropFirst().first ?? "0") ?? 0, duration: 0)
        case "echo": return SimOutcome(stdout: words.dropFirst().joined(separator: " ") + "\n", duration: 0.01)
        case "hostname": return SimOutcome(stdout: host + "\n", duration: 0.01)
        case "sleep":
            return SimOutcome(duration: words.dropFirst().first.flatMap { DurationText.seconds($0) ?? Double($0) } ?? 0)
        case "test", "[":
            if words.count >= 3, ["-e", "-f", "-d", "-L"].contains(words[1]) {
                let p = words[2]
                let exists = sim.host(host).map { $0.files[p] != nil || $0.links[p] != nil } ?? false
                return SimOutcome(exitCode: exists ? 0 : 1, duration: 0.01)
            }
            return SimOutcome(duration: 0.01)
        case "cat":
            if words.count == 2 {
                guard let content = sim.host(host)?.files[words[1]] else {
                    return .fail("cat: \(words[1]): No such file or directory", duration: 0.01)
                }
                return SimOutcome(stdout: content, duration: 0.01)
            }
            if words.count == 3, words[1] == ">" {
                sim.mutate { $0.hosts[host]?.files[words[2]] = stdin.map { String(decoding: $0, as: UTF8.self) } ?? "" }
            }
            return SimOutcome(duration: 0.05)
        case "ln":
            let args = Array(words.dropFirst().filter { !$0.hasPrefix("-") })
            if args.count == 2 {
                let (target, link) = (args[0], args[1])
                sim.mutate { s in
                    s.hosts[host]?.links[link] = target
                    // Switching a component's code to another release's virtualenv
                    // (`ln -sfn /opt/venvs/queens /opt/openstack/<component>`): services started
                    // from now on run that release.
                    let component = (link as NSString).lastPathComponent
                    if let release = target.split(separator: "/").map(String.init).first(where: { sim.releases.contains($0) }),
                        s.hosts[host]?.code[component] != nil
                    {
                        s.hosts[host]?.code[component] = release
                    }
                }
            }
            return SimOutcome(duration: 0.02)
        case "rm":
            let paths = words.dropFirst().filter { !$0.hasPrefix("-") }
            sim.mutate { s in for p in paths { s.hosts[host]?.files[p] = nil; s.hosts[host]?.links[p] = nil } }
            return SimOutcome(duration: 0.05)
        case "mv", "cp":
            let args = words.dropFirst().filter { !$0.hasPrefix("-") }
            if args.count == 2 {
                let from = args[args.startIndex], to = args[args.startIndex + 1]
                let found = sim.mutate { s -> Bool in
                    guard let content = s.hosts[host]?.files[from] else { return false }
                    s.hosts[host]?.files[to] = content
                    if program == "mv" { s.hosts[host]?.files[from] = nil }
                    return true
                }
                if !found { return .fail("\(program): cannot stat '\(from)': No such file or directory", duration: 0.02) }
            }
            return SimOutcome(duration: 0.05)
        case "tar":
            // Unpacking a shipped virtualenv: the directory appears.
            if let dir = words.firstIndex(of: "-C").flatMap({ words.indices.contains($0 + 1) ? words[$0 + 1] : nil }) {
                sim.mutate { $0.hosts[host]?.files[dir] = "directory" }
            }
            return SimOutcome(duration: sim.duration("tar -x virtualenv", 20))
        default:
            break
        }
        let toolRelease = releaseOf(words, host: host)
        let command = SimCommand(host: host, text: text, argv: words, toolRelease: toolRelease)
        for f in sim.faults.matching(host: host, command: text, release: toolRelease, primitive: nil) where f.kind == .fail && f.release != nil {
            return .fail(f.message ?? "simulated failure of \(program) (\(toolRelease ?? "?"))", duration: 30)
        }
        let interpreters = sim.interpreters.filter { $0.programs.contains(program) }
        if !interpreters.isEmpty {
            let context = SimRegion.Context(sim: sim)
            for interpreter in interpreters {
                // Words the tool's release does not have fail as the tool does (argparse, exit 2).
                if let rejected = sim.read({ interpreter.reject(command, state: $0) }) { return rejected }
                if let r = sim.mutate({ interpreter.run(command, state: &$0, context: context) }) { return r }
            }
            // A command of the tool the model does not interpret: it succeeds, changing nothing.
            sim.unjudged.record(text, host: host, why: "a command of \(program)\(toolRelease.map { " (\($0))" } ?? "") the simulation does not model")
            return SimOutcome(duration: sim.duration(program, 1))
        }
        if let missing = missingProgram(words[0]) { return missing }
        // A program the host has but nothing models: it succeeds, changing nothing.
        let why = program == "sh" || program == "bash" || program == "su" || program == "runuser" ? "a script the simulation does not follow"
            : "no component models \(program)"
        sim.unjudged.record(text, host: host, why: why)
        return SimOutcome(duration: sim.duration(program, 1))
    }

    /// The release a tool belongs to: a release name in its path (`/opt/venvs/liberty/bin/…`),
    /// a virtualenv the region's `releases:` names, or the host's code for the component.
    func releaseOf(_ words: [String], host: String) -> String? {
        let path = words[0]
        for (release, spec) in sim.region.releases {
            if let venv = spec["venv"].stringValue, path.hasPrefix(venv) { return release }
        }
        let parts = path.split(separator: "/").map(String.init)
        if let r = parts.first(where: { sim.releases.contains($0) }) { return r }
        let program = (path as NSString).lastPathComponent
        let component = String(program.split(separator: "-").first ?? "")
        return sim.host(host)?.code[component] ?? sim.host(host)?.code.values.first
    }

    func systemctl(_ args: [String], host: String, lane: String) -> SimOutcome {
        let verbs: Set<String> = ["start", "stop", "restart", "reload", "is-active", "status", "enable", "disable", "try-restart", "daemon-reload", "cat"]
        // The verb is the first word that is not an option (or an option's value).
        var words: [String] = []
        var i = 0
        while i < args.count {
            let w = args[i]
            if Self.systemctlValued.contains(w) { i += 2; continue }
            if !w.hasPrefix("-") { words.append(w) }
            i += 1
        }
        guard let verb = words.first else {
            // No verb: list-units, which the model does not print.
            sim.unjudged.record((["systemctl"] + args).joined(separator: " "), host: host, why: "systemctl's listings are not modelled")
            return SimOutcome(duration: 0.1)
        }
        guard verbs.contains(verb) else {
            guard Self.systemctlVerbs.contains(verb) else {
                // systemd/systemd@v219 src/systemctl/systemctl.c, @v229 src/basic/verbs.c dispatch_verb: EXIT_FAILURE.
                return .fail("Unknown command verb \(verb).", code: 1, duration: 0.05)
            }
            sim.unjudged.record((["systemctl"] + args).joined(separator: " "), host: host, why: "systemctl \(verb) is not modelled")
            return SimOutcome(duration: 0.1)
        }
        let units = words.dropFirst().map { $0.hasSuffix(".service") ? String($0.dropLast(8)) : $0 }
        if verb == "daemon-reload" { return SimOutcome(duration: 0.5) }
        if verb == "cat" {
            // The unit file of each, or systemd's answer for one not installed.
            for unit in units where sim.host(host)?.services[unit] == nil {
                return SimOutcome(exitCode: 1, stderr: "No files found for \(unit).service.\n", duration: 0.05)
            }
            // Where the host's packages put unit files: RDO specs' %{_unitdir}, Debian/Ubuntu's /lib/systemd/system
            // (dh_systemd); the sources are cited in docs/simulation.md.
            let dir = sim.host(host)?.family == .deb ? "/lib/systemd/system" : "/usr/lib/systemd/system"
            return SimOutcome(stdout: units.map { "# \(dir)/\($0).service\n" }.joined(), duration: 0.05)
        }
        var out = SimOutcome(duration: 0)
        for unit in units {
            guard sim.host(host)?.services[unit] != nil else {
                if verb == "is-active" { return SimOutcome(exitCode: 4, stdout: "inactive\n", duration: 0.05) }
                return .fail("Failed to \(verb) \(unit).service: Unit \(unit).service not found.", code: 5, duration: 0.1)
            }
            // Whether a restart weighs on a database: its component's load model says (nil: it loads none).
            let component = sim.host(host)?.services[unit]?.component
            let weighs = sim.components.loadModel(unit: unit, component: component)
            switch verb {
            case "is-active", "status":
                let running = sim.host(host)?.services[unit]?.running ?? false
                if !running { return SimOutcome(exitCode: verb == "status" ? 3 : 3, stdout: "inactive\n", duration: 0.05) }
                out.stdout += "active\n"
                out.duration += 0.05
            case "stop":
                sim.mutate { $0.hosts[host]?.services[unit]?.running = false }
                out.duration += sim.duration("\(unit) stop", 3)
            case "enable", "disable":
                sim.mutate { $0.hosts[host]?.services[unit]?.enabled = verb == "enable" }
                out.duration += 0.3
            default: // start, restart, reload, try-restart
                if verb == "try-restart", sim.host(host)?.services[unit]?.running != true { continue }
                var seconds = sim.duration("\(unit) restart", sim.components.restartSeconds(unit: unit, component: component))
                if let weighs {
                    // What the restart sets off beyond its own resync (the component's surge).
                    let surge = weighs.surge.flatMap { s in sim.mutate { s(unit, host, &$0) } }
                    let extra = surge?.threads ?? 0
                    // The restarts of the hosts running together, plus those still resyncing.
                    let now = sim.clock.now(host: lane).timeIntervalSince1970
                    let load = sim.load.threadsRunning(database: weighs.database, at: now, lane: lane) + extra
                    let over = load / sim.config.load.threshold
                    if over > 1 {
                        seconds *= 1 + (over - 1) * 4
                        let chance = min(0.9, (over - 1) * 1.5)
                        let key = "overload|\(host)|\(unit)|\(sim.clock.step ?? "")|\(sim.faults.elapsed(now))"
                        // A surge that overloads the database lands on this unit: it fails for certain,
                        // and a unit whose start failed syncs nothing: only its own restart weighs on.
                        if extra > 0 || sim.faults.random(key) < chance {
                            sim.load.restarted(database: weighs.database, at: now, lane: lane)
                            restarted(unit: unit, host: host, lane: lane, seconds: seconds, synced: false)
                            let message = weighs.overloaded(unit, Int(load), Int(sim.config.load.threshold))
                            return .fail(surge.map { "\(message): \($0.why)" } ?? message, duration: out.duration + seconds)
                        }
                    }
                    sim.load.restarted(database: weighs.database, at: now, lane: lane, extra: extra)
                }
                // A service that publishes to a broker whose resource alarm blocks publishers does not come up.
                if let blocked = sim.blockedByBroker(host: host, unit: unit, now: sim.clock.now(host: lane).timeIntervalSince1970) {
                    sim.mutate { $0.hosts[host]?.services[unit]?.running = false }
                    return .fail(blocked, duration: out.duration + seconds)
                }
                // The component judges the configuration the unit reads (its release's schema): a
                // mistake refuses the start, what it cannot judge is recorded.
                let verdict = sim.read { s -> SimConfigVerdict in
                    guard let svc = s.hosts[host]?.services[unit] else { return SimConfigVerdict() }
                    let release = s.hosts[host]?.code[svc.component] ?? svc.release
                    return sim.components.component(svc.component).judgeConfig(unit: unit, host: host, release: release, state: s)
                }
                for note in verdict.unjudged { sim.unjudged.record(note.text, host: host, why: note.why) }
                if let refusal = verdict.refusal {
                    sim.mutate { $0.hosts[host]?.services[unit]?.running = false }
                    return .fail(refusal, duration: out.duration + seconds)
                }
                // The component may refuse the start (its plugin's release quirks).
                let previous = sim.host(host)?.services[unit]?.release
                let refused: String? = sim.mutate { s in
                    guard var svc = s.hosts[host]?.services[unit] else { return nil }
                    let release = s.hosts[host]?.code[svc.component] ?? svc.release
                    if let why = sim.components.component(svc.component).start(unit: unit, host: host, release: release, state: &s) {
                        s.hosts[host]?.services[unit]?.running = false
                        return why
                    }
                    svc.running = true
                    svc.release = release
                    s.hosts[host]?.services[unit] = svc
                    return nil
                }
                if let refused { return .fail(refused, duration: out.duration + seconds) }
                restarted(unit: unit, host: host, lane: lane, seconds: seconds, synced: true, previous: previous)
                out.duration += seconds
            }
        }
        return out
    }

    /// Tells the unit's component that it restarted (``SimComponent/restarted(unit:host:previous:release:at:seconds:synced:state:context:)``),
    /// at the lane's instant; `previous`: the release it ran before (default: the service's now).
    func restarted(unit: String, host: String, lane: String, seconds: Double, synced: Bool, previous: String? = nil) {
        let at = sim.clock.now(host: lane).timeIntervalSince1970
        let context = SimRegion.Context(sim: sim)
        sim.mutate { s in
            guard let svc = s.hosts[host]?.services[unit] else { return }
            let release = s.hosts[host]?.code[svc.component] ?? svc.release
            sim.components.component(svc.component).restarted(
                unit: unit, host: host, previous: previous ?? svc.release, release: release, at: at, seconds: seconds, synced: synced,
                state: &s, context: context)
        }
    }

    /// systemctl's options that take a value (`-t service`, `-p MainPID`).
    static let systemctlValued: Set<String> = ["-t", "--type", "-p", "--property", "-H", "--host", "-M", "--machine", "-n", "--lines",
                                               "-o", "--output", "-s", "--signal", "--state", "--kill-who", "--root", "--job-mode"]

    /// Every verb of systemctl (systemd/systemd@v219 src/systemctl/systemctl.c `verbs[]`, the
    /// CentOS 7 systemd, and @v229 for Ubuntu 16.04's): those the model does not interpret are
    /// recorded, any other word is `Unknown command verb`.
    static let systemctlVerbs: Set<String> = [
        "list-units", "list-unit-files", "list-sockets", "list-timers", "list-jobs", "list-machines", "list-dependencies", "clear-jobs",
        "cancel", "start", "stop", "condstop", "reload", "restart", "try-restart", "reload-or-restart", "reload-or-try-restart",
        "force-reload", "condreload", "condrestart", "isolate", "kill", "is-active", "check", "is-failed", "show", "cat", "status",
        "help", "snapshot", "delete", "daemon-reload", "daemon-reexec", "show-environment", "set-environment", "unset-environment",
        "import-environment", "halt", "poweroff", "reboot", "kexec", "rescue", "emergency", "default", "exit", "switch-root",
        "reset-failed", "enable", "disable", "is-enabled", "reenable", "preset", "preset-all", "mask", "unmask", "link", "revert",
        "edit", "set-default", "get-default", "set-property", "is-system-running", "add-wants", "add-requires", "try-reload-or-restart",
    ]

    // MARK: Shell words

    static func match(_ text: String, _ pattern: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
            let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), m.numberOfRanges > 1,
            let r = Range(m.range(at: 1), in: text)
        else { return nil }
        return String(text[r])
    }

    static func unquote(_ s: String) -> String { words(s).joined(separator: " ") }

    /// Splits on `&&`, `||`, `;` and newlines outside quotes; each piece with the operator before it.
    static func split(_ text: String) -> [(String, String)] {
        var out: [(String, String)] = []
        var current = ""
        var op = ";"
        var quote: Character?
        var chars = Array(text)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if let q = quote {
                current.append(c)
                if c == q { quote = nil }
                continue
            }
            if c == "'" || c == "\"" { quote = c; current.append(c); continue }
            if (c == "&" || c == "|"), chars.first == c {
                chars = chars.dropFirst()
                out.append((op, current))
                current = ""
                op = String([c, c])
                continue
            }
            if c == ";" || c == "\n" {
                out.append((op, current))
                current = ""
                op = ";"
                continue
            }
            current.append(c)
        }
        out.append((op, current))
        return out.filter { !$0.1.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// Shell words with single and double quotes and backslashes; redirections kept as words.
    static func words(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var has = false
        var quote: Character?
        var escape = false
        for c in text {
            if escape { current.append(c); escape = false; continue }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { current.append(c) }
                continue
            }
            switch c {
            case "'", "\"": quote = c; has = true
            case "\\": escape = true
            case " ", "\t":
                if has || !current.isEmpty { out.append(current); current = ""; has = false }
            default: current.append(c)
            }
        }
        if has || !current.isEmpty { out.append(current) }
        return out
    }
}
