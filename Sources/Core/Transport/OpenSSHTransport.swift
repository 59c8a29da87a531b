import Foundation
import Synchronization

/// The compatibility transport: the system `ssh`, one ControlMaster per host
/// (`ControlPath` with `%C`, `ControlPersist`), `BatchMode=yes`. It honours
/// `~/.ssh/config`, agents, RSA and encrypted keys — what the `nio` transport lacks.
public final class OpenSSHTransport: Transport {
    let region: Region
    let controlDirectory: String
    /// Ferry's own known-hosts file, where `accept-new` records keys (beside the journal).
    let recordKnownHosts: String
    /// The operator's known-hosts file, read only (`ssh.known_hosts`, or `~/.ssh/known_hosts`).
    let knownHosts: String
    private let used = Mutex<Set<String>>([])

    public init(region: Region, journalDirectory: String = ".ferry") {
        self.region = region
        // Unix socket paths are short (108 bytes): keep masters under /tmp.
        controlDirectory = "/tmp/ferry-ssh-\(getuid())"
        try? FileManager.default.createDirectory(atPath: controlDirectory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        recordKnownHosts = region.ssh.recordKnownHosts ?? URL(fileURLWithPath: journalDirectory).appendingPathComponent("known_hosts").path
        // ssh would expand `~` from the password database, not from $HOME: resolve it here,
        // as the nio transport and the region's paths do (``RegionPaths/home``).
        knownHosts = region.ssh.knownHosts ?? RegionPaths.home + "/.ssh/known_hosts"
        Self.prepareRecordFile(recordKnownHosts)
    }

    /// ssh appends to the record file with its own umask and cannot create a missing
    /// directory for it: make both first, private (0700 directory, 0600 file).
    static func prepareRecordFile(_ path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
    }

    /// A path as one word of an ssh option that takes several (`UserKnownHostsFile`).
    static func optionWord(_ path: String) -> String {
        path.contains(where: { $0 == " " || $0 == "\t" }) ? "\"\(path)\"" : path
    }

    func options(for host: RegionHost) -> [String] {
        let s = region.sshSettings(for: host)
        var args = [
            "-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", "ControlPath=\(controlDirectory)/%C",
            "-o", "ControlPersist=\(Int(region.ssh.idleTimeout))", "-o", "ConnectTimeout=\(Int(region.ssh.connectTimeout.rounded(.up)))",
            "-o", "ServerAliveInterval=\(Int(region.ssh.keepaliveInterval.rounded(.up)))",
            "-o", "ServerAliveCountMax=\(region.ssh.keepaliveCount)", "-o", "LogLevel=ERROR",
        ]
        // Only what the region says: User/Port in ~/.ssh/config apply otherwise.
        if region.explicitSSHUser(for: host) { args += ["-l", s.user] }
        if region.explicitSSHPort(for: host) { args += ["-p", String(s.port)] }
        if region.ssh.hostKeyChecking == "accept-new" {
            args += ["-o", "StrictHostKeyChecking=accept-new"]
        } else {
            args += ["-o", "StrictHostKeyChecking=yes"]
        }
        // ssh records new keys (accept-new) in the first file only: Ferry's own, beside the
        // journal. The operator's file is second, read and never written (nor rewritten by
        // UpdateHostKeys, whatever ~/.ssh/config says).
        let knownFiles = [recordKnownHosts, knownHosts].map(Self.optionWord)
        args += ["-o", "UserKnownHostsFile=\(knownFiles.joined(separator: " "))", "-o", "UpdateHostKeys=no"]
        if let identity = s.identity { args += ["-i", identity, "-o", "IdentitiesOnly=yes"] }
        var chain: [String] = []
        var current = host
        var seen = Set<String>()
        while let j = region.sshSettings(for: current).jump, let jumpHost = region.hosts[j], seen.insert(j).inserted {
            let js = region.sshSettings(for: jumpHost)
            let user = region.explicitSSHUser(for: jumpHost) ? "\(js.user)@" : ""
            let port = region.explicitSSHPort(for: jumpHost) ? ":\(js.port)" : ""
            chain.insert("\(user)\(jumpHost.address)\(port)", at: 0)
            current = jumpHost
        }
        if !chain.isEmpty { args += ["-J", chain.joined(separator: ",")] }
        return args
    }

    /// ssh's arguments for a command on `host`: the options, then `--`, so that the
    /// destination is never read as an option (an address such as `-oProxyCommand=…`
    /// would run a command here), then the destination and the command.
    func arguments(for host: RegionHost, _ tail: [String]) -> [String] {
        options(for: host) + ["--", host.address] + tail
    }

    /// Jump hosts go to `-J`, where `--` cannot protect them: a region built in code (not
    /// loaded, so not checked) with such an address is refused here too.
    func checkJumpAddresses(_ host: RegionHost) throws {
        var current = host
        var seen = Set<String>()
        while let j = region.sshSettings(for: current).jump, let jumpHost = region.hosts[j], seen.insert(j).inserted {
            if let problem = HostRules.addressProblem(jumpHost.address) {
                throw TransportError(.launch, host: host.name, "jump host \(j): \(problem)")
            }
            current = jumpHost
        }
    }

    public func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult {
        try checkJumpAddresses(host)
        used.withLock { _ = $0.insert(host.name) }
        var text = command.shellText
        if let t = command.timeout { text = "timeout -k 5 \(NIOSSHTransport.seconds(t)) /bin/sh -c \(ShellQuote.quote(text))" }
        let result: CommandResult
        do {
            result = try await ProcessRunner.run(
                "/usr/bin/ssh", arguments(for: host, [text]), stdin: command.shellInput, output: output,
                timeout: command.timeout.map { $0 + 15 })
        } catch ProcessRunner.Failure.timedOut {
            throw TransportError(.timeout, host: host.name, "`\(command.command)` did not finish within \(DurationText.format(command.timeout ?? 0)); ssh was stopped")
        } catch ProcessRunner.Failure.launch(let message) {
            throw TransportError(.launch, host: host.name, "cannot start /usr/bin/ssh: \(message)")
        }
        if let t = command.timeout, result.exitCode == 124 || result.exitCode == 137 {
            throw TransportError(.timeout, host: host.name, "`\(command.command)` did not finish within \(DurationText.format(t)); it was killed")
        }
        if result.exitCode == 255 {
            if let failure = Self.sshFailure(result.stderr) { throw TransportError(failure.0, host: host.name, failure.1) }
            // A lost connection ends the master, and its mux client (this ssh) exits 255
            // without a word. A command's own 255 leaves the master running.
            if await !masterRunning(for: host) {
                let short = command.command.count > 80 ? String(command.command.prefix(77)) + "..." : command.command
                throw TransportError(
                    .lost, host: host.name,
                    "the connection to \(host.address) was lost while `\(short)` ran (ssh's ControlMaster for it is gone); the command may have run (or be running) on the host")
            }
        }
        return result
    }

    /// Whether this host's ControlMaster still answers (`ssh -O check`).
    func masterRunning(for host: RegionHost) async -> Bool {
        let check = try? await ProcessRunner.run("/usr/bin/ssh", ["-O", "check"] + arguments(for: host, []), stdin: nil,
                                                 output: OutputCapture(), timeout: 10)
        return check?.exitCode == 0
    }

    /// ssh's stderr as lines: it ends most with CRLF, some with LF alone (and a Swift
    /// `Character` holds "\r\n" whole, so splitting on "\n" would not split them).
    static func lines(_ text: String) -> [String] {
        text.unicodeScalars.split { $0 == "\n" || $0 == "\r" }
            .map { String(String.UnicodeScalarView($0)).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// ssh's warning about a changed host key, without its banner and boilerplate, on one
    /// line: what changed, the fingerprint presented, the offending line and how to remove it.
    static func hostKeyChangeExplanation(_ lines: [String]) -> String {
        let boilerplate = ["IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!", "Please contact your system administrator."]
        var kept: [String] = []
        var removeWith = false
        for line in lines {
            var text = line.trimmingCharacters(in: CharacterSet(charactersIn: "@ \t"))
            if text.hasPrefix("WARNING: ") { text.removeFirst("WARNING: ".count) }
            if text.isEmpty || boilerplate.contains(text) || text.hasPrefix("Add correct host key in ") { continue }
            if text == "remove with:" {
                removeWith = true
                continue
            }
            if removeWith, let last = kept.popLast() {
                kept.append("\(last.hasSuffix(".") ? String(last.dropLast()) : last) (remove it with: \(text)).")
                removeWith = false
                continue
            }
            kept.append(text)
        }
        return kept.joined(separator: " ")
    }

    /// Exit 255 is ssh's own failure only when its stderr says so; otherwise it is the command's.
    static func sshFailure(_ stderr: String) -> (TransportError.Kind, String)? {
        let lines = Self.lines(stderr)
        if lines.contains(where: { $0.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") }) {
            return (.launch, "ssh failed: " + hostKeyChangeExplanation(lines))
        }
        let markers: [(String, TransportError.Kind)] = [
            ("Connection refused", .unreachable), ("No route to host", .unreachable), ("Connection timed out", .unreachable),
            ("Could not resolve hostname", .unreachable), ("Network is unreachable", .unreachable),
            ("Permission denied", .launch), ("Host key verification failed", .launch), ("Connection closed by", .lost),
            ("Connection reset by", .lost), ("kex_exchange_identification", .unreachable), ("Broken pipe", .lost),
            ("ssh: connect to host", .unreachable), ("Timeout, server", .lost), ("client_loop: send disconnect", .lost),
        ]
        for (marker, kind) in markers {
            guard let line = lines.last(where: { $0.contains(marker) }) else { continue }
            return (kind, "ssh failed: \(line)" + (kind == .lost ? " (the command may have run)" : ""))
        }
        return nil
    }

    public func put(file localPath: String, to remotePath: String, mode: Int?, on host: RegionHost) async throws {
        try checkJumpAddresses(host)
        used.withLock { _ = $0.insert(host.name) }
        guard let size = (try? FileManager.default.attributesOfItem(atPath: localPath))?[.size] as? Int else {
            throw TransportError(.transfer, host: host.name, "put: cannot read \(localPath)")
        }
        let digest = try await SHA256File.digest(localPath)
        let dest = ShellQuote.quote(remotePath)
        let modeText = mode.map { String($0, radix: 8) } ?? "644"
        let script = """
            set -e; umask 077; mkdir -p "$(dirname \(dest))"; t=\(dest).ferry-part.$$; trap 'rm -f "$t"' EXIT; cat > "$t"; \
            s=$(wc -c < "$t" | tr -d ' '); h=$(sha256sum "$t" | cut -d' ' -f1); \
            if [ "$s" != "\(size)" ] || [ "$h" != "\(digest)" ]; then echo "received $s bytes, sha256 $h; expected \(size), \(digest)" >&2; exit 3; fi; \
            chmod \(modeText) "$t"; mv -f "$t" \(dest); trap - EXIT
            """
        let output = OutputCapture()
        // The file goes to ssh's stdin through the shell, never through memory.
        let result = try await ProcessRunner.run(
            "/bin/sh", ["-c", "f=$1; shift; exec \"$@\" < \"$f\"", "sh", localPath, "/usr/bin/ssh"] + arguments(for: host, [script]),
            stdin: nil, output: output, timeout: nil)
        guard result.exitCode == 0 else {
            throw TransportError(.transfer, host: host.name, "put \(localPath) → \(remotePath) failed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Closes the ControlMasters this run opened.
    public func shutdown() async {
        let hosts = used.withLock { Array($0) }
        await withTaskGroup(of: Void.self) { group in
            for name in hosts {
                guard let host = region.hosts[name] else { continue }
                group.addTask {
                    _ = try? await ProcessRunner.run("/usr/bin/ssh", ["-O", "exit"] + self.arguments(for: host, []),
                                                     stdin: nil, output: OutputCapture(), timeout: 10)
                }
            }
        }
    }
}
